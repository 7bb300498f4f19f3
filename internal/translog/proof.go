package translog

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	f_note "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

const (
	proofHeader = "c2sp.org/tlog-proof@v1"
	// maxProofHashes bounds an inclusion proof: a tree of 2^63 entries
	// needs at most 63 hashes.
	maxProofHashes = 63
	// maxNoteSize bounds the checkpoint notes accepted for verification,
	// well above a checkpoint with a hundred cosignatures.
	maxNoteSize = 64 << 10
)

// Checkpoint is a verified checkpoint.
type Checkpoint struct {
	Origin    string
	Size      uint64
	Hash      [32]byte
	Raw       []byte   // the note as given, signatures included
	Cosigners []string // names of the policy's witnesses whose cosignatures verified
}

// Policy says whom to trust: the log's key and how many of the listed
// witnesses must have cosigned a checkpoint.
type Policy struct {
	Log       note.Verifier
	Witnesses []note.Verifier
	Required  int
}

// NewPolicy builds a Policy from vkeys: the log's (as served at /log/key)
// and the witnesses' (Ed25519 or cosignature/v1 vkeys).
func NewPolicy(logKey string, witnessKeys []string, required int) (Policy, error) {
	v, err := note.NewVerifier(logKey)
	if err != nil {
		return Policy{}, fmt.Errorf("translog: log key: %w", err)
	}
	p := Policy{Log: v, Required: required}
	for _, k := range witnessKeys {
		w, err := witnessVerifier(k)
		if err != nil {
			return Policy{}, fmt.Errorf("translog: witness key %q: %w", k, err)
		}
		p.Witnesses = append(p.Witnesses, w)
	}
	if required < 0 || required > len(p.Witnesses) {
		return Policy{}, fmt.Errorf("translog: %d witnesses required of %d", required, len(p.Witnesses))
	}
	return p, nil
}

// witnessVerifier accepts a witness's Ed25519 vkey or its cosignature/v1
// vkey; both verify timestamped cosignatures (c2sp.org/tlog-cosignature).
func witnessVerifier(vkey string) (note.Verifier, error) {
	return f_note.NewVerifierForCosignatureV1(vkey)
}

func verifyErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrVerify}, args...)...)
}

// VerifyCheckpoint checks a checkpoint note: the log's signature, its body
// (origin, size, root hash), and at least p.Required cosignatures from the
// policy's witnesses. Signatures by keys not in the policy are ignored.
func VerifyCheckpoint(cp []byte, p Policy) (*Checkpoint, error) {
	if p.Log == nil {
		return nil, errors.New("translog: policy has no log key")
	}
	if len(cp) > maxNoteSize {
		return nil, verifyErr("checkpoint is %d bytes", len(cp))
	}
	vs := append([]note.Verifier{p.Log}, p.Witnesses...)
	n, err := note.Open(cp, note.VerifierList(vs...))
	if err != nil {
		return nil, verifyErr("checkpoint signatures: %v", err)
	}
	logSigned := false
	seen := map[string]bool{}
	var cosigners []string
	for _, s := range n.Sigs {
		if s.Name == p.Log.Name() && s.Hash == p.Log.KeyHash() {
			logSigned = true
			continue
		}
		for _, w := range p.Witnesses {
			id := w.Name() + "+" + strconv.FormatUint(uint64(w.KeyHash()), 16)
			if s.Name == w.Name() && s.Hash == w.KeyHash() && !seen[id] {
				seen[id] = true
				cosigners = append(cosigners, w.Name())
			}
		}
	}
	if !logSigned {
		return nil, verifyErr("checkpoint is not signed by the log %q", p.Log.Name())
	}
	if len(cosigners) < p.Required {
		return nil, verifyErr("checkpoint has %d of the %d witness cosignatures required", len(cosigners), p.Required)
	}
	c, err := parseCheckpointBody(n.Text)
	if err != nil {
		return nil, err
	}
	if c.Origin != p.Log.Name() {
		return nil, verifyErr("checkpoint origin %q is not the log's %q", c.Origin, p.Log.Name())
	}
	c.Raw = bytes.Clone(cp)
	c.Cosigners = cosigners
	return c, nil
}

