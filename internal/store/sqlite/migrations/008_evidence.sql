-- The evidence vault. An item's original and working copy are blobs
-- outside the database, sealed with age; its record (file name, types,
-- size, hash, salt, capture metadata) is an age ciphertext here. Clear:
-- the case or request it belongs to, the salted commitment (public in the
-- transparency log anyway), the consent and times. Destroying an item sets
-- blob_id and record to NULL and deletes its working copy; the row stays
-- as a tombstone for the custody trail.
--
-- Custody events are kept with their canonical encoding (what the log
-- holds) and, once logged, their index in the log. The outbox holds the
-- events not yet in the log, in the order they were recorded; AUTOINCREMENT
-- so that an outbox seq is never reused after its row is deleted.

CREATE TABLE evidence_items (
	id           TEXT    NOT NULL PRIMARY KEY,
	case_id      TEXT    REFERENCES cases (id),
	request_id   TEXT    REFERENCES requests (id),
	blob_id      TEXT,             -- NULL once destroyed
	record       BLOB,             -- age ciphertext; NULL once destroyed
	commitment   BLOB    NOT NULL CHECK (length(commitment) = 32),
	consent      TEXT    NOT NULL DEFAULT 'none' CHECK (consent IN ('none', 'court', 'public_anonymised')),
	created_at   INTEGER NOT NULL,
	destroyed_at INTEGER,          -- NULL unless destroyed
	CHECK (case_id IS NULL OR request_id IS NULL),
	CHECK ((destroyed_at IS NULL) = (blob_id IS NOT NULL AND record IS NOT NULL))
) STRICT;

CREATE INDEX evidence_items_case ON evidence_items (case_id, created_at, id) WHERE case_id IS NOT NULL;
CREATE INDEX evidence_items_request ON evidence_items (request_id, created_at, id) WHERE request_id IS NOT NULL;
CREATE INDEX evidence_items_all ON evidence_items (created_at, id);
CREATE INDEX evidence_items_blob ON evidence_items (blob_id) WHERE blob_id IS NOT NULL;

CREATE TABLE evidence_copies (
	item_id    TEXT    NOT NULL PRIMARY KEY REFERENCES evidence_items (id),
	blob_id    TEXT    NOT NULL,
	info       BLOB    NOT NULL,  -- age ciphertext
	created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX evidence_copies_blob ON evidence_copies (blob_id);

CREATE TABLE custody_events (
	item_id    TEXT    NOT NULL REFERENCES evidence_items (id),
	seq        INTEGER NOT NULL CHECK (seq > 0),
	type       TEXT    NOT NULL,
	at         INTEGER NOT NULL,
	entry      BLOB    NOT NULL,
	actor_seal BLOB,
	log_index  INTEGER CHECK (log_index >= 0), -- NULL until logged
	PRIMARY KEY (item_id, seq)
) STRICT;

CREATE UNIQUE INDEX custody_events_log_index ON custody_events (log_index) WHERE log_index IS NOT NULL;

CREATE TABLE custody_outbox (
	seq       INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	item_id   TEXT    NOT NULL,
	event_seq INTEGER NOT NULL,
	entry     BLOB    NOT NULL,
	FOREIGN KEY (item_id, event_seq) REFERENCES custody_events (item_id, seq)
) STRICT;

-- How many events are in the log, kept beside the events so that the
-- sequencer reads it in constant time.
CREATE TABLE custody_log_state (
	id     INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	logged INTEGER NOT NULL
) STRICT;

INSERT INTO custody_log_state (id, logged) VALUES (1, 0);

CREATE TABLE evidence_custodians (
	id          TEXT    NOT NULL PRIMARY KEY,
	name        BLOB    NOT NULL,  -- ciphertext
	recipient   TEXT    NOT NULL,
	active      INTEGER NOT NULL DEFAULT 1,
	created_at  INTEGER NOT NULL,
	disabled_at INTEGER            -- NULL while active
) STRICT;
