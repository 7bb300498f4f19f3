-- Evacuation cases. The workflow state is in clear; everything about the
-- people is ciphertext under the case's data key (wrapped_key), which
-- EraseCase sets to NULL, together with every section and event body.
-- Cases are never deleted, only erased; the ON DELETE CASCADE clauses are
-- there so that a later retention migration can delete them whole.

CREATE TABLE cases (
	id              TEXT    NOT NULL PRIMARY KEY,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	stage           TEXT    NOT NULL,
	stage_since     INTEGER NOT NULL,
	close_reason    TEXT    NOT NULL DEFAULT '', -- '' while the case is open
	risk            INTEGER NOT NULL DEFAULT 0,
	verified        INTEGER NOT NULL DEFAULT 0,
	flagged         INTEGER NOT NULL DEFAULT 0,
	assignee_id     INTEGER NOT NULL DEFAULT 0,
	request_id      TEXT    NOT NULL DEFAULT '', -- '' when opened by hand
	wrapped_key     BLOB,                        -- NULL once erased
	erased_at       INTEGER,                     -- NULL unless erased
	last_contact_at INTEGER                      -- NULL before the first contact
) STRICT;

-- At most one case per hotline request, so that two people opening a case
-- from the same request at once cannot both succeed.
CREATE UNIQUE INDEX cases_request ON cases (request_id) WHERE request_id <> '';

-- The list order (open before closed, risk, longest in the stage, id as
-- tie-break) is read straight off these indexes, so a page costs the same
-- with 100 or 100,000 cases. The expression must match the ORDER BY in
-- ListCases character for character for SQLite to use it. erased_at comes
-- last so that leaving erased cases out needs no visit to the table.
CREATE INDEX cases_list ON cases
	((close_reason <> ''), risk DESC, stage_since, id, erased_at);
CREATE INDEX cases_list_stage ON cases
	(stage, (close_reason <> ''), risk DESC, stage_since, id, erased_at);
-- Also the assignee half of VisibleTo.
CREATE INDEX cases_list_assignee ON cases
	(assignee_id, (close_reason <> ''), risk DESC, stage_since, id, erased_at);

CREATE TABLE case_sections (
	case_id    TEXT    NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	class      TEXT    NOT NULL,
	data       BLOB,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (case_id, class)
) STRICT;

CREATE TABLE case_events (
	-- seq keeps insertion order for events that share a timestamp.
	seq      INTEGER NOT NULL PRIMARY KEY,
	id       TEXT    NOT NULL UNIQUE,
	case_id  TEXT    NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	at       INTEGER NOT NULL,
	actor_id INTEGER NOT NULL DEFAULT 0,
	kind     TEXT    NOT NULL,
	stage    TEXT    NOT NULL DEFAULT '',
	class    TEXT    NOT NULL DEFAULT '',
	body     BLOB
) STRICT;

CREATE INDEX case_events_case ON case_events (case_id, at, seq);

CREATE TABLE case_stage_periods (
	seq        INTEGER NOT NULL PRIMARY KEY,
	case_id    TEXT    NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	stage      TEXT    NOT NULL,
	entered_at INTEGER NOT NULL,
	left_at    INTEGER -- NULL for the current period
) STRICT;

CREATE INDEX case_stage_periods_case ON case_stage_periods (case_id, entered_at, seq);
-- A case is in one stage at a time.
CREATE UNIQUE INDEX case_stage_periods_current ON case_stage_periods (case_id) WHERE left_at IS NULL;
-- PeriodsSince: the current periods (the partial index above) and the
-- periods left since.
CREATE INDEX case_stage_periods_left ON case_stage_periods (left_at);

CREATE TABLE case_shares (
	case_id TEXT    NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	user_id INTEGER NOT NULL,
	PRIMARY KEY (case_id, user_id)
) STRICT, WITHOUT ROWID;

-- The shared half of VisibleTo.
CREATE INDEX case_shares_user ON case_shares (user_id, case_id);

-- Break-glass grants: one per user and case, the latest replacing any
-- earlier one.
CREATE TABLE case_access (
	case_id  TEXT    NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	user_id  INTEGER NOT NULL,
	until_at INTEGER NOT NULL,
	PRIMARY KEY (case_id, user_id)
) STRICT, WITHOUT ROWID;