// parseCheckpointBody parses a tlog-checkpoint note text: origin, decimal
// size without leading zeroes, base64 SHA-256 root hash, then optional
// extension lines, each newline-terminated.
func parseCheckpointBody(text string) (*Checkpoint, error) {
	lines := strings.Split(text, "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		return nil, verifyErr("malformed checkpoint body")
	}
	origin, sizeText, hashText := lines[0], lines[1], lines[2]
	if origin == "" {
		return nil, verifyErr("checkpoint has an empty origin")
	}
	size, err := parseDecimal(sizeText)
	if err != nil {
		return nil, verifyErr("checkpoint size: %v", err)
	}
	hash, err := decodeHash(hashText)
	if err != nil {
		return nil, verifyErr("checkpoint root hash: %v", err)
	}
	for _, ext := range lines[3 : len(lines)-1] {
		if ext == "" {
			return nil, verifyErr("checkpoint has an empty extension line")
		}
	}
	return &Checkpoint{Origin: origin, Size: size, Hash: hash}, nil
}

// parseDecimal parses an ASCII decimal with no sign and no leading zeroes.
func parseDecimal(s string) (uint64, error) {
	if s == "" || len(s) > 1 && s[0] == '0' || strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, fmt.Errorf("%q is not a canonical decimal", s)
	}
	return strconv.ParseUint(s, 10, 64)
}

func decodeHash(s string) ([32]byte, error) {
	var h [32]byte
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != len(h) || base64.StdEncoding.EncodeToString(b) != s {
		return h, fmt.Errorf("%q is not a base64 SHA-256 hash", s)
	}
	copy(h[:], b)
	return h, nil
}

// InclusionProof is a parsed tlog-proof (c2sp.org/tlog-proof).
type InclusionProof struct {
	Extra      []byte // opaque, unauthenticated; nil when absent
	Index      uint64
	Hashes     [][]byte
	Checkpoint []byte // the checkpoint note, verbatim
}

// ParseProof parses a tlog-proof without verifying anything.
func ParseProof(b []byte) (*InclusionProof, error) {
	if len(b) > maxNoteSize+(maxProofHashes+3)*64 {
		return nil, verifyErr("proof is %d bytes", len(b))
	}
	rest := string(b)
	next := func() (string, bool) {
		line, r, ok := strings.Cut(rest, "\n")
		rest = r
		return line, ok
	}
	p := &InclusionProof{}
	line, ok := next()
	if !ok || line != proofHeader {
		return nil, verifyErr("not a %s proof", proofHeader)
	}
	line, ok = next()
	if extra, found := strings.CutPrefix(line, "extra "); ok && found {
		e, err := base64.StdEncoding.Strict().DecodeString(extra)
		if err != nil || base64.StdEncoding.EncodeToString(e) != extra {
			return nil, verifyErr("proof extra data is not base64")
		}
		p.Extra = e
		line, ok = next()
	}
	idx, found := strings.CutPrefix(line, "index ")
	if !ok || !found {
		return nil, verifyErr("proof has no index line")
	}
	var err error
	if p.Index, err = parseDecimal(idx); err != nil {
		return nil, verifyErr("proof index: %v", err)
	}
	for {
		line, ok = next()
		if !ok {
			return nil, verifyErr("proof has no checkpoint")
		}
		if line == "" {
			break
		}
		if len(p.Hashes) == maxProofHashes {
			return nil, verifyErr("proof has more than %d hashes", maxProofHashes)
		}
		h, err := decodeHash(line)
		if err != nil {
			return nil, verifyErr("proof hash: %v", err)
		}
		p.Hashes = append(p.Hashes, h[:])
	}
	if rest == "" {
		return nil, verifyErr("proof has no checkpoint")
	}
	p.Checkpoint = []byte(rest)
	return p, nil
}

// Marshal encodes the proof in the tlog-proof format.
func (p *InclusionProof) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString(proofHeader + "\n")
	if p.Extra != nil {
		b.WriteString("extra " + base64.StdEncoding.EncodeToString(p.Extra) + "\n")
	}
	fmt.Fprintf(&b, "index %d\n", p.Index)
	for _, h := range p.Hashes {
		b.WriteString(base64.StdEncoding.EncodeToString(h) + "\n")
	}
	b.WriteString("\n")
	b.Write(p.Checkpoint)
	return b.Bytes()
}

