package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/corridor-org/corridor/internal/blob"
	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/config"
	"github.com/corridor-org/corridor/internal/control"
	"github.com/corridor-org/corridor/internal/evidence"
	"github.com/corridor-org/corridor/internal/i18n"
	"github.com/corridor-org/corridor/internal/intake"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/logging"
	"github.com/corridor-org/corridor/internal/ratelimit"
	"github.com/corridor-org/corridor/internal/receipt"
	"github.com/corridor-org/corridor/internal/staff"
	"github.com/corridor-org/corridor/internal/stats"
	"github.com/corridor-org/corridor/internal/upload"
	"github.com/corridor-org/corridor/internal/web"
	"k8s.io/klog/v2"
)

func serve(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "serve", "[flags]")
	cfg := config.Register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := config.Apply(fs, env.Getenv); err != nil {
		return err
	}
	if err := cfg.Check(); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return err
	}
	logger := logging.New(env.Stderr, level, cfg.LogFormat == "json")
	// tessera (the log's storage) reports through klog; send that through
	// the same redacting logger instead of straight to standard error.
	klog.SetSlogLogger(logger)

	form := intake.DefaultForm()
	if cfg.Form != "" {
		data, err := os.ReadFile(cfg.Form)
		if err != nil {
			return fmt.Errorf("form: %w", err)
		}
		if form, err = intake.ParseForm(data); err != nil {
			return err
		}
	}
	workflow := cases.DefaultWorkflow()
	if cfg.Workflow != "" {
		data, err := os.ReadFile(cfg.Workflow)
		if err != nil {
			return fmt.Errorf("workflow: %w", err)
		}
		if workflow, err = cases.ParseWorkflow(data); err != nil {
			return err
		}
	}
	cat, err := i18n.Load()
	if err != nil {
		return err
	}
	kind := receipt.Digits
	if cfg.Receipt == "words" {
		kind = receipt.Words
	}

	scfg := staff.DefaultConfig()
	scfg.SessionIdle = cfg.SessionIdle
	scfg.TOTPIssuer = cfg.TOTPIssuer
	a, err := openApp(ctx, env, cfg.Data, cfg.DatabaseURL, scfg)
	if err != nil {
		return err
	}
	defer a.Close()
	if a.vault.Initialised() && a.vault.ReceiptKDF().MemoryKiB < keys.ReceiptKDF.MemoryKiB {
		fmt.Fprintln(env.Stderr, "WARNING: this installation was initialised with test KDF costs: receipts and the passphrase are cheap to guess. Never use it for real requests.")
	}

	passFile := cfg.PassphraseFile
	if passFile == "" {
		passFile = env.Getenv("CORRIDOR_PASSPHRASE_FILE")
	}
	if passFile != "" && a.vault.Initialised() {
		pass, err := readPassphrase(env, passFile)
		if err != nil {
			return err
		}
		err = a.vault.Unseal(ctx, pass)
		keys.Wipe(pass)
		if err != nil {
			return fmt.Errorf("unseal at start: %w", err)
		}
		if err := a.audit.Record(ctx, 0, "keys.unseal", "keys"); err != nil {
			return err
		}
	}

	// One gate for every argon2id run (receipts, log-ins, unseal) bounds
	// the process's peak memory whatever arrives.
	kdfGate := ratelimit.NewGate(2)
	in := intake.New(a.st, a.vault, a.audit, intake.Config{Form: form, ReceiptKind: kind, KDFGate: kdfGate})
	cs := cases.New(a.st, a.vault, a.audit, workflow, cases.DefaultPolicy(), time.Now)

	statsCfg := stats.DefaultConfig()
	if cfg.Stats != "" {
		data, err := os.ReadFile(cfg.Stats)
		if err != nil {
			return fmt.Errorf("statistics configuration: %w", err)
		}
		if statsCfg, err = stats.ParseConfig(data); err != nil {
			return err
		}
	}
	statsSvc, err := stats.New(a.st, a.vault, a.audit, cs, statsCfg, time.Now)
	if err != nil {
		return err
	}

	logSet, err := readLogSettings(cfg.LogOrigin, cfg.Witnesses, cfg.TSAURL, cfg.TSARoots, logger)
	if err != nil {
		return err
	}
	seq := newSequencer(a, logSet, logger)
	blobs, err := blob.NewFS(filepath.Join(a.dir, BlobsName))
	if err != nil {
		return err
	}
	ev := evidence.New(a.st, a.vault, a.audit, blobs, cs, evidence.Config{
		MaxSize: int64(cfg.EvidenceMaxSize), PersonQuota: int64(cfg.PersonQuota),
		CustodianOnly: !cfg.EvidenceInAppView, Logged: seq.Poke,
	})
	uploads, err := upload.New(filepath.Join(a.dir, UploadsName), vaultKeyring{a.vault},
		upload.Options{MaxSize: int64(cfg.EvidenceMaxSize), Expiry: cfg.UploadExpiry})
	if err != nil {
		return err
	}
	srv, err := web.New(web.Config{
		Store: a.st, Vault: a.vault, Staff: a.staff, Intake: in, Cases: cs, Audit: a.audit, Catalogue: cat, Logger: logger,
		SecureCookies: cfg.SecureCookies, OnionLocation: cfg.OnionLocation, QuickExitURL: cfg.QuickExitURL,
		PersonSessionIdle: cfg.PersonIdle, KDFGate: kdfGate, ReceiptKind: kind,
		Alerts:   cases.AlertConfig{NoContact: cfg.AlertNoContact, Response: cfg.AlertResponse},
		Evidence: ev, Uploads: uploads, Log: seq.Handler(), Proofs: seq, Stats: statsSvc,
	})
	if err != nil {
		return err
	}
	defer srv.Close()

	ctl, err := control.Listen(cfg.Data, &controlHandler{a: a})
	if err != nil {
		return err
	}
	defer ctl.Close()

	staffLn, err := net.Listen("tcp", cfg.StaffListen)
	if err != nil {
		return fmt.Errorf("staff listener: %w", err)
	}
	publicLn, err := net.Listen("tcp", cfg.PublicListen)
	if err != nil {
		staffLn.Close()
		return fmt.Errorf("public listener: %w", err)
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go ctl.Serve(ctx)

	staffURL := "http://" + staffLn.Addr().String()
	fmt.Fprintf(env.Stdout, "Corridor is running.\n  staff site:  %s\n  public site: http://%s\n", staffURL, publicLn.Addr())
	if p := srv.SetupPath(); p != "" {
		fmt.Fprintf(env.Stdout, "\nFirst run: open this one-time link to set the unseal passphrase and create the first administrator:\n  %s%s\n\n", staffURL, p)
	} else if a.vault.Sealed() {
		fmt.Fprintf(env.Stdout, "The server is sealed: unseal it at %s/unseal or with 'corridor unseal --data %s'.\n", staffURL, cfg.Data)
	}

	servers := []*http.Server{newHTTPServer(srv.StaffHandler()), newHTTPServer(srv.PublicHandler())}
	errc := make(chan error, 2)
	for i, ln := range []net.Listener{staffLn, publicLn} {
		go func() { errc <- servers[i].Serve(ln) }()
	}
	go maintenance(ctx, a, cs, cfg.AutoSeal, logger)
	go sweeper(ctx, ev, uploads, logger)
	go seq.Run(ctx)
	logger.Info("serving", "event", "start")

	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(shutdownCtx)
	}
	logger.Info("stopped", "event", "stop")
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		// net/http's own error log names client addresses (e.g. on TLS
		// handshake errors); Corridor never records them.
		ErrorLog: log.New(io.Discard, "", 0),
	}
}

