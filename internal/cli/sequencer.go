package cli

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/corridor-org/corridor/internal/store"
	"github.com/corridor-org/corridor/internal/translog"
)

// LogName is the transparency log's directory inside the data directory.
const LogName = "log"

// UploadsName is the directory of staged resumable uploads (encrypted).
const UploadsName = "uploads"

// metaLogOrigin pins the log's origin line: witnesses remember it, so a
// changed --log-origin on an existing log is refused rather than silently
// starting a second, unrelated log in the same directory.
const metaLogOrigin = "translog.origin"

// metaLogKey keeps the log's verifier key (public), so the public site can
// serve /log/key while the server is sealed.
const metaLogKey = "translog.vkey"

// logSource adapts the store's outbox to translog.BatchSource.
var _ translog.BatchSource = logSource{}

// logSource adapts the store's outbox to translog.Source.
type logSource struct{ st store.Store }

func (s logSource) Pending(ctx context.Context, max int) ([]translog.Pending, error) {
	es, err := s.st.OutboxPending(ctx, max)
	if err != nil {
		return nil, err
	}
	out := make([]translog.Pending, len(es))
	for i, e := range es {
		out[i] = translog.Pending{Seq: e.Seq, Entry: e.Entry}
	}
	return out, nil
}

func (s logSource) Logged(ctx context.Context, seq int64, index uint64) error {
	return s.st.OutboxDone(ctx, seq, index)
}