// VerifyProof checks an offline receipt: that the checkpoint in it
// satisfies the policy and that entry is in the log at the proof's index
// under that checkpoint. It returns the index and the verified checkpoint.
func VerifyProof(proofText, entry []byte, p Policy) (uint64, *Checkpoint, error) {
	ip, err := ParseProof(proofText)
	if err != nil {
		return 0, nil, err
	}
	cp, err := VerifyCheckpoint(ip.Checkpoint, p)
	if err != nil {
		return 0, nil, err
	}
	if ip.Index >= cp.Size {
		return 0, nil, verifyErr("index %d is outside the checkpoint's tree of %d entries", ip.Index, cp.Size)
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(entry)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, ip.Index, cp.Size, leaf, ip.Hashes, cp.Hash[:]); err != nil {
		return 0, nil, verifyErr("inclusion proof for index %d: %v", ip.Index, err)
	}
	return ip.Index, cp, nil
}

// VerifyConsistency checks that new extends old: same log, and proof is a
// valid RFC 6962 consistency proof between them. A checkpoint that forks
// from another one fails here.
func VerifyConsistency(old, new *Checkpoint, hashes [][]byte) error {
	if old == nil || new == nil {
		return errors.New("translog: nil checkpoint")
	}
	if old.Origin != new.Origin {
		return verifyErr("checkpoints are of different logs (%q, %q)", old.Origin, new.Origin)
	}
	if old.Size > new.Size {
		return verifyErr("older checkpoint has %d entries, newer %d", old.Size, new.Size)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old.Size, new.Size, hashes, old.Hash[:], new.Hash[:]); err != nil {
		return verifyErr("consistency %d → %d: %v", old.Size, new.Size, err)
	}
	return nil
}

// Checkpoint returns the latest published checkpoint note, with the
// witnesses' cosignatures.
func (l *Log) Checkpoint(ctx context.Context) ([]byte, error) { return l.ro.Checkpoint(ctx) }

// AwaitCheckpoint waits until a checkpoint covering at least size entries
// is published, and returns it.
func (l *Log) AwaitCheckpoint(ctx context.Context, size uint64) ([]byte, error) {
	return l.ro.AwaitCheckpoint(ctx, size)
}

// parseUnverified parses our own checkpoint file's body; the file was
// written by this log, so its signatures are not checked here.
func parseUnverified(cp []byte) (*Checkpoint, error) {
	text, _, ok := bytes.Cut(cp, []byte("\n\n"))
	if !ok {
		return nil, fmt.Errorf("translog: malformed checkpoint file")
	}
	c, err := parseCheckpointBody(string(text) + "\n")
	if err != nil {
		return nil, err
	}
	c.Raw = cp
	return c, nil
}

// Proof returns the tlog-proof receipt for the entry at index, against the
// latest published checkpoint; ErrNotPublished if that does not cover it.
func (l *Log) Proof(ctx context.Context, index uint64) ([]byte, error) {
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	return l.ProofAt(ctx, index, cp)
}

// ProofAt returns the tlog-proof for the entry at index against the given
// checkpoint of this log (the latest one, or one stored with a timestamp).
func (l *Log) ProofAt(ctx context.Context, index uint64, checkpoint []byte) ([]byte, error) {
	c, err := parseUnverified(checkpoint)
	if err != nil {
		return nil, err
	}
	if c.Origin != l.cfg.Origin {
		return nil, fmt.Errorf("translog: checkpoint is of log %q, not %q", c.Origin, l.cfg.Origin)
	}
	return l.ro.ProofAt(ctx, index, checkpoint)
}

// Consistency returns the RFC 6962 consistency proof between two tree
// sizes of this log, the larger no larger than the latest published
// checkpoint's.
func (l *Log) Consistency(ctx context.Context, oldSize, newSize uint64) ([][]byte, error) {
	return l.ro.Consistency(ctx, oldSize, newSize)
}
