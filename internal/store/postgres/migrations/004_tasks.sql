-- Tasks and expenses of cases. What the overdue view, the alerts and the
-- donor report need is in clear (assignee, due date, done; category,
-- amount, currency, date); titles and notes are ciphertext under the
-- case's data key, set to NULL by EraseCase. ON DELETE CASCADE: they go
-- with their case should a retention rule ever delete cases whole. Ids,
-- classes, categories and currencies use the "C" collation, as in
-- 002_cases.sql, so that orders match SQLite's.

CREATE TABLE case_tasks (
	id          text COLLATE "C" NOT NULL PRIMARY KEY,
	case_id     text COLLATE "C" NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	class       text COLLATE "C" NOT NULL DEFAULT '',
	title       bytea,        -- NULL once the case is erased
	assignee_id bigint      NOT NULL DEFAULT 0,
	due_at      timestamptz,  -- NULL: no due date
	done        boolean     NOT NULL DEFAULT false,
	done_at     timestamptz,
	created_by  bigint      NOT NULL DEFAULT 0,
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL
);

CREATE INDEX case_tasks_case ON case_tasks (case_id);
-- "My tasks" and the overdue view.
CREATE INDEX case_tasks_assignee ON case_tasks (assignee_id, done, due_at);
CREATE INDEX case_tasks_due ON case_tasks (done, due_at);

CREATE TABLE case_expenses (
	id         text COLLATE "C" NOT NULL PRIMARY KEY,
	case_id    text COLLATE "C" NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	category   text COLLATE "C" NOT NULL,
	amount     bigint      NOT NULL CHECK (amount > 0),
	currency   text COLLATE "C" NOT NULL CHECK (length(currency) = 3),
	spent_on   timestamptz NOT NULL, -- midnight UTC of the day
	note       bytea,                -- NULL if none or once the case is erased
	created_by bigint      NOT NULL DEFAULT 0,
	created_at timestamptz NOT NULL
);

CREATE INDEX case_expenses_case ON case_expenses (case_id, spent_on);
-- The donor report reads a period.
CREATE INDEX case_expenses_spent ON case_expenses (spent_on);
