-- Safe houses, placements, and a case's documents, visas and trips.
--
-- A house's code, capacity and whether it is in use are clear; its city
-- and address are ciphertext under the house's own data key (wrapped_key,
-- wrapped by the root wrapping key). Placements link a case to a house
-- with dates and hold no ciphertext. Records are ciphertext under the
-- case's data key, with kind and status in clear.

CREATE TABLE safe_houses (
	id          TEXT    NOT NULL PRIMARY KEY,
	code        TEXT    NOT NULL UNIQUE,
	capacity    INTEGER NOT NULL CHECK (capacity > 0),
	active      INTEGER NOT NULL DEFAULT 1,
	wrapped_key BLOB,
	city        BLOB,
	address     BLOB,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE case_placements (
	id         TEXT    NOT NULL PRIMARY KEY,
	case_id    TEXT    NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	house_id   TEXT    NOT NULL REFERENCES safe_houses (id),
	from_at    INTEGER NOT NULL,
	until_at   INTEGER, -- NULL while open-ended
	created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX case_placements_case ON case_placements (case_id, from_at, id);
CREATE INDEX case_placements_house ON case_placements (house_id, from_at);

CREATE TABLE case_records (
	id         TEXT    NOT NULL PRIMARY KEY,
	case_id    TEXT    NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	kind       TEXT    NOT NULL,
	status     TEXT    NOT NULL,
	class      TEXT    NOT NULL,
	body       BLOB,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;

CREATE INDEX case_records_case ON case_records (case_id, created_at, id);

-- Erasing a case (EraseCase sets erased_at) deletes its placements and
-- records in the same statement's transaction: the records are ciphertext
-- under the destroyed key, and a placement says where the person hid. A
-- trigger keeps this true whichever code path erases.
CREATE TRIGGER cases_erase_logistics AFTER UPDATE OF erased_at ON cases
WHEN NEW.erased_at IS NOT NULL
BEGIN
	DELETE FROM case_placements WHERE case_id = NEW.id;
	DELETE FROM case_records WHERE case_id = NEW.id;
END;
