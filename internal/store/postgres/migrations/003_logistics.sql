-- Safe houses, placements, and a case's documents, visas and trips.
--
-- A house's code, capacity and whether it is in use are clear; its city
-- and address are ciphertext under the house's own data key (wrapped_key,
-- wrapped by the root wrapping key). Placements link a case to a house
-- with dates and hold no ciphertext. Records are ciphertext under the
-- case's data key, with kind and status in clear. Ids and codes use the
-- "C" collation so that orders match SQLite's byte order.

CREATE TABLE safe_houses (
	id          text COLLATE "C" NOT NULL PRIMARY KEY,
	code        text COLLATE "C" NOT NULL UNIQUE,
	capacity    integer     NOT NULL CHECK (capacity > 0),
	active      boolean     NOT NULL DEFAULT true,
	wrapped_key bytea,
	city        bytea,
	address     bytea,
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL
);

CREATE TABLE case_placements (
	id         text COLLATE "C" NOT NULL PRIMARY KEY,
	case_id    text COLLATE "C" NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	house_id   text COLLATE "C" NOT NULL REFERENCES safe_houses (id),
	from_at    timestamptz NOT NULL,
	until_at   timestamptz, -- NULL while open-ended
	created_at timestamptz NOT NULL
);

CREATE INDEX case_placements_case ON case_placements (case_id, from_at, id);
CREATE INDEX case_placements_house ON case_placements (house_id, from_at);

CREATE TABLE case_records (
	id         text COLLATE "C" NOT NULL PRIMARY KEY,
	case_id    text COLLATE "C" NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	kind       text COLLATE "C" NOT NULL,
	status     text COLLATE "C" NOT NULL,
	class      text COLLATE "C" NOT NULL,
	body       bytea,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL
);

CREATE INDEX case_records_case ON case_records (case_id, created_at, id);

-- Erasing a case (EraseCase sets erased_at) deletes its placements and
-- records in the same transaction: the records are ciphertext under the
-- destroyed key, and a placement says where the person hid. A trigger
-- keeps this true whichever code path erases.
CREATE FUNCTION cases_erase_logistics() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM case_placements WHERE case_id = NEW.id;
	DELETE FROM case_records WHERE case_id = NEW.id;
	RETURN NULL;
END;
$$;

CREATE TRIGGER cases_erase_logistics AFTER UPDATE OF erased_at ON cases
FOR EACH ROW WHEN (NEW.erased_at IS NOT NULL)
EXECUTE FUNCTION cases_erase_logistics();
