-- Tasks and expenses of cases. What the overdue view, the alerts and the
-- donor report need is in clear (assignee, due date, done; category,
-- amount, currency, date); titles and notes are ciphertext under the
-- case's data key, set to NULL by EraseCase. ON DELETE CASCADE: they go
-- with their case should a retention rule ever delete cases whole.

CREATE TABLE case_tasks (
	id          TEXT    NOT NULL PRIMARY KEY,
	case_id     TEXT    NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	class       TEXT    NOT NULL DEFAULT '',
	title       BLOB,                -- NULL once the case is erased
	assignee_id INTEGER NOT NULL DEFAULT 0,
	due_at      INTEGER,             -- NULL: no due date
	done        INTEGER NOT NULL DEFAULT 0,
	done_at     INTEGER,
	created_by  INTEGER NOT NULL DEFAULT 0,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX case_tasks_case ON case_tasks (case_id);
-- "My tasks" and the overdue view.
CREATE INDEX case_tasks_assignee ON case_tasks (assignee_id, done, due_at);
CREATE INDEX case_tasks_due ON case_tasks (done, due_at);

CREATE TABLE case_expenses (
	id         TEXT    NOT NULL PRIMARY KEY,
	case_id    TEXT    NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	category   TEXT    NOT NULL,
	amount     INTEGER NOT NULL CHECK (amount > 0),
	currency   TEXT    NOT NULL CHECK (length(currency) = 3),
	spent_on   INTEGER NOT NULL, -- midnight UTC of the day
	note       BLOB,             -- NULL if none or once the case is erased
	created_by INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX case_expenses_case ON case_expenses (case_id, spent_on);
-- The donor report reads a period.
CREATE INDEX case_expenses_spent ON case_expenses (spent_on);