// LoggedBatch records a whole round in one transaction: one commit (one
// fsync) per round rather than per event.
func (s logSource) LoggedBatch(ctx context.Context, recs []translog.Record) error {
	return s.st.Tx(ctx, func(tx store.Store) error {
		for _, r := range recs {
			if err := tx.OutboxDone(ctx, r.Seq, r.Index); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s logSource) LoggedCount(ctx context.Context) (uint64, error) {
	return s.st.OutboxLoggedCount(ctx)
}

// logSettings are the transparency log's settings from the configuration.
type logSettings struct {
	origin    string // "" = the stored one, or one derived from the key
	witnesses []translog.Witness
	required  int
	tsaURL    string
	tsaRoots  *x509.CertPool
	interval  time.Duration // 0 = translog's default
	logger    *slog.Logger
}

// readLogSettings loads the witnesses and TSA roots files named in the
// configuration.
func readLogSettings(origin, witnessesFile, tsaURL, tsaRootsFile string, logger *slog.Logger) (logSettings, error) {
	s := logSettings{origin: origin, tsaURL: tsaURL, logger: logger}
	if witnessesFile != "" {
		data, err := os.ReadFile(witnessesFile)
		if err != nil {
			return s, fmt.Errorf("witnesses: %w", err)
		}
		if s.witnesses, s.required, err = translog.ParseWitnesses(data); err != nil {
			return s, fmt.Errorf("witnesses: %s: %w", witnessesFile, err)
		}
	}
	if tsaRootsFile != "" {
		pem, err := os.ReadFile(tsaRootsFile)
		if err != nil {
			return s, fmt.Errorf("tsa roots: %w", err)
		}
		s.tsaRoots = x509.NewCertPool()
		if !s.tsaRoots.AppendCertsFromPEM(pem) {
			return s, fmt.Errorf("tsa roots: %s holds no PEM certificate", tsaRootsFile)
		}
	}
	return s, nil
}

// logOrigin settles the log's origin: the one stored at the first opening
// wins; a configured origin that differs from it is an error.
func (a *app) logOrigin(ctx context.Context, configured string, seed []byte) (string, error) {
	stored, err := a.st.GetMeta(ctx, metaLogOrigin)
	switch {
	case err == nil:
		if configured != "" && configured != string(stored) {
			return "", fmt.Errorf("the transparency log's origin is %q; --log-origin %q would start a different log (witnesses would refuse it)", stored, configured)
		}
		return string(stored), nil
	case !errors.Is(err, store.ErrNotFound):
		return "", err
	}
	origin := configured
	if origin == "" {
		// Derived from the signing seed, so it is stable and unique to
		// this installation, and reveals nothing about the seed.
		h := sha256.Sum256(append([]byte("corridor log origin\x00"), seed...))
		origin = "corridor.invalid/" + hex.EncodeToString(h[:8])
	}
	if err := a.st.CreateMeta(ctx, metaLogOrigin, []byte(origin)); err != nil && !errors.Is(err, store.ErrConflict) {
		return "", err
	}
	return origin, nil
}

// openLog opens the transparency log in the data directory. The vault must
// be unsealed: the checkpoint signing key is derived from the root key.
func (a *app) openLog(ctx context.Context, s logSettings) (*translog.Log, error) {
	seed, err := a.vault.LogSeed()
	if err != nil {
		return nil, err
	}
	origin, err := a.logOrigin(ctx, s.origin, seed)
	if err != nil {
		return nil, err
	}
	signer, err := translog.NewSigner(origin, seed)
	if err != nil {
		return nil, err
	}
	vkey, err := translog.VerifierKey(origin, seed)
	if err != nil {
		return nil, err
	}
	if err := a.st.CreateMeta(ctx, metaLogKey, []byte(vkey)); err != nil && !errors.Is(err, store.ErrConflict) {
		return nil, err
	}
	return translog.Open(ctx, translog.Config{
		Dir: filepath.Join(a.dir, LogName), Origin: origin, Signer: signer,
		Witnesses: s.witnesses, WitnessesRequired: s.required,
		TSAURL: s.tsaURL, TSARoots: s.tsaRoots,
		CheckpointInterval: s.interval, Logger: s.logger,
	})
}

// sequencer runs the transparency log for `corridor serve`: whenever the
// vault is unsealed it opens the log and drains the outbox into it; when
// the vault seals it closes the log (the signing key is gone). The public
// site serves the log's files through handler in both states.
type sequencer struct {
	a       *app
	s       logSettings
	poke    chan struct{}
	current atomic.Pointer[translog.Log]
	files   atomic.Pointer[http.Handler] // the log's files while sealed
	logger  *slog.Logger
}

func newSequencer(a *app, s logSettings, logger *slog.Logger) *sequencer {
	return &sequencer{a: a, s: s, poke: make(chan struct{}, 1), logger: logger}
}

// Poke asks for integration now; it never blocks.
func (q *sequencer) Poke() {
	select {
	case q.poke <- struct{}{}:
	default:
	}
}

// Handler serves the log under /log/ on the public site: the open log's
// handler, or, while the server is sealed, the same files read-only
// (monitors and witnesses keep polling; nothing new is signed meanwhile).
// Before the log has ever been opened there is nothing to serve: 503.
func (q *sequencer) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l := q.current.Load(); l != nil {
			l.Handler().ServeHTTP(w, r)
			return
		}
		if h := q.sealedFiles(r.Context()); h != nil {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Retry-After", "60")
		http.Error(w, "the log is not being served right now", http.StatusServiceUnavailable)
	})
}

// sealedFiles returns a read-only handler over the log directory, made
// once the log exists.
func (q *sequencer) sealedFiles(ctx context.Context) http.Handler {
	if h := q.files.Load(); h != nil {
		return *h
	}
	dir := filepath.Join(q.a.dir, LogName)
	// Not before the first checkpoint is published (the log may be
	// opening right now): until then there is nothing to serve.
	if _, err := os.Stat(filepath.Join(dir, "checkpoint")); err != nil {
		return nil
	}
	vkey, err := q.a.st.GetMeta(ctx, metaLogKey)
	if err != nil {
		return nil
	}
	h, err := translog.DirHandler(dir, string(vkey))
	if err != nil {
		return nil
	}
	q.files.CompareAndSwap(nil, &h)
	return *q.files.Load()
}

// errLogClosed answers proof requests while the server is sealed.
var errLogClosed = errors.New("the transparency log is closed while the server is sealed")

// Proof returns the offline receipt (tlog-proof) of the entry at index.
func (q *sequencer) Proof(ctx context.Context, index uint64) ([]byte, error) {
	l := q.current.Load()
	if l == nil {
		return nil, errLogClosed
	}
	return l.Proof(ctx, index)
}

// Run loops until ctx is done.
func (q *sequencer) Run(ctx context.Context) {
	src := logSource{q.a.st}
	for ctx.Err() == nil {
		if q.a.vault.Sealed() {
			sleep(ctx, time.Second)
			continue
		}
		l, err := q.a.openLog(ctx, q.s)
		if err != nil {
			if ctx.Err() == nil {
				q.logger.Error("transparency log not opened; retrying", "event", "translog", "err", err)
			}
			sleep(ctx, 15*time.Second)
			continue
		}
		q.current.Store(l)
		runCtx, cancel := context.WithCancel(ctx)
		go func() {
			for runCtx.Err() == nil && !q.a.vault.Sealed() {
				sleep(runCtx, time.Second)
			}
			cancel()
		}()
		q.logger.Info("transparency log open", "event", "translog")
		l.Run(runCtx, src, q.poke)
		cancel()
		q.current.Store(nil)
		if err := l.Close(); err != nil {
			q.logger.Error("transparency log close", "event", "translog", "err", err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
