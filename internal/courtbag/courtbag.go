// Package courtbag writes and checks Corridor's court exports: BagIt bags
// (RFC 8493, package bag) holding evidence originals, each item's custody
// trail, a transparency-log receipt (c2sp.org/tlog-proof) per event, the
// cosigned checkpoints those receipts are against, consistency proofs from
// each checkpoint to the latest one, RFC 3161 timestamp tokens over
// checkpoints, and the keys it all rests on, with a plain-language README
// telling a court how to check it with standard tools.
//
// Export builds a bag from the vault (evidence.Service) and the log
// (translog.Log, or translog.Reader while a server sequences the log).
// Verify checks a bag offline and reports every problem in plain language.
// docs/export-format.md describes the format field by field:
//
//	bagit.txt, bag-info.txt, manifest-sha256.txt, tagmanifest-sha256.txt
//	README.txt                              how to check the bag by hand
//	keys/log.vkey                           the log's verifier key
//	keys/witnesses.txt                      witnesses' keys, how many must cosign
//	keys/tsa-roots.pem                      timestamp authority roots (with tokens)
//	tools/verify-checkpoint.sh              checks a checkpoint with sh and openssl
//	data/items/<id>/record.json             the item: hashes, salt, commitment, …
//	data/items/<id>/original.<ext>          the original (not for destroyed items)
//	data/items/<id>/<seq>.event             a custody event, its exact logged bytes
//	data/items/<id>/<seq>.tlog-proof        its receipt
//	data/log/checkpoints/<size>.checkpoint  a checkpoint, with cosignatures
//	data/log/checkpoints/<size>.consistency proof that the latest extends it
//	data/log/checkpoints/<size>.tst         RFC 3161 token over the checkpoint
//
// Nothing in a bag names a person beyond what the evidence itself holds:
// no file name as uploaded, no staff identity (events carry salted
// commitments to their actors).
package courtbag

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gabriel-vasile/mimetype"

	"github.com/corridor-org/corridor/internal/evidence"
	"github.com/corridor-org/corridor/internal/media"
)

// Format is the bag format's name and version, in bag-info.txt's
// Corridor-Bag-Format field. A later format gets a new name.
const Format = "corridor.court-bag/v1"

// Names in the bag.
const (
	infoFormatLabel   = "Corridor-Bag-Format"
	itemFormat        = "corridor.court-item/v1"
	consistencyHeader = Format + " consistency"

	readmeName      = "README.txt"
	logKeyName      = "keys/log.vkey"
	witnessesName   = "keys/witnesses.txt"
	tsaRootsName    = "keys/tsa-roots.pem"
	scriptName      = "tools/verify-checkpoint.sh"
	manifestName    = "manifest-sha256.txt"
	payloadPrefix   = "data/"
	itemsDir        = "items/"
	checkpointsDir  = "log/checkpoints/"
	recordName      = "record.json"
	originalBase    = "original"
	eventSuffix     = ".event"
	proofSuffix     = ".tlog-proof"
	checkpointExt   = ".checkpoint"
	consistencyExt  = ".consistency"
	tokenExt        = ".tst"
	defaultExt      = ".bin"
	maxRecordSize   = 1 << 20
	maxProofSize    = 80 << 10 // a tlog-proof: 63 hashes and a checkpoint of at most 64 KiB
	maxEventSize    = 1 << 10
	maxNoteSize     = 64 << 10
	maxTokenSize    = 1 << 20
	maxConsistency  = 128 // hashes in a consistency proof; 2·63 suffice
	maxKeyFileSize  = 64 << 10
	maxWitnessCount = 100
)

