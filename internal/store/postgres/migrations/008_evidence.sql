-- The evidence vault; see the SQLite migration of the same number for
-- what each table holds. Ids use the "C" collation, as in 002_cases.sql,
-- so that orders match SQLite's. The outbox's seq is an identity column:
-- values are never reused, though under concurrent transactions they may
-- commit out of order (the sequencer logs what it finds, oldest first;
-- events of one item are serialised by the lock on the item's row).

CREATE TABLE evidence_items (
	id           text COLLATE "C" NOT NULL PRIMARY KEY,
	case_id      text COLLATE "C" REFERENCES cases (id),
	request_id   text COLLATE "C" REFERENCES requests (id),
	blob_id      text COLLATE "C",  -- NULL once destroyed
	record       bytea,             -- age ciphertext; NULL once destroyed
	commitment   bytea       NOT NULL CHECK (length(commitment) = 32),
	consent      text COLLATE "C" NOT NULL DEFAULT 'none' CHECK (consent IN ('none', 'court', 'public_anonymised')),
	created_at   timestamptz NOT NULL,
	destroyed_at timestamptz,       -- NULL unless destroyed
	CHECK (case_id IS NULL OR request_id IS NULL),
	CHECK ((destroyed_at IS NULL) = (blob_id IS NOT NULL AND record IS NOT NULL))
);

CREATE INDEX evidence_items_case ON evidence_items (case_id, created_at, id) WHERE case_id IS NOT NULL;
CREATE INDEX evidence_items_request ON evidence_items (request_id, created_at, id) WHERE request_id IS NOT NULL;
CREATE INDEX evidence_items_all ON evidence_items (created_at, id);
CREATE INDEX evidence_items_blob ON evidence_items (blob_id) WHERE blob_id IS NOT NULL;

CREATE TABLE evidence_copies (
	item_id    text COLLATE "C" NOT NULL PRIMARY KEY REFERENCES evidence_items (id),
	blob_id    text COLLATE "C" NOT NULL,
	info       bytea       NOT NULL, -- age ciphertext
	created_at timestamptz NOT NULL
);

CREATE INDEX evidence_copies_blob ON evidence_copies (blob_id);

CREATE TABLE custody_events (
	item_id    text COLLATE "C" NOT NULL REFERENCES evidence_items (id),
	seq        bigint      NOT NULL CHECK (seq > 0),
	type       text COLLATE "C" NOT NULL,
	at         timestamptz NOT NULL,
	entry      bytea       NOT NULL,
	actor_seal bytea,
	log_index  bigint CHECK (log_index >= 0), -- NULL until logged
	PRIMARY KEY (item_id, seq)
);

CREATE UNIQUE INDEX custody_events_log_index ON custody_events (log_index) WHERE log_index IS NOT NULL;

CREATE TABLE custody_outbox (
	seq       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	item_id   text COLLATE "C" NOT NULL,
	event_seq bigint NOT NULL,
	entry     bytea  NOT NULL,
	FOREIGN KEY (item_id, event_seq) REFERENCES custody_events (item_id, seq)
);

CREATE TABLE custody_log_state (
	id     integer NOT NULL PRIMARY KEY CHECK (id = 1),
	logged bigint  NOT NULL
);

INSERT INTO custody_log_state (id, logged) VALUES (1, 0);

CREATE TABLE evidence_custodians (
	id          text COLLATE "C" NOT NULL PRIMARY KEY,
	name        bytea       NOT NULL, -- ciphertext
	recipient   text COLLATE "C" NOT NULL,
	active      boolean     NOT NULL DEFAULT true,
	created_at  timestamptz NOT NULL,
	disabled_at timestamptz           -- NULL while active
);
