-- Public statistics (issue 5). A violation record's dimensions (type,
-- perpetrator, region, month) are clear so that releases are aggregated
-- without any key; they are coarse by design. Its note is ciphertext under
-- the case's data key. A consent to statistical use is clear (method,
-- when, by whom). release_version and stats_counted_outcomes record what a
-- published release counted, so that nothing is ever counted twice. Ids
-- use the "C" collation, as in 002_cases.sql, so that orders match
-- SQLite's.
--
-- Erasing a case deletes its consent, violations and counted outcomes in
-- the same transaction (a trigger, whichever code path erases): what was
-- published stays published, nothing of the case is kept.
--
-- Published releases are immutable: triggers refuse UPDATE, DELETE and
-- TRUNCATE.

CREATE TABLE stats_consents (
	case_id      text COLLATE "C" NOT NULL PRIMARY KEY REFERENCES cases (id) ON DELETE CASCADE,
	method       text COLLATE "C" NOT NULL,
	given_at     timestamptz NOT NULL,
	recorded_by  bigint      NOT NULL DEFAULT 0,
	withdrawn_at timestamptz,          -- NULL unless withdrawn
	withdrawn_by bigint      NOT NULL DEFAULT 0
);

CREATE TABLE stats_violations (
	id              text COLLATE "C" NOT NULL PRIMARY KEY,
	case_id         text COLLATE "C" NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	type            text COLLATE "C" NOT NULL,
	perpetrator     text COLLATE "C" NOT NULL,
	region          text COLLATE "C" NOT NULL,
	month           timestamptz NOT NULL,
	note            bytea,             -- ciphertext; NULL if none
	recorded_by     bigint      NOT NULL DEFAULT 0,
	created_at      timestamptz NOT NULL,
	release_version integer     NOT NULL DEFAULT 0
);

CREATE INDEX stats_violations_case ON stats_violations (case_id, month, created_at, id);

CREATE TABLE stats_counted_outcomes (
	case_id         text COLLATE "C" NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	outcome         text COLLATE "C" NOT NULL,
	release_version integer NOT NULL,
	PRIMARY KEY (case_id, outcome)
);

CREATE TABLE stats_drafts (
	id          text COLLATE "C" NOT NULL PRIMARY KEY,
	created_at  timestamptz NOT NULL,
	created_by  bigint      NOT NULL DEFAULT 0,
	cutoff      timestamptz NOT NULL,
	fingerprint bytea       NOT NULL,
	document    bytea       NOT NULL,
	approved_by bigint      NOT NULL DEFAULT 0,
	approved_at timestamptz             -- NULL until approved
);

CREATE TABLE stats_releases (
	version      integer     NOT NULL PRIMARY KEY CHECK (version > 0),
	published_at timestamptz NOT NULL,
	published_by bigint      NOT NULL DEFAULT 0,
	approved_by  bigint      NOT NULL DEFAULT 0,
	cutoff       timestamptz NOT NULL,
	document     bytea       NOT NULL,
	sha256       bytea       NOT NULL CHECK (length(sha256) = 32)
);

CREATE FUNCTION stats_releases_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'published statistics releases are immutable';
END;
$$;

CREATE TRIGGER stats_releases_no_change BEFORE UPDATE OR DELETE ON stats_releases
	FOR EACH ROW EXECUTE FUNCTION stats_releases_immutable();
CREATE TRIGGER stats_releases_no_truncate BEFORE TRUNCATE ON stats_releases
	FOR EACH STATEMENT EXECUTE FUNCTION stats_releases_immutable();

CREATE FUNCTION cases_erase_stats() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM stats_consents WHERE case_id = NEW.id;
	DELETE FROM stats_violations WHERE case_id = NEW.id;
	DELETE FROM stats_counted_outcomes WHERE case_id = NEW.id;
	RETURN NULL;
END;
$$;

CREATE TRIGGER cases_erase_stats AFTER UPDATE OF erased_at ON cases
FOR EACH ROW WHEN (NEW.erased_at IS NOT NULL)
EXECUTE FUNCTION cases_erase_stats();