// Errors callers branch on.
var (
	// ErrNotLogged: the export's custody events were not logged (or no
	// checkpoint covered them) within Options.Wait.
	ErrNotLogged = errors.New("courtbag: the export's custody events were not logged in time")
	// ErrMalformed is wrapped by every parse error of a file from a bag.
	ErrMalformed = errors.New("courtbag: malformed file")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Record is an item's record.json: what a court needs to tie the original
// to the log. Every field but the capture metadata is checked by Verify
// against the original, the events or the log; the capture metadata was
// read from the original at ingest and can be read from it again.
type Record struct {
	Format     string `json:"format"` // "corridor.court-item/v1"
	ID         string `json:"id"`
	Commitment string `json:"commitment"` // hex SHA-256(salt ‖ SHA-256(original))
	Destroyed  bool   `json:"destroyed"`
	// Original is absent for a destroyed item.
	Original *Original `json:"original,omitempty"`
	// ConsentHistory is the consent after the first event and after each
	// event that changed it.
	ConsentHistory []ConsentChange `json:"consent_history"`
}

// Original describes the original file.
type Original struct {
	File         string    `json:"file"`   // "original.jpg", in the item's directory
	SHA256       string    `json:"sha256"` // hex
	Salt         string    `json:"salt"`   // hex, 32 bytes
	Size         int64     `json:"size"`
	ContentType  string    `json:"content_type"`            // detected from the bytes
	DeclaredType string    `json:"declared_type,omitempty"` // what the uploader said
	Source       string    `json:"source"`                  // person, staff or cli
	IngestedAt   time.Time `json:"ingested_at"`
	Capture      *Capture  `json:"capture_metadata,omitempty"`
}

// Capture is the capture metadata the original states about itself.
type Capture struct {
	CapturedAt      *time.Time        `json:"captured_at,omitempty"`
	GPS             *GPS              `json:"gps,omitempty"`
	Make            string            `json:"make,omitempty"`
	Model           string            `json:"model,omitempty"`
	Software        string            `json:"software,omitempty"`
	Width           int               `json:"width,omitempty"`
	Height          int               `json:"height,omitempty"`
	DurationSeconds float64           `json:"duration_seconds,omitempty"`
	Extra           map[string]string `json:"extra,omitempty"`
}

// GPS is a position in WGS 84 degrees and metres above sea level.
type GPS struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
	Alt float64 `json:"alt"`
}

// ConsentChange is one step of an item's consent history.
type ConsentChange struct {
	Seq     int64     `json:"seq"`
	Time    time.Time `json:"time"`
	Consent string    `json:"consent"`
}

func captureOf(md media.Metadata) *Capture {
	c := &Capture{Make: md.Make, Model: md.Model, Software: md.Software, Width: md.Width, Height: md.Height,
		DurationSeconds: md.Duration.Seconds(), Extra: md.Extra}
	if !md.CapturedAt.IsZero() {
		t := md.CapturedAt
		c.CapturedAt = &t
	}
	if md.GPS != nil {
		c.GPS = &GPS{md.GPS.Lat, md.GPS.Lon, md.GPS.Alt}
	}
	if len(c.Extra) == 0 {
		c.Extra = nil
	}
	if c.CapturedAt == nil && c.GPS == nil && c.Make == "" && c.Model == "" && c.Software == "" &&
		c.Width == 0 && c.Height == 0 && c.DurationSeconds == 0 && c.Extra == nil {
		return nil
	}
	return c
}

// consentHistory is the consent after the first event and after every
// event that changed it.
func consentHistory(events []evidence.Event) []ConsentChange {
	var out []ConsentChange
	for i, e := range events {
		if i == 0 || e.Consent != events[i-1].Consent {
			out = append(out, ConsentChange{Seq: e.Seq, Time: e.Time.UTC(), Consent: e.Consent})
		}
	}
	return out
}

// marshalRecord is the canonical encoding of a record: indented JSON, as
// json.MarshalIndent writes it, and a final newline. parseRecord accepts
// only that.
func marshalRecord(r *Record) ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("courtbag: %w", err)
	}
	return append(b, '\n'), nil
}

