// Package translog is Corridor's public transparency log of custody events.
//
// The log is a tlog-tiles log (https://c2sp.org/tlog-tiles) written by
// github.com/transparency-dev/tessera's POSIX driver into one directory, so
// that the directory can be served as static files and checked with tools no
// one here wrote. Checkpoints are Ed25519 signed notes
// (https://c2sp.org/tlog-checkpoint), cosigned by the configured witnesses
// over the tlog-witness protocol (https://c2sp.org/tlog-witness), and each
// new checkpoint is timestamped by an RFC 3161 authority. Every entry gets an
// offline receipt in the tlog-proof format (https://c2sp.org/tlog-proof).
//
// Entries come from an outbox that the database fills in the same
// transaction as the change an entry records; Integrate drains it in order.
// The log has exactly one sequencer (Open holds an exclusive lock on the
// directory), and Integrate reconciles the log with the outbox after a crash,
// so that an entry is never logged twice nor skipped.
package translog

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/client"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"
)

// Errors callers branch on.
var (
	// ErrLocked means another process (a running `corridor serve`, say)
	// holds the log directory: only one sequencer may write a log.
	ErrLocked = errors.New("translog: the log is in use by another process")
	// ErrDiverged means the log and the database disagree about what has
	// been logged (for example the database was restored from a backup
	// older than the log, or the log directory belongs to another
	// installation). Nothing more is appended until an operator looks.
	ErrDiverged = errors.New("translog: the log and the database disagree")
	// ErrNotPublished means no published checkpoint covers the entry yet;
	// checkpoints follow integration within Config.CheckpointInterval.
	ErrNotPublished = errors.New("translog: entry not yet covered by a published checkpoint")
	// ErrNoTimestamp means no RFC 3161 token is stored for that tree size.
	ErrNoTimestamp = errors.New("translog: no timestamp for this checkpoint")
	// ErrEntryTooLarge means an outbox entry is larger than tlog-tiles
	// allows (65,535 bytes); it can never be logged.
	ErrEntryTooLarge = errors.New("translog: entry too large for the log")
	// ErrVerify is wrapped by every verification failure of a checkpoint,
	// proof, consistency proof or timestamp.
	ErrVerify = errors.New("translog: verification failed")
)

const (
	// maxEntrySize is the tlog-tiles limit: entries in a bundle carry a
	// big-endian uint16 length.
	maxEntrySize = 1<<16 - 1
	// defaultBatch is how many outbox entries one round appends. One round
	// is one tessera batch, written and integrated under one tree-state
	// update, so that a round is in the log either whole or not at all.
	defaultBatch = 256
	// batchMaxAge is how long tessera waits for a batch to fill. A round
	// adds all its entries at once, so this only bounds the latency of a
	// round smaller than defaultBatch.
	batchMaxAge = 5 * time.Millisecond
	// DefaultCheckpointInterval is used when Config.CheckpointInterval is 0.
	DefaultCheckpointInterval = 10 * time.Second
	// witnessTimeout bounds one round of add-checkpoint requests.
	witnessTimeout = 10 * time.Second

	lockFile      = ".sequencer.lock"
	timestampsDir = "timestamps"
)

// NewSigner makes the log's Ed25519 note signer for origin from a 32-byte
// seed. The caller derives the seed from the vault's root key, so that a
// server seized while powered off cannot forge checkpoints.
func NewSigner(origin string, seed []byte) (note.Signer, error) {
	skey, vkey, err := keyPair(origin, seed)
	if err != nil {
		return nil, err
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("translog: signer: %w", err)
	}
	return logSigner{s, vkey}, nil
}

// logSigner is a note.Signer that also knows its verifier key, so that the
// log can serve it at /log/key.
type logSigner struct {
	note.Signer
	vkey string
}

// VerifierKey returns the signer's vkey.
func (s logSigner) VerifierKey() string { return s.vkey }

// VerifierKey returns the log's verifier key in the signed-note vkey form
// (origin+hash+key), the text served at /log/key and given to witnesses.
func VerifierKey(origin string, seed []byte) (string, error) {
	_, vkey, err := keyPair(origin, seed)
	return vkey, err
}

