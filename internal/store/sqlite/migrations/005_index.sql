-- Blind indexes of cases and the watch list. A value is a keyed HMAC of a
-- normalised identifier (phone number, handle, e-mail, name with birth
-- year); the key is derived from the root key, so without it the values
-- cannot be tested against guesses. EraseCase deletes a case's rows.

CREATE TABLE case_index (
	case_id TEXT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
	kind    TEXT NOT NULL,
	value   BLOB NOT NULL,
	PRIMARY KEY (case_id, kind, value)
) STRICT, WITHOUT ROWID;

-- FindCases: the cases holding one value, without visiting the table.
CREATE INDEX case_index_value ON case_index (value, kind, case_id);

CREATE TABLE watch_list (
	id         TEXT    NOT NULL PRIMARY KEY,
	kind       TEXT    NOT NULL,
	value      BLOB    NOT NULL,
	note       BLOB,             -- ciphertext, NULL without a note
	created_at INTEGER NOT NULL,
	created_by INTEGER NOT NULL DEFAULT 0,
	UNIQUE (kind, value)
) STRICT;