// parseRecord parses a record.json from a bag. It accepts only the
// canonical encoding (so that no duplicate key, unknown field or odd
// spelling can make two readers see different records) of a well-formed
// record.
func parseRecord(b []byte) (*Record, error) {
	if len(b) > maxRecordSize {
		return nil, malformed("record is %d bytes", len(b))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r Record
	if err := dec.Decode(&r); err != nil {
		return nil, malformed("record is not valid JSON: %v", err)
	}
	if again, err := marshalRecord(&r); err != nil || !bytes.Equal(again, b) {
		return nil, malformed("record is not in its canonical form (key order, spacing, one value per key, a final newline)")
	}
	switch {
	case r.Format != itemFormat:
		return nil, malformed("record format %q is not %q", r.Format, itemFormat)
	case !validItemID(r.ID):
		return nil, malformed("record has an invalid item id")
	case !isHex32(r.Commitment):
		return nil, malformed("record commitment is not 64 lower-case hex digits")
	case r.Destroyed != (r.Original == nil):
		return nil, malformed("a record has an original exactly when the item is not destroyed")
	case len(r.ConsentHistory) == 0:
		return nil, malformed("record has no consent history")
	}
	if o := r.Original; o != nil {
		switch {
		case !validOriginalName(o.File):
			return nil, malformed("record names the original %q; want original.<ext>", o.File)
		case !isHex32(o.SHA256):
			return nil, malformed("record sha256 is not 64 lower-case hex digits")
		case !isHex32(o.Salt):
			return nil, malformed("record salt is not 64 lower-case hex digits")
		case o.Size < 0:
			return nil, malformed("record size is negative")
		}
	}
	for i, c := range r.ConsentHistory {
		if c.Seq < 1 || i > 0 && c.Seq <= r.ConsentHistory[i-1].Seq {
			return nil, malformed("consent history is not in event order")
		}
	}
	return &r, nil
}

var originalName = regexp.MustCompile(`^original\.[a-z0-9]{1,10}$`)

func validOriginalName(s string) bool { return originalName.MatchString(s) }

// extension is the file name extension for a content type: the usual one
// if known and plain, ".bin" otherwise.
func extension(contentType string) string {
	if m := mimetype.Lookup(contentType); m != nil {
		if ext := m.Extension(); validOriginalName(originalBase + ext) {
			return ext
		}
	}
	return defaultExt
}

// validItemID is evidence's rule: 2 to 64 lower-case letters and digits.
func validItemID(id string) bool {
	if len(id) < 2 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func isHex32(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

func hex32(s string) [32]byte {
	var b [32]byte
	hex.Decode(b[:], []byte(s))
	return b
}

// fileKind is what a payload file is.
type fileKind int

const (
	kindRecord fileKind = iota + 1
	kindOriginal
	kindEvent
	kindProof
	kindCheckpoint
	kindConsistency
	kindToken
)

// payloadFile is a payload path (relative to data/) as the format names
// it.
type payloadFile struct {
	kind fileKind
	item string // the item's id, for item files
	n    uint64 // the event's seq, or the checkpoint's size
	name string // the file name, for originals
}

// parsePayloadName classifies a path relative to data/; ok is false for a
// path the format does not have.
func parsePayloadName(p string) (f payloadFile, ok bool) {
	if rest, found := strings.CutPrefix(p, checkpointsDir); found {
		for _, k := range []struct {
			ext  string
			kind fileKind
		}{{checkpointExt, kindCheckpoint}, {consistencyExt, kindConsistency}, {tokenExt, kindToken}} {
			if num, found := strings.CutSuffix(rest, k.ext); found {
				n, err := parseDecimal(num)
				return payloadFile{kind: k.kind, n: n}, err == nil
			}
		}
		return f, false
	}
	rest, found := strings.CutPrefix(p, itemsDir)
	if !found {
		return f, false
	}
	id, rest, found := strings.Cut(rest, "/")
	if !found || !validItemID(id) {
		return f, false
	}
	f.item = id
	switch {
	case rest == recordName:
		f.kind = kindRecord
		return f, true
	case validOriginalName(rest):
		f.kind, f.name = kindOriginal, rest
		return f, true
	}
	name := rest
	for _, k := range []struct {
		ext  string
		kind fileKind
	}{{eventSuffix, kindEvent}, {proofSuffix, kindProof}} {
		if num, found := strings.CutSuffix(name, k.ext); found {
			n, err := parseDecimal(num)
			f.kind, f.n = k.kind, n
			return f, err == nil && n >= 1
		}
	}
	return f, false
}

func itemPath(id, name string) string { return itemsDir + id + "/" + name }

func eventPath(id string, seq int64, suffix string) string {
	return itemsDir + id + "/" + strconv.FormatInt(seq, 10) + suffix
}

func checkpointPath(size uint64, ext string) string {
	return checkpointsDir + strconv.FormatUint(size, 10) + ext
}

// parseDecimal parses an ASCII decimal with no sign and no leading zero.
func parseDecimal(s string) (uint64, error) {
	if s == "" || len(s) > 1 && s[0] == '0' || strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, malformed("%q is not a decimal number without leading zeros", s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, malformed("%q is out of range", s)
	}
	return n, nil
}

// formatConsistency encodes a consistency proof file: a header line, the
// two tree sizes, and the proof's hashes, one base64 hash a line.
func formatConsistency(oldSize, newSize uint64, hashes [][]byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nold %d\nnew %d\n", consistencyHeader, oldSize, newSize)
	for _, h := range hashes {
		b.WriteString(b64(h) + "\n")
	}
	return b.Bytes()
}

// parseConsistency parses a consistency proof file.
func parseConsistency(b []byte) (oldSize, newSize uint64, hashes [][]byte, err error) {
	if len(b) > 4<<10+maxConsistency*45 {
		return 0, 0, nil, malformed("consistency proof is %d bytes", len(b))
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return 0, 0, nil, malformed("consistency proof does not end with a newline")
	}
	lines := strings.Split(string(b[:len(b)-1]), "\n")
	if len(lines) < 3 || lines[0] != consistencyHeader {
		return 0, 0, nil, malformed("not a %s file", consistencyHeader)
	}
	for i, label := range []string{"old ", "new "} {
		num, ok := strings.CutPrefix(lines[1+i], label)
		if !ok {
			return 0, 0, nil, malformed("line %d: want %q", 2+i, label+"SIZE")
		}
		n, err := parseDecimal(num)
		if err != nil {
			return 0, 0, nil, err
		}
		if i == 0 {
			oldSize = n
		} else {
			newSize = n
		}
	}
	if len(lines)-3 > maxConsistency {
		return 0, 0, nil, malformed("consistency proof has more than %d hashes", maxConsistency)
	}
	for i, l := range lines[3:] {
		h, err := unb64(l)
		if err != nil || len(h) != 32 {
			return 0, 0, nil, malformed("line %d is not a base64 SHA-256 hash", 4+i)
		}
		hashes = append(hashes, h)
	}
	return oldSize, newSize, hashes, nil
}

// Witnesses is keys/witnesses.txt: how many witnesses must cosign each
// checkpoint, and their verifier keys (the vkeys they publish).
type Witnesses struct {
	Required int
	Keys     []string
}

// Format encodes w as keys/witnesses.txt: "required N", then one line
// "witness VKEY" per witness.
func (w Witnesses) Format() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "required %d\n", w.Required)
	for _, k := range w.Keys {
		fmt.Fprintf(&b, "witness %s\n", k)
	}
	return b.Bytes()
}

// ParseWitnesses parses keys/witnesses.txt, or a file in that form given
// to `corridor verify --witnesses`. It checks the form; the keys
// themselves are checked when a policy is built from them.
func ParseWitnesses(b []byte) (Witnesses, error) {
	var w Witnesses
	if len(b) > maxKeyFileSize {
		return w, malformed("witnesses file is %d bytes", len(b))
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return w, malformed("witnesses file does not end with a newline")
	}
	lines := strings.Split(string(b[:len(b)-1]), "\n")
	num, ok := strings.CutPrefix(lines[0], "required ")
	if !ok {
		return w, malformed(`witnesses file: the first line must be "required N"`)
	}
	n, err := parseDecimal(num)
	if err != nil || n > maxWitnessCount {
		return w, malformed("witnesses file: required is not a small number")
	}
	w.Required = int(n)
	seen := map[string]bool{}
	for i, l := range lines[1:] {
		k, ok := strings.CutPrefix(l, "witness ")
		if !ok || k == "" || strings.ContainsAny(k, " \t\r") || !isPrint(k) {
			return w, malformed(`witnesses file: line %d is not "witness VKEY"`, i+2)
		}
		if seen[k] {
			return w, malformed("witnesses file: line %d repeats a witness", i+2)
		}
		seen[k] = true
		w.Keys = append(w.Keys, k)
	}
	if len(w.Keys) > maxWitnessCount || w.Required > len(w.Keys) {
		return w, malformed("witnesses file: %d required of %d witnesses", w.Required, len(w.Keys))
	}
	return w, nil
}

// parseLogKey parses keys/log.vkey: one vkey and a newline.
func parseLogKey(b []byte) (string, error) {
	if len(b) > maxKeyFileSize {
		return "", malformed("log key file is %d bytes", len(b))
	}
	k, ok := bytes.CutSuffix(b, []byte("\n"))
	if !ok || len(k) == 0 || bytes.ContainsAny(k, " \t\r\n") || !isPrint(string(k)) {
		return "", malformed("the log key file is not one verifier key and a newline")
	}
	return string(k), nil
}

func isPrint(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// parseManifestSums reads the SHA-256 of each path in a payload manifest
// written by package bag ("checksum  path" lines). Lines it cannot read are
// skipped: bag.Verify reports them, and a path missing here is reported by
// the caller.
func parseManifestSums(b []byte) map[string][32]byte {
	out := map[string][32]byte{}
	for line := range strings.SplitSeq(string(b), "\n") {
		sum, p, ok := strings.Cut(strings.TrimSuffix(line, "\r"), " ")
		p = strings.TrimLeft(p, " \t")
		if !ok || len(sum) != 64 || p == "" || strings.ContainsRune(p, '%') {
			continue
		}
		var s [32]byte
		if _, err := hex.Decode(s[:], []byte(sum)); err != nil {
			continue
		}
		if _, dup := out[p]; !dup {
			out[p] = s
		}
	}
	return out
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// unb64 decodes standard base64 in its one canonical spelling.
func unb64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || b64(b) != s {
		return nil, errors.New("not canonical base64")
	}
	return b, nil
}