// maintenance seals after inactivity, deletes idle sessions, and (hourly)
// erases cases whose retention time has come.
func maintenance(ctx context.Context, a *app, cs *cases.Service, autoSeal time.Duration, logger *slog.Logger) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	var lastRetention time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if time.Since(lastRetention) >= time.Hour {
			lastRetention = time.Now()
			n, err := cs.ApplyRetention(ctx)
			if err != nil {
				logger.Error("retention failed", "event", "retention", "err", err)
			} else if n > 0 {
				logger.Info("cases erased by retention rules", "event", "retention", "count", n)
			}
		}
		if a.vault.SealIfIdle(autoSeal) {
			_ = a.audit.Record(ctx, 0, "keys.autoseal", "keys")
			logger.Info("sealed after inactivity", "event", "autoseal")
		}
		if n, err := a.staff.PurgeSessions(ctx); err == nil && n > 0 {
			logger.Debug("idle sessions removed", "count", n)
		}
	}
}

// sweeper removes, hourly, what interrupted work left behind: evidence
// blobs no record refers to (a crash between the blob's rename and the
// database commit) and resumable uploads past their expiry.
func sweeper(ctx context.Context, ev *evidence.Service, uploads *upload.Store, logger *slog.Logger) {
	for {
		if n, err := ev.SweepBlobs(ctx, time.Now().Add(-time.Hour)); err != nil {
			logger.Error("evidence sweep failed", "event", "sweep", "err", err)
		} else if n > 0 {
			logger.Info("unreferenced evidence blobs removed", "event", "sweep", "count", n)
		}
		if n, err := uploads.Sweep(ctx); err != nil {
			logger.Error("upload sweep failed", "event", "sweep", "err", err)
		} else if n > 0 {
			logger.Info("expired uploads removed", "event", "sweep", "count", n)
		}
		sleep(ctx, time.Hour)
		if ctx.Err() != nil {
			return
		}
	}
}

