-- Blind indexes of cases and the watch list. A value is a keyed HMAC of a
-- normalised identifier (phone number, handle, e-mail, name with birth
-- year); the key is derived from the root key, so without it the values
-- cannot be tested against guesses. EraseCase deletes a case's rows.

CREATE TABLE case_index (
	case_id text COLLATE "C" NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	kind    text COLLATE "C" NOT NULL,
	value   bytea NOT NULL,
	PRIMARY KEY (case_id, kind, value)
);

-- FindCases: the cases holding one value, from the index alone.
CREATE INDEX case_index_value ON case_index (value, kind, case_id);

CREATE TABLE watch_list (
	id         text COLLATE "C" NOT NULL PRIMARY KEY,
	kind       text COLLATE "C" NOT NULL,
	value      bytea       NOT NULL,
	note       bytea,                 -- ciphertext, NULL without a note
	created_at timestamptz NOT NULL,
	created_by bigint      NOT NULL DEFAULT 0,
	UNIQUE (kind, value)
);
