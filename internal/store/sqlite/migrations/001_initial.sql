-- Times are integer microseconds since the Unix epoch, UTC. Booleans are
-- 0 or 1. A NULL blob is the store's spelling of "nil or empty".

CREATE TABLE requests (
	id            TEXT    NOT NULL PRIMARY KEY,
	lookup_id     BLOB    NOT NULL UNIQUE CHECK (length(lookup_id) > 0),
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL,
	urgency       INTEGER NOT NULL,
	status        TEXT    NOT NULL,
	assignee_id   INTEGER NOT NULL DEFAULT 0,
	key_intake    BLOB,
	key_person    BLOB,
	answers       BLOB,
	unread_staff  INTEGER NOT NULL DEFAULT 0,
	message_count INTEGER NOT NULL DEFAULT 0
) STRICT;

-- The inbox order (open before closed, urgency, newest, id as tie-break) is
-- read straight off these indexes, so a page costs the same with 100 or
-- 100,000 requests. The expression must match the ORDER BY in ListInbox
-- character for character for SQLite to use it.
CREATE INDEX requests_inbox ON requests
	((status = 'closed'), urgency DESC, created_at DESC, id DESC);
CREATE INDEX requests_inbox_status ON requests
	(status, (status = 'closed'), urgency DESC, created_at DESC, id DESC);
CREATE INDEX requests_inbox_assignee ON requests
	(assignee_id, (status = 'closed'), urgency DESC, created_at DESC, id DESC);

CREATE TABLE messages (
	-- seq keeps insertion order for messages that share a timestamp.
	seq        INTEGER NOT NULL PRIMARY KEY,
	id         TEXT    NOT NULL UNIQUE,
	request_id TEXT    NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	author     TEXT    NOT NULL,
	staff_id   INTEGER NOT NULL DEFAULT 0,
	body       BLOB
) STRICT;

CREATE INDEX messages_request ON messages (request_id, created_at, seq);

CREATE TABLE users (
	-- AUTOINCREMENT: the audit log names users by id, so an id must never
	-- be handed out twice, even after the highest row is gone.
	id                   INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	username_index       BLOB    NOT NULL UNIQUE CHECK (length(username_index) > 0),
	username             BLOB,
	role                 TEXT    NOT NULL,
	password_hash        TEXT    NOT NULL,
	totp_secret          BLOB,
	totp_enrolled        INTEGER NOT NULL DEFAULT 0,
	totp_last_step       INTEGER NOT NULL DEFAULT 0,
	disabled             INTEGER NOT NULL DEFAULT 0,
	must_change_password INTEGER NOT NULL DEFAULT 0,
	failed_logins        INTEGER NOT NULL DEFAULT 0,
	locked_until         INTEGER, -- NULL when not locked
	created_at           INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
	token_hash BLOB    NOT NULL PRIMARY KEY CHECK (length(token_hash) > 0),
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	last_seen  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_last_seen ON sessions (last_seen);

CREATE TABLE audit (
	seq       INTEGER NOT NULL PRIMARY KEY CHECK (seq > 0),
	at        INTEGER NOT NULL,
	actor_id  INTEGER NOT NULL,
	action    TEXT    NOT NULL,
	object    TEXT    NOT NULL,
	prev_hash BLOB,
	hash      BLOB    NOT NULL
) STRICT;

CREATE INDEX audit_actor ON audit (actor_id, seq);

-- The chain makes tampering detectable; these make it take more than one
-- careless statement. A later migration may drop them for retention.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only');
END;

CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only');
END;

CREATE TABLE meta (
	key   TEXT NOT NULL PRIMARY KEY,
	value BLOB
) STRICT;