// keyPair encodes the seed in the signed-note private key form, which
// x/mod's note package parses; the key hash is the one in the vkey.
func keyPair(origin string, seed []byte) (skey, vkey string, err error) {
	if len(seed) != ed25519.SeedSize {
		return "", "", fmt.Errorf("translog: log key seed is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	vkey, err = note.NewEd25519VerifierKey(origin, pub)
	if err != nil {
		return "", "", fmt.Errorf("translog: origin %q: %w", origin, err)
	}
	// vkey is name+hash+key; the private key reuses name and hash. A name
	// holds no '+', but the base64 key may, so split off the first two.
	parts := strings.SplitN(vkey, "+", 3)
	hash := parts[1]
	const algEd25519 = 1
	skey = "PRIVATE+KEY+" + origin + "+" + hash + "+" +
		base64.StdEncoding.EncodeToString(append([]byte{algEd25519}, seed...))
	return skey, vkey, nil
}

// Witness is a tlog-witness that cosigns the log's checkpoints.
type Witness struct {
	Name        string // the witness's key name, as in its cosignatures
	VerifierKey string // its vkey (Ed25519 or cosignature/v1)
	URL         string // its submission prefix; add-checkpoint is appended
}

// Config configures Open.
type Config struct {
	Dir    string      // the tiles directory, e.g. DATADIR/log
	Origin string      // checkpoint origin line, e.g. "corridor.example/evidence"
	Signer note.Signer // from NewSigner; its name must be Origin

	// Witnesses are sent every new checkpoint; WitnessesRequired of them
	// must cosign it before it is published. With 0 required, the
	// cosignatures that arrive are kept but a silent witness does not stop
	// publication.
	Witnesses         []Witness
	WitnessesRequired int

	TSAURL string // RFC 3161 endpoint; "" = no timestamping
	// TSARoots, if set, are the authority's trust anchors: tokens are
	// checked against them on receipt. Put the authority's intermediate
	// certificates here too if its tokens do not carry them.
	TSARoots *x509.CertPool

	CheckpointInterval time.Duration // 0 = DefaultCheckpointInterval
	HTTPClient         *http.Client  // for witnesses and the TSA; nil = a client with a timeout
	Logger             *slog.Logger  // nil = discard

	// batch overrides defaultBatch (tests use small rounds to have more
	// crash points).
	batch int
}

// Log is an open transparency log. Its methods are safe for concurrent use;
// Integrate calls are serialised.
type Log struct {
	cfg    Config
	dir    string
	root   atomic.Pointer[os.Root] // Dir, for reads that must stay inside it; nil once closed
	lock   *os.File
	log    *slog.Logger
	client *http.Client

	appender *tessera.Appender
	reader   tessera.LogReader
	ro       *Reader            // the published files, as any reader sees them
	cancel   context.CancelFunc // stops tessera's and our background work
	bg       sync.WaitGroup

	integrate sync.Mutex // one Integrate at a time

	tsMu  sync.Mutex
	stamp []uint64 // sizes with a stored timestamp, ascending

	// afterAppend, if set, runs after a round is in the log and before it
	// is recorded in the source: the crash test kills the process there.
	afterAppend func()
}

// Open opens (creating if needed) the log in cfg.Dir and starts publishing
// checkpoints and, with a TSA configured, timestamping them. It takes an
// exclusive lock on the directory and returns ErrLocked if another process
// holds it. Close releases everything.
func Open(ctx context.Context, cfg Config) (*Log, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.CheckpointInterval == 0 {
		cfg.CheckpointInterval = DefaultCheckpointInterval
	}
	if cfg.batch <= 0 {
		cfg.batch = defaultBatch
	}
	l := &Log{cfg: cfg, dir: cfg.Dir, log: cfg.Logger, client: cfg.HTTPClient}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.client == nil {
		l.client = &http.Client{Timeout: 30 * time.Second}
	}

	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("translog: %w", err)
	}
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	l.lock = lock
	ok := false
	defer func() {
		if !ok {
			l.release()
		}
	}()
	root, err := os.OpenRoot(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("translog: %w", err)
	}
	l.root.Store(root)
	if err := mkdirDurable(filepath.Join(cfg.Dir, timestampsDir)); err != nil {
		return nil, err
	}
	if err := l.loadStamps(); err != nil {
		return nil, err
	}

	driver, err := posix.New(ctx, posix.Config{Path: cfg.Dir, HTTPClient: l.client})
	if err != nil {
		return nil, fmt.Errorf("translog: storage: %w", err)
	}
	if len(cfg.Witnesses) > 0 {
		// A new log publishes its empty checkpoint from inside tessera's
		// set-up, where a witness that is down would make Open fail;
		// create it first without witnesses. (Witnesses cosign it, and
		// every later one, once they answer.)
		if err := initEmpty(ctx, driver, cfg); err != nil {
			return nil, err
		}
	}
	opts, err := appendOptions(cfg)
	if err != nil {
		return nil, err
	}
	// tessera's background work (batching, publishing, garbage
	// collection) lives as long as this context, not the caller's.
	bgctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.cancel = cancel
	l.ro = &Reader{dir: cfg.Dir, fetch: client.FileFetcher{Root: cfg.Dir}}
	l.appender, _, l.reader, err = tessera.NewAppender(bgctx, driver, opts)
	if err != nil {
		return nil, fmt.Errorf("translog: opening the log: %w", err)
	}
	if cfg.TSAURL != "" {
		l.bg.Add(1)
		go func() {
			defer l.bg.Done()
			l.timestampLoop(bgctx)
		}()
	}
	ok = true
	return l, nil
}

func (c *Config) check() error {
	switch {
	case c.Dir == "":
		return errors.New("translog: Config.Dir is empty")
	case c.Signer == nil:
		return errors.New("translog: Config.Signer is nil")
	case c.Origin == "":
		return errors.New("translog: Config.Origin is empty")
	case c.Signer.Name() != c.Origin:
		return fmt.Errorf("translog: signer is for %q, not the origin %q", c.Signer.Name(), c.Origin)
	case c.WitnessesRequired < 0 || c.WitnessesRequired > len(c.Witnesses):
		return fmt.Errorf("translog: %d witnesses required of %d configured", c.WitnessesRequired, len(c.Witnesses))
	case c.CheckpointInterval < 0 || c.CheckpointInterval > 0 && c.CheckpointInterval < 100*time.Millisecond:
		return fmt.Errorf("translog: checkpoint interval %v is below 100ms", c.CheckpointInterval)
	}
	if c.TSAURL != "" {
		if u, err := url.Parse(c.TSAURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return fmt.Errorf("translog: TSA URL %q is not an http(s) URL", c.TSAURL)
		}
	}
	return nil
}

// appendOptions is the tessera configuration shared by Open and the
// benchmark's baseline, so that both write the log the same way.
func appendOptions(cfg Config) (*tessera.AppendOptions, error) {
	opts := tessera.NewAppendOptions().
		WithCheckpointSigner(cfg.Signer).
		WithCheckpointInterval(cfg.CheckpointInterval).
		WithBatching(uint(cfg.batch), batchMaxAge)
	if len(cfg.Witnesses) > 0 {
		group, err := witnessGroup(cfg.Witnesses, cfg.WitnessesRequired)
		if err != nil {
			return nil, err
		}
		opts.WithWitnesses(group, &tessera.WitnessOptions{
			Timeout: witnessTimeout,
			// With no witness required, a silent one must not stop
			// publication; with some required, nothing unwitnessed is
			// published (fail closed).
			FailOpen: cfg.WitnessesRequired == 0,
		})
	}
	return opts, nil
}

// witnessGroup builds tessera's witness policy through its policy text
// format (the Sigsum policy format), the one public way to build a group
// of any size.
func witnessGroup(ws []Witness, required int) (tessera.WitnessGroup, error) {
	var b strings.Builder
	names := make([]string, len(ws))
	for i, w := range ws {
		v, err := witnessVerifier(w.VerifierKey)
		if err != nil {
			return tessera.WitnessGroup{}, fmt.Errorf("translog: witness %q: %w", w.Name, err)
		}
		if w.Name != v.Name() {
			return tessera.WitnessGroup{}, fmt.Errorf("translog: witness %q has a key named %q", w.Name, v.Name())
		}
		u, err := url.Parse(w.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || strings.ContainsAny(w.URL, " \t\n") {
			return tessera.WitnessGroup{}, fmt.Errorf("translog: witness %q: URL %q is not an http(s) URL", w.Name, w.URL)
		}
		names[i] = fmt.Sprintf("w%d", i)
		fmt.Fprintf(&b, "witness %s %s %s\n", names[i], w.VerifierKey, w.URL)
	}
	fmt.Fprintf(&b, "group all-witnesses %d %s\nquorum all-witnesses\n", required, strings.Join(names, " "))
	g, err := tessera.NewWitnessGroupFromPolicy([]byte(b.String()))
	if err != nil {
		return tessera.WitnessGroup{}, fmt.Errorf("translog: witness policy: %w", err)
	}
	return g, nil
}

// initEmpty creates a new log's tree state and empty checkpoint with no
// witnesses; on an existing log it does nothing.
func initEmpty(ctx context.Context, driver tessera.Driver, cfg Config) error {
	if _, err := os.Stat(filepath.Join(cfg.Dir, "checkpoint")); err == nil {
		return nil
	}
	c := cfg
	c.Witnesses, c.WitnessesRequired = nil, 0
	opts, err := appendOptions(c)
	if err != nil {
		return err
	}
	ictx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	_, shutdown, _, err := tessera.NewAppender(ictx, driver, opts)
	if err != nil {
		return fmt.Errorf("translog: creating the log: %w", err)
	}
	return shutdown(ctx)
}

// Close stops background work and releases the directory. It does not wait
// for a checkpoint: what Integrate appended is already durable, and a
// checkpoint covering it is published at the next Open if not before
// (callers that need one first use AwaitCheckpoint).
func (l *Log) Close() error {
	l.integrate.Lock()
	defer l.integrate.Unlock()
	l.appender = nil
	if l.cancel != nil {
		l.cancel()
	}
	l.bg.Wait()
	l.release()
	return nil
}

func (l *Log) release() {
	if l.cancel != nil {
		l.cancel()
	}
	if root := l.root.Swap(nil); root != nil {
		root.Close()
	}
	if l.lock != nil {
		l.lock.Close() // closing the descriptor drops the flock
		l.lock = nil
	}
}
