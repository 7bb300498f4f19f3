package evidence

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"filippo.io/age"
	"filippo.io/age/plugin"

	"github.com/corridor-org/corridor/internal/media"
)

// Sources of evidence.
const (
	SourcePerson = "person" // the person, from their return page
	SourceStaff  = "staff"  // a staff member, from the staff site
	SourceCLI    = "cli"    // corridor evidence import
)

// Record is an item's sealed record: everything about the original that is
// not the original itself. It is sealed with age to the same recipients
// as the original, so a custodian can read it offline, salt included, and
// so recompute the item's commitment.
type Record struct {
	Version      int            `json:"v"`
	ItemID       string         `json:"item"`
	Filename     string         `json:"filename"`      // as given, without directories
	DeclaredType string         `json:"declared_type"` // what the uploader said; may be ""
	SniffedType  string         `json:"sniffed_type"`  // what the bytes are (media.Sniff)
	Size         int64          `json:"size"`
	SHA256       []byte         `json:"sha256"` // of the original
	Salt         []byte         `json:"salt"`   // of the commitment
	Metadata     media.Metadata `json:"metadata"`
	Source       string         `json:"source"` // SourcePerson, SourceStaff, SourceCLI
	Actor        string         `json:"actor"`  // "staff:3", "person", "cli"
	IngestedAt   time.Time      `json:"ingested_at"`
}

// Commitment recomputes the item's commitment from the record.
func (r *Record) Commitment() [32]byte {
	var sum [32]byte
	copy(sum[:], r.SHA256)
	return Commitment(r.Salt, sum)
}

const recordVersion = 1

// maxSealed bounds what is decrypted from a sealed record or opening: the
// ciphertext sits in a database an attacker may have altered.
const maxSealed = 1 << 20

// copyInfo is a working copy's sealed description.
type copyInfo struct {
	ContentType string `json:"type"`
}

func sealJSON(v any, recips []age.Recipient) ([]byte, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	defer clear(plain)
	var b bytes.Buffer
	w, err := age.Encrypt(&b, recips...)
	if err != nil {
		return nil, fmt.Errorf("evidence: seal: %w", err)
	}
	if _, err := w.Write(plain); err != nil {
		return nil, fmt.Errorf("evidence: seal: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("evidence: seal: %w", err)
	}
	return b.Bytes(), nil
}

func openJSON(sealed []byte, v any, ids ...age.Identity) error {
	r, err := age.Decrypt(bytes.NewReader(sealed), ids...)
	if err != nil {
		return fmt.Errorf("evidence: open: %w", err)
	}
	plain, err := io.ReadAll(io.LimitReader(r, maxSealed+1))
	if err != nil {
		return fmt.Errorf("evidence: open: %w", err)
	}
	defer clear(plain)
	if len(plain) > maxSealed {
		return fmt.Errorf("evidence: open: sealed value too large")
	}
	if err := json.Unmarshal(plain, v); err != nil {
		return fmt.Errorf("evidence: open: %w", err)
	}
	return nil
}

// OpenRecord opens a sealed record with an identity (a custodian's, or
// the vault's).
func OpenRecord(sealed []byte, ids ...age.Identity) (*Record, error) {
	var r Record
	if err := openJSON(sealed, &r, ids...); err != nil {
		return nil, err
	}
	if r.Version != recordVersion || len(r.SHA256) != 32 {
		return nil, fmt.Errorf("%w: unknown record version %d", ErrInvalid, r.Version)
	}
	return &r, nil
}

// maxFilename bounds a stored file name, in bytes.
const maxFilename = 255

// cleanFilename keeps the last path element of name (browsers and the
// command line may send directories), as valid UTF-8 without control
// characters, at most maxFilename bytes. It is only ever shown, never used
// as a path on the server.
func cleanFilename(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	name = filepath.Base("/" + name)
	if name == "/" || name == "." {
		return ""
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(name, "\uFFFD") {
		if r < 0x20 || r == 0x7f {
			r = '_'
		}
		if b.Len()+utf8.RuneLen(r) > maxFilename {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// cleanType keeps a declared content type only if it looks like one.
func cleanType(t string) string {
	t = strings.ToLower(strings.TrimSpace(t))
	if i := strings.IndexByte(t, ';'); i >= 0 {
		t = strings.TrimSpace(t[:i])
	}
	if len(t) > 127 || strings.Count(t, "/") != 1 {
		return ""
	}
	for _, c := range t {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("/+-.", c)) {
			return ""
		}
	}
	return t
}

// ParseRecipient parses a custodian's age recipient: X25519 ("age1…") or
// a plugin recipient ("age1<plugin>1…", for hardware keys; the plugin
// binary age-plugin-<name> must then be on the server's PATH to seal).
// Post-quantum recipients ("age1pq1…") are refused: age cannot mix them
// with the X25519 keys every item is also sealed to.
func ParseRecipient(s string) (age.Recipient, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "age1pq1"):
		return nil, fmt.Errorf("%w: post-quantum recipients cannot be mixed with X25519 ones; use an X25519 or a plugin recipient", ErrInvalid)
	case !strings.HasPrefix(s, "age1"):
		return nil, fmt.Errorf("%w: not an age recipient (it should start with age1)", ErrInvalid)
	}
	if r, err := age.ParseX25519Recipient(s); err == nil {
		return r, nil
	}
	// A ClientUI without callbacks: a server has no terminal, so a plugin
	// that wants to ask something fails rather than hangs.
	r, err := plugin.NewRecipient(s, &plugin.ClientUI{})
	if err != nil {
		return nil, fmt.Errorf("%w: not a valid X25519 or plugin recipient", ErrInvalid)
	}
	return r, nil
}

// ParseIdentities reads an age identity file as a custodian keeps it: one
// identity a line (X25519 "AGE-SECRET-KEY-1…", or a plugin identity
// "AGE-PLUGIN-NAME-1…" for a hardware key, which runs age-plugin-name and
// talks to the user through ui), blank lines and "#" comments ignored.
func ParseIdentities(r io.Reader, ui *plugin.ClientUI) ([]age.Identity, error) {
	data, err := io.ReadAll(io.LimitReader(r, 1<<20+1))
	if err != nil {
		return nil, fmt.Errorf("identity file: %w", err)
	}
	if len(data) > 1<<20 {
		return nil, errors.New("identity file: too long")
	}
	defer clear(data)
	var ids []age.Identity
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var id age.Identity
		if strings.HasPrefix(line, "AGE-PLUGIN-") {
			id, err = plugin.NewIdentity(line, ui)
		} else {
			var parsed []age.Identity
			parsed, err = age.ParseIdentities(strings.NewReader(line))
			if err == nil {
				id = parsed[0]
			}
		}
		if err != nil {
			// The line is secret: say where, not what.
			return nil, fmt.Errorf("identity file: line %d is not an age identity", n+1)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, errors.New("identity file: no identity in it")
	}
	return ids, nil
}
