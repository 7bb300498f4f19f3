// Package web serves Corridor's two sites: the staff site (case work,
// administration) and the public site (intake, a person's return page).
// Every route is declared in routes.go. Handlers return errors; one
// adapter (errors.go) turns them into a status and a safe message.
package web

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/evidence"
	"github.com/corridor-org/corridor/internal/i18n"
	"github.com/corridor-org/corridor/internal/intake"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/ratelimit"
	"github.com/corridor-org/corridor/internal/receipt"
	"github.com/corridor-org/corridor/internal/staff"
	"github.com/corridor-org/corridor/internal/stats"
	"github.com/corridor-org/corridor/internal/store"
	"github.com/corridor-org/corridor/internal/upload"
)

// Config wires the web layer to the domain.
type Config struct {
	Store     store.Store
	Vault     *keys.Vault
	Staff     *staff.Service
	Intake    *intake.Service
	Cases     *cases.Service
	Audit     *audit.Log
	Catalogue *i18n.Catalogue
	Logger    *slog.Logger
	Now       func() time.Time

	// SecureCookies marks cookies Secure; set it when the sites are served
	// over TLS (directly or by a terminating proxy). Onion services are
	// plain HTTP to the browser, so it is off by default.
	SecureCookies bool
	// OnionLocation, if set, is advertised on public pages with the
	// Onion-Location header (Tor Browser offers to switch).
	OnionLocation string
	// QuickExitURL is where the "quick exit" link goes: a neutral site.
	QuickExitURL string

	RootKDF    keys.KDFParams // for first-run setup and passphrase changes
	ReceiptKDF keys.KDFParams // for first-run setup

	// PersonSessionIdle ends a person's return-page session.
	PersonSessionIdle time.Duration
	// MaxFormBytes caps any request body.
	MaxFormBytes int64

	// Public rate limits, global (no per-IP state is ever kept).
	SubmitRate, SubmitBurst   float64
	ReceiptRate, ReceiptBurst float64
	// Per request: messages a person may send.
	MessageRate, MessageBurst float64

	// ReceiptKind is the style of receipt the intake issues; the honeypot's
	// decoy receipt must look the same.
	ReceiptKind receipt.Kind

	// KDFGate caps concurrent argon2id runs (log-in, unseal, passphrase
	// change); share it with the intake so the process's peak memory stays
	// bounded whatever arrives.
	KDFGate *ratelimit.Gate

	// Alerts sets when "no contact" and response-time alerts fire; zero
	// values mean the defaults of package cases.
	Alerts cases.AlertConfig

	// Evidence is the evidence vault; nil turns evidence off (no upload
	// forms, no evidence pages). See evidence.go.
	Evidence *evidence.Service
	// Uploads stages staff's resumable (tus) uploads, served under
	// /evidence/uploads/ on the staff site; nil turns resumable uploads
	// off (the plain upload form still works).
	Uploads *upload.Store
	// Log serves the transparency log read-only under /log/ on the public
	// site ((*translog.Log).Handler()); nil answers 404 there.
	Log http.Handler
	// Proofs makes the offline receipt (tlog-proof) of a logged custody
	// event (*translog.Log); nil offers none.
	Proofs ProofSource
	// EvidenceMaxRequest caps one upload from the return page or the
	// staff form, all its files together (0: the vault's size limit).
	EvidenceMaxRequest int64
	// EvidenceMaxFiles caps the files in one such upload (0: 20).
	EvidenceMaxFiles int

	// Stats is public statistics; nil means one with the built-in
	// configuration over Store, Vault, Audit and Cases.
	Stats *stats.Service
}

// Defaults fills unset fields with production defaults.
func (c *Config) Defaults() {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.QuickExitURL == "" {
		c.QuickExitURL = "https://www.wikipedia.org/"
	}
	if c.RootKDF == (keys.KDFParams{}) {
		c.RootKDF = keys.RootKDF
	}
	if c.ReceiptKDF == (keys.KDFParams{}) {
		c.ReceiptKDF = keys.ReceiptKDF
	}
	if c.PersonSessionIdle == 0 {
		c.PersonSessionIdle = 15 * time.Minute
	}
	if c.MaxFormBytes == 0 {
		c.MaxFormBytes = 128 << 10
	}
	if c.SubmitRate == 0 {
		c.SubmitRate, c.SubmitBurst = 1, 30
	}
	if c.ReceiptRate == 0 {
		c.ReceiptRate, c.ReceiptBurst = 2, 20
	}
	if c.KDFGate == nil {
		c.KDFGate = ratelimit.NewGate(2)
	}
	if c.MessageRate == 0 {
		c.MessageRate, c.MessageBurst = 1.0/30, 10
	}
}

// Server holds both sites.
type Server struct {
	cfg     Config
	tmpl    *templates
	persons *personSessions
	setup   *setupState
	sent    *onceSet // request forms already submitted

	submitLimit  *ratelimit.Limiter
	receiptLimit *ratelimit.Limiter
	messageLimit *ratelimit.Keyed
	unsealLimit  *ratelimit.Limiter
	loginLimit   *ratelimit.Limiter

	ev *evidenceWeb // evidence uploads and pages (evidence.go)
}

// New checks the templates and catalogue and returns a Server.
func New(cfg Config) (*Server, error) {
	cfg.Defaults()
	t, err := parseTemplates(cfg.Catalogue)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:          cfg,
		tmpl:         t,
		persons:      newPersonSessions(cfg.PersonSessionIdle, 10000, cfg.Now),
		sent:         newOnceSet(6*time.Hour, 100000, cfg.Now),
		submitLimit:  ratelimit.NewLimiter(cfg.SubmitRate, int(cfg.SubmitBurst), cfg.Now),
		receiptLimit: ratelimit.NewLimiter(cfg.ReceiptRate, int(cfg.ReceiptBurst), cfg.Now),
		messageLimit: ratelimit.NewKeyed(cfg.MessageRate, int(cfg.MessageBurst), 100000, cfg.Now),
		unsealLimit:  ratelimit.NewLimiter(0.2, 5, cfg.Now),
		loginLimit:   ratelimit.NewLimiter(5, 20, cfg.Now),
	}
	// Sealing is the panic button: people's unlocked sessions go too.
	cfg.Vault.OnSeal(s.persons.clear)
	if !cfg.Vault.Initialised() {
		s.setup, err = newSetupState()
		if err != nil {
			return nil, err
		}
	}
	if s.ev, err = s.newEvidenceWeb(); err != nil {
		return nil, err
	}
	return s, nil
}

// SetupPath returns the one-time first-run path (with its token), or ""
// when the installation is already set up.
func (s *Server) SetupPath() string {
	if s.setup == nil || s.setup.isDone() {
		return ""
	}
	return "/setup?token=" + s.setup.token
}

// Close wipes in-memory person sessions.
func (s *Server) Close() { s.persons.clear() }

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("web: crypto/rand failed: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// StaffHandler serves the staff site.
func (s *Server) StaffHandler() http.Handler {
	return s.staffRoutes()
}

// PublicHandler serves the public site.
func (s *Server) PublicHandler() http.Handler {
	return s.publicRoutes()
}

func (s *Server) receiptKDF() keys.KDFParams { return s.cfg.ReceiptKDF }

// withKDF runs an argon2id-heavy step inside the KDF gate.
func (s *Server) withKDF(r *http.Request, f func() error) error {
	release, err := s.cfg.KDFGate.Enter(r.Context())
	if err != nil {
		return errBusy
	}
	defer release()
	return f()
}
