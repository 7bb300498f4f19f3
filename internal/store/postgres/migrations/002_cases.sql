-- Evacuation cases. The workflow state is in clear; everything about the
-- people is ciphertext under the case's data key (wrapped_key), which
-- EraseCase sets to NULL, together with every section and event body.
-- Cases are never deleted, only erased; the ON DELETE CASCADE clauses are
-- there so that a later retention migration can delete them whole.
--
-- Ids, stages and classes use the "C" collation: they are opaque, and byte
-- order keeps the list's tie-break and the order of sections the same as
-- on SQLite.

CREATE TABLE cases (
	id              text COLLATE "C" NOT NULL PRIMARY KEY,
	created_at      timestamptz NOT NULL,
	updated_at      timestamptz NOT NULL,
	stage           text COLLATE "C" NOT NULL,
	stage_since     timestamptz NOT NULL,
	close_reason    text        NOT NULL DEFAULT '', -- '' while the case is open
	risk            integer     NOT NULL DEFAULT 0,
	verified        boolean     NOT NULL DEFAULT false,
	flagged         boolean     NOT NULL DEFAULT false,
	assignee_id     bigint      NOT NULL DEFAULT 0,
	request_id      text COLLATE "C" NOT NULL DEFAULT '', -- '' when opened by hand
	wrapped_key     bytea,       -- NULL once erased
	erased_at       timestamptz, -- NULL unless erased
	last_contact_at timestamptz  -- NULL before the first contact
);

-- At most one case per hotline request, so that two people opening a case
-- from the same request at once cannot both succeed.
CREATE UNIQUE INDEX cases_request ON cases (request_id) WHERE request_id <> '';

-- The list order (open before closed, risk, longest in the stage, id as
-- tie-break) is read straight off these indexes, so a page costs the same
-- with 100 or 100,000 cases; the expression must match the ORDER BY in
-- ListCases. With stage or assignee_id fixed by the WHERE clause, the
-- planner drops the leading column and reads the rest in order. erased_at
-- comes last so that leaving erased cases out needs no visit to the table.
CREATE INDEX cases_list ON cases
	((close_reason <> ''), risk DESC, stage_since, id, erased_at);
CREATE INDEX cases_list_stage ON cases
	(stage, (close_reason <> ''), risk DESC, stage_since, id, erased_at);
-- Also the assignee half of VisibleTo.
CREATE INDEX cases_list_assignee ON cases
	(assignee_id, (close_reason <> ''), risk DESC, stage_since, id, erased_at);

CREATE TABLE case_sections (
	case_id    text COLLATE "C" NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	class      text COLLATE "C" NOT NULL,
	data       bytea,
	updated_at timestamptz NOT NULL,
	PRIMARY KEY (case_id, class)
);

CREATE TABLE case_events (
	-- seq keeps insertion order for events that share a timestamp.
	seq      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id       text COLLATE "C" NOT NULL UNIQUE,
	case_id  text COLLATE "C" NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	at       timestamptz NOT NULL,
	actor_id bigint      NOT NULL DEFAULT 0,
	kind     text        NOT NULL,
	stage    text COLLATE "C" NOT NULL DEFAULT '',
	class    text COLLATE "C" NOT NULL DEFAULT '',
	body     bytea
);

CREATE INDEX case_events_case ON case_events (case_id, at, seq);

CREATE TABLE case_stage_periods (
	seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	case_id    text COLLATE "C" NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	stage      text COLLATE "C" NOT NULL,
	entered_at timestamptz NOT NULL,
	left_at    timestamptz -- NULL for the current period
);

CREATE INDEX case_stage_periods_case ON case_stage_periods (case_id, entered_at, seq);
-- A case is in one stage at a time.
CREATE UNIQUE INDEX case_stage_periods_current ON case_stage_periods (case_id) WHERE left_at IS NULL;
-- PeriodsSince: the current periods (the partial index above) and the
-- periods left since.
CREATE INDEX case_stage_periods_left ON case_stage_periods (left_at);

CREATE TABLE case_shares (
	case_id text COLLATE "C" NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	user_id bigint NOT NULL,
	PRIMARY KEY (case_id, user_id)
);

-- The shared half of VisibleTo.
CREATE INDEX case_shares_user ON case_shares (user_id, case_id);

-- Break-glass grants: one per user and case, the latest replacing any
-- earlier one.
CREATE TABLE case_access (
	case_id  text COLLATE "C" NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	user_id  bigint      NOT NULL,
	until_at timestamptz NOT NULL,
	PRIMARY KEY (case_id, user_id)
);
