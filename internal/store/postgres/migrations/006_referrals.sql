-- Partner organisations, consents and referrals. A partner's country,
-- age recipient (a public key) and whether it is in use are clear; its
-- name is ciphertext under its own data key. A consent's classes, partner,
-- end, method and who recorded or withdrew it are clear, so that the check
-- before a referral runs without any key; its note is ciphertext under the
-- case's data key. A referral's package is sealed with age to the partner.
-- EraseCase sets notes and packages to NULL. Class lists are stored as
-- comma-separated class names, as in SQLite. Ids, countries and statuses
-- use the "C" collation, as in 002_cases.sql, so that orders match
-- SQLite's. ON DELETE CASCADE: they go with their case should a retention
-- rule ever delete cases whole.

CREATE TABLE partners (
	id          text COLLATE "C" NOT NULL PRIMARY KEY,
	country     text COLLATE "C" NOT NULL CHECK (length(country) = 2),
	recipient   text COLLATE "C" NOT NULL,
	active      boolean     NOT NULL DEFAULT true,
	wrapped_key bytea       NOT NULL,
	name        bytea       NOT NULL,
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL
);

CREATE TABLE case_consents (
	id           text COLLATE "C" NOT NULL PRIMARY KEY,
	case_id      text COLLATE "C" NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	partner_id   text COLLATE "C" NOT NULL REFERENCES partners (id),
	classes      text COLLATE "C" NOT NULL CHECK (classes <> ''),
	until_at     timestamptz NOT NULL,
	method       text COLLATE "C" NOT NULL,
	note         bytea,        -- NULL if none or once the case is erased
	recorded_by  bigint      NOT NULL DEFAULT 0,
	created_at   timestamptz NOT NULL,
	withdrawn_at timestamptz,  -- NULL unless withdrawn
	withdrawn_by bigint      NOT NULL DEFAULT 0
);

CREATE INDEX case_consents_case ON case_consents (case_id, created_at);

CREATE TABLE case_referrals (
	id         text COLLATE "C" NOT NULL PRIMARY KEY,
	case_id    text COLLATE "C" NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	partner_id text COLLATE "C" NOT NULL REFERENCES partners (id),
	consent_id text COLLATE "C" NOT NULL REFERENCES case_consents (id) ON DELETE CASCADE,
	classes    text COLLATE "C" NOT NULL CHECK (classes <> ''),
	status     text COLLATE "C" NOT NULL,
	package    bytea,        -- age ciphertext; NULL once the case is erased
	created_by bigint      NOT NULL DEFAULT 0,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL
);

CREATE INDEX case_referrals_case ON case_referrals (case_id, created_at);