// vaultKeyring wraps resumable uploads' data keys with the vault, so
// staged uploads stay unreadable at rest and resume only while unsealed.
type vaultKeyring struct{ v *keys.Vault }

func (k vaultKeyring) Wrap(id string, dk []byte) ([]byte, error) {
	return k.v.WrapDataKey("upload/"+id, dk)
}

func (k vaultKeyring) Unwrap(id string, wrapped []byte) ([]byte, error) {
	return k.v.UnwrapDataKey("upload/"+id, wrapped)
}

type controlHandler struct{ a *app }

func (h *controlHandler) Unseal(ctx context.Context, pass []byte) error {
	defer keys.Wipe(pass)
	if err := h.a.vault.Unseal(ctx, pass); err != nil {
		if errors.Is(err, keys.ErrWrongPassphrase) {
			_ = h.a.audit.Record(ctx, 0, "keys.unseal_failed", "keys")
			return errors.New("wrong passphrase")
		}
		return err
	}
	return h.a.audit.Record(ctx, 0, "keys.unseal", "keys")
}

func (h *controlHandler) Seal(ctx context.Context) error {
	err := h.a.audit.Record(ctx, 0, "keys.seal", "keys")
	h.a.vault.Seal()
	return err
}

func (h *controlHandler) Status(ctx context.Context) control.Status {
	return control.Status{Initialised: h.a.vault.Initialised(), Sealed: h.a.vault.Sealed()}
}

func unsealCmd(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "unseal", "--data DIR [--passphrase-file F]")
	dir := fs.String("data", "corridor-data", "data `directory` of the running server")
	passFile := fs.String("passphrase-file", "", "read the passphrase from this `file` (or CORRIDOR_PASSPHRASE_FILE); otherwise it is typed")
	if err := parse(fs, args); err != nil {
		return err
	}
	st, err := control.GetStatus(ctx, *dir)
	if err != nil {
		return err
	}
	if !st.Sealed {
		fmt.Fprintln(env.Stdout, "already unsealed")
		return nil
	}
	pass, err := readPassphrase(env, *passFile)
	if err != nil {
		return err
	}
	defer keys.Wipe(pass)
	if err := control.Unseal(ctx, *dir, pass); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, "unsealed")
	return nil
}

func sealCmd(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "seal", "--data DIR")
	dir := fs.String("data", "corridor-data", "data `directory` of the running server")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := control.Seal(ctx, *dir); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, "sealed")
	return nil
}

func statusCmd(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "status", "--data DIR")
	dir := fs.String("data", "corridor-data", "data `directory` of the running server")
	if err := parse(fs, args); err != nil {
		return err
	}
	st, err := control.GetStatus(ctx, *dir)
	if err != nil {
		return err
	}
	switch {
	case !st.Initialised:
		fmt.Fprintln(env.Stdout, "not initialised")
	case st.Sealed:
		fmt.Fprintln(env.Stdout, "sealed")
	default:
		fmt.Fprintln(env.Stdout, "unsealed")
	}
	return nil
}

func versionCmd(ctx context.Context, env *Env, args []string) error {
	fmt.Fprintln(env.Stdout, "corridor", Version)
	return nil
}

// Version is set at build time with -ldflags "-X …/cli.Version=…".
var Version = "dev"
