package upload

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/corridor-org/corridor/internal/keys"
)

// An upload's info file holds its data key, wrapped by the Keyring, and
// its record (length, tus metadata with the file name, owner), sealed under
// that key:
//
//	"corridor-upload/v1\n"
//	u16 length of the wrapped key (big-endian), the wrapped key
//	keys.Encrypt(info key, record JSON, "upload-info", id)
const infoMagic = "corridor-upload/v1\n"

const (
	maxWrapped = 1024
	// maxRecord bounds the record, which is mostly the client's
	// Upload-Metadata: a file name and a type need far less.
	maxRecord   = 64 << 10
	maxInfoFile = len(infoMagic) + 2 + maxWrapped + maxRecord + 64
)

// HKDF purposes of the keys derived from an upload's data key.
const (
	purposeInfo   = "upload-info"
	purposeFrames = "upload-frames"
)

// record is what the info file seals.
type record struct {
	V        int               `json:"v"`
	Size     int64             `json:"size"`
	Deferred bool              `json:"deferred,omitempty"`
	Meta     map[string]string `json:"meta,omitempty"`
	Owner    string            `json:"owner,omitempty"`
	Created  int64             `json:"created"`
	// Done marks an upload whose file was ingested: its data is gone and
	// the record stays only so that a client asking again learns it is
	// complete (not "unknown", which would make it start over).
	Done bool `json:"done,omitempty"`
}

const recordVersion = 1

func (r record) info(id string) Info {
	meta := make(map[string]string, len(r.Meta))
	for k, v := range r.Meta {
		meta[k] = v
	}
	return Info{ID: id, Size: r.Size, Metadata: meta, Owner: r.Owner, Created: time.Unix(r.Created, 0).UTC()}
}

// encodeInfoFile seals rec under dk and frames it with the wrapped key.
func encodeInfoFile(id string, wrapped, dk []byte, rec record) ([]byte, error) {
	if len(wrapped) == 0 || len(wrapped) > maxWrapped {
		return nil, fmt.Errorf("upload: wrapped key of %d bytes", len(wrapped))
	}
	plain, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("upload: record: %w", err)
	}
	if len(plain) > maxRecord {
		return nil, ErrMetadataTooLarge
	}
	sealed, err := keys.Encrypt(keys.Subkey(dk, purposeInfo), plain, purposeInfo, id)
	if err != nil {
		return nil, fmt.Errorf("upload: seal record: %w", err)
	}
	out := make([]byte, 0, len(infoMagic)+2+len(wrapped)+len(sealed))
	out = append(out, infoMagic...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(wrapped)))
	out = append(out, wrapped...)
	return append(out, sealed...), nil
}

// parseInfoFile splits an info file into the wrapped key and the sealed
// record, without any key.
func parseInfoFile(b []byte) (wrapped, sealed []byte, err error) {
	if len(b) > maxInfoFile {
		return nil, nil, fmt.Errorf("%w: info file of %d bytes", ErrCorrupt, len(b))
	}
	rest, ok := bytes.CutPrefix(b, []byte(infoMagic))
	if !ok || len(rest) < 2 {
		return nil, nil, fmt.Errorf("%w: not an upload info file", ErrCorrupt)
	}
	n := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if n == 0 || n > maxWrapped || len(rest) <= n {
		return nil, nil, fmt.Errorf("%w: wrapped key", ErrCorrupt)
	}
	return rest[:n], rest[n:], nil
}

// openRecord decrypts and checks a sealed record.
func openRecord(id string, dk, sealed []byte) (record, error) {
	plain, err := keys.Decrypt(keys.Subkey(dk, purposeInfo), sealed, purposeInfo, id)
	if err != nil {
		return record{}, fmt.Errorf("%w: record: %w", ErrCorrupt, err)
	}
	return decodeRecord(plain)
}

// decodeRecord parses an authenticated record; even so it is checked, so
// that a bug elsewhere can never turn into a negative length.
func decodeRecord(plain []byte) (record, error) {
	var rec record
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return record{}, fmt.Errorf("%w: record: %w", ErrCorrupt, err)
	}
	if dec.More() {
		return record{}, fmt.Errorf("%w: record: trailing data", ErrCorrupt)
	}
	if rec.V != recordVersion {
		return record{}, fmt.Errorf("%w: record version %d", ErrCorrupt, rec.V)
	}
	if rec.Size < 0 || (rec.Deferred && rec.Size != 0) {
		return record{}, fmt.Errorf("%w: record length %d", ErrCorrupt, rec.Size)
	}
	return rec, nil
}
