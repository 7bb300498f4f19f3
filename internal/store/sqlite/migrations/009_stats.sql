-- Public statistics (issue 5). A violation record's dimensions (type,
-- perpetrator, region, month) are clear so that releases are aggregated
-- without any key; they are coarse by design. Its note is ciphertext under
-- the case's data key. A consent to statistical use is clear (method,
-- when, by whom). release_version and stats_counted_outcomes record what a
-- published release counted, so that nothing is ever counted twice.
--
-- Erasing a case deletes its consent, violations and counted outcomes in
-- the same transaction (a trigger, whichever code path erases): what was
-- published stays published, nothing of the case is kept.
--
-- Published releases are immutable: triggers refuse UPDATE and DELETE.

CREATE TABLE stats_consents (
	case_id      TEXT    NOT NULL PRIMARY KEY REFERENCES cases (id) ON DELETE CASCADE,
	method       TEXT    NOT NULL,
	given_at     INTEGER NOT NULL,
	recorded_by  INTEGER NOT NULL DEFAULT 0,
	withdrawn_at INTEGER,          -- NULL unless withdrawn
	withdrawn_by INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE stats_violations (
	id              TEXT    NOT NULL PRIMARY KEY,
	case_id         TEXT    NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	type            TEXT    NOT NULL,
	perpetrator     TEXT    NOT NULL,
	region          TEXT    NOT NULL,
	month           INTEGER NOT NULL,
	note            BLOB,             -- ciphertext; NULL if none
	recorded_by     INTEGER NOT NULL DEFAULT 0,
	created_at      INTEGER NOT NULL,
	release_version INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX stats_violations_case ON stats_violations (case_id, month, created_at, id);

CREATE TABLE stats_counted_outcomes (
	case_id         TEXT    NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	outcome         TEXT    NOT NULL,
	release_version INTEGER NOT NULL,
	PRIMARY KEY (case_id, outcome)
) STRICT;

CREATE TABLE stats_drafts (
	id          TEXT    NOT NULL PRIMARY KEY,
	created_at  INTEGER NOT NULL,
	created_by  INTEGER NOT NULL DEFAULT 0,
	cutoff      INTEGER NOT NULL,
	fingerprint BLOB    NOT NULL,
	document    BLOB    NOT NULL,
	approved_by INTEGER NOT NULL DEFAULT 0,
	approved_at INTEGER             -- NULL until approved
) STRICT;

CREATE TABLE stats_releases (
	version      INTEGER NOT NULL PRIMARY KEY CHECK (version > 0),
	published_at INTEGER NOT NULL,
	published_by INTEGER NOT NULL DEFAULT 0,
	approved_by  INTEGER NOT NULL DEFAULT 0,
	cutoff       INTEGER NOT NULL,
	document     BLOB    NOT NULL,
	sha256       BLOB    NOT NULL CHECK (length(sha256) = 32)
) STRICT;

CREATE TRIGGER stats_releases_no_update BEFORE UPDATE ON stats_releases
BEGIN
	SELECT RAISE(ABORT, 'published statistics releases are immutable');
END;

CREATE TRIGGER stats_releases_no_delete BEFORE DELETE ON stats_releases
BEGIN
	SELECT RAISE(ABORT, 'published statistics releases are immutable');
END;

CREATE TRIGGER cases_erase_stats AFTER UPDATE OF erased_at ON cases
WHEN NEW.erased_at IS NOT NULL
BEGIN
	DELETE FROM stats_consents WHERE case_id = NEW.id;
	DELETE FROM stats_violations WHERE case_id = NEW.id;
	DELETE FROM stats_counted_outcomes WHERE case_id = NEW.id;
END;
