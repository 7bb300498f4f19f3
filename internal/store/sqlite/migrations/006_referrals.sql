-- Partner organisations, consents and referrals. A partner's country,
-- age recipient (a public key) and whether it is in use are clear; its
-- name is ciphertext under its own data key. A consent's classes, partner,
-- end, method and who recorded or withdrew it are clear, so that the check
-- before a referral runs without any key; its note is ciphertext under the
-- case's data key. A referral's package is sealed with age to the partner.
-- EraseCase sets notes and packages to NULL. Class lists are stored as
-- comma-separated class names. ON DELETE CASCADE: they go with their case
-- should a retention rule ever delete cases whole.

CREATE TABLE partners (
	id          TEXT    NOT NULL PRIMARY KEY,
	country     TEXT    NOT NULL CHECK (length(country) = 2),
	recipient   TEXT    NOT NULL,
	active      INTEGER NOT NULL DEFAULT 1,
	wrapped_key BLOB    NOT NULL,
	name        BLOB    NOT NULL,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE case_consents (
	id           TEXT    NOT NULL PRIMARY KEY,
	case_id      TEXT    NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	partner_id   TEXT    NOT NULL REFERENCES partners (id),
	classes      TEXT    NOT NULL CHECK (classes <> ''),
	until_at     INTEGER NOT NULL,
	method       TEXT    NOT NULL,
	note         BLOB,             -- NULL if none or once the case is erased
	recorded_by  INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	withdrawn_at INTEGER,          -- NULL unless withdrawn
	withdrawn_by INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX case_consents_case ON case_consents (case_id, created_at);

CREATE TABLE case_referrals (
	id         TEXT    NOT NULL PRIMARY KEY,
	case_id    TEXT    NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	partner_id TEXT    NOT NULL REFERENCES partners (id),
	consent_id TEXT    NOT NULL REFERENCES case_consents (id) ON DELETE CASCADE,
	classes    TEXT    NOT NULL CHECK (classes <> ''),
	status     TEXT    NOT NULL,
	package    BLOB,              -- age ciphertext; NULL once the case is erased
	created_by INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;

CREATE INDEX case_referrals_case ON case_referrals (case_id, created_at);
