-- Ids and keys use the "C" collation: they are opaque, and byte order keeps
-- the inbox's tie-break the same as on SQLite. A NULL blob is the store's
-- spelling of "nil or empty".

CREATE TABLE requests (
	id            text COLLATE "C" NOT NULL PRIMARY KEY,
	lookup_id     bytea       NOT NULL UNIQUE CHECK (length(lookup_id) > 0),
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL,
	urgency       integer     NOT NULL,
	status        text        NOT NULL,
	assignee_id   bigint      NOT NULL DEFAULT 0,
	key_intake    bytea,
	key_person    bytea,
	answers       bytea,
	unread_staff  boolean     NOT NULL DEFAULT false,
	message_count integer     NOT NULL DEFAULT 0
);

-- The inbox order (open before closed, urgency, newest, id as tie-break) is
-- read straight off these indexes, so a page costs the same with 100 or
-- 100,000 requests. The expression must match the ORDER BY in ListInbox.
-- With status or assignee_id fixed by the WHERE clause, the planner drops
-- the leading column and reads the rest in order.
CREATE INDEX requests_inbox ON requests
	((status = 'closed'), urgency DESC, created_at DESC, id DESC);
CREATE INDEX requests_inbox_status ON requests
	(status, (status = 'closed'), urgency DESC, created_at DESC, id DESC);
CREATE INDEX requests_inbox_assignee ON requests
	(assignee_id, (status = 'closed'), urgency DESC, created_at DESC, id DESC);

CREATE TABLE messages (
	-- seq keeps insertion order for messages that share a timestamp.
	seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id         text COLLATE "C" NOT NULL UNIQUE,
	request_id text COLLATE "C" NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
	created_at timestamptz NOT NULL,
	author     text        NOT NULL,
	staff_id   bigint      NOT NULL DEFAULT 0,
	body       bytea
);

CREATE INDEX messages_request ON messages (request_id, created_at, seq);

CREATE TABLE users (
	-- An identity never hands out the same id twice, which the audit log,
	-- naming users by id, relies on.
	id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	username_index       bytea   NOT NULL UNIQUE CHECK (length(username_index) > 0),
	username             bytea,
	role                 text    NOT NULL,
	password_hash        text    NOT NULL,
	totp_secret          bytea,
	totp_enrolled        boolean NOT NULL DEFAULT false,
	totp_last_step       bigint  NOT NULL DEFAULT 0,
	disabled             boolean NOT NULL DEFAULT false,
	must_change_password boolean NOT NULL DEFAULT false,
	failed_logins        integer NOT NULL DEFAULT 0,
	locked_until         timestamptz, -- NULL when not locked
	created_at           timestamptz NOT NULL
);

CREATE TABLE sessions (
	token_hash bytea       NOT NULL PRIMARY KEY CHECK (length(token_hash) > 0),
	user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at timestamptz NOT NULL,
	last_seen  timestamptz NOT NULL
);

CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_last_seen ON sessions (last_seen);

CREATE TABLE audit (
	seq       bigint      NOT NULL PRIMARY KEY CHECK (seq > 0),
	at        timestamptz NOT NULL,
	actor_id  bigint      NOT NULL,
	action    text        NOT NULL,
	object    text        NOT NULL,
	prev_hash bytea,
	hash      bytea       NOT NULL
);

CREATE INDEX audit_actor ON audit (actor_id, seq);

-- The chain makes tampering detectable; this makes it take more than one
-- careless statement. A later migration may drop it for retention.
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit log is append-only';
END;
$$;

CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
	FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

CREATE TABLE meta (
	key   text COLLATE "C" NOT NULL PRIMARY KEY,
	value bytea
);
