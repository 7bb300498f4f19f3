package web

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"sync"

	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/staff"
	"github.com/corridor-org/corridor/internal/store"
)

// setupState is the one-time first-run link: the token printed on the
// terminal and the TOTP secret the first admin enrols.
type setupState struct {
	mu     sync.Mutex
	token  string
	secret string
	uri    string
	done   bool
}

func newSetupState() (*setupState, error) {
	secret, uri, err := staff.NewTOTPSecret("admin")
	if err != nil {
		return nil, err
	}
	return &setupState{token: randomToken(24), secret: secret, uri: uri}, nil
}

func (st *setupState) isDone() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.done
}

type setupView struct {
	Token    string
	Secret   string
	QR       template.URL
	Problem  string
	Username string
}

func (s *Server) setupToken(r *http.Request, token string) bool {
	if s.setup == nil || s.setup.isDone() || s.cfg.Vault.Initialised() {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(token), []byte(s.setup.token)) == 1
}

func (s *Server) renderSetup(w http.ResponseWriter, r *http.Request, status int, problem, username string) error {
	png, err := staff.QRCodePNG(s.setup.uri)
	if err != nil {
		return err
	}
	p := s.newPage(r)
	p.Title = p.L.T("setup.title")
	p.CSRF = s.preCSRF(w, r)
	p.Data = setupView{
		Token: s.setup.token, Secret: s.setup.secret, Problem: problem, Username: username,
		QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)),
	}
	s.render(w, r, status, "setup", p)
	return nil
}

func (s *Server) setupForm(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Vault.Initialised() {
		return seeOther(w, r, "/login")
	}
	if !s.setupToken(r, r.URL.Query().Get("token")) {
		return httpError(http.StatusForbidden, "setup.need_token", nil)
	}
	return s.renderSetup(w, r, http.StatusOK, "", "")
}

func (s *Server) setupSubmit(w http.ResponseWriter, r *http.Request) error {
	if !s.setupToken(r, r.PostForm.Get("token")) {
		return httpError(http.StatusForbidden, "setup.need_token", nil)
	}
	p := s.newPage(r)
	f := r.PostForm
	username := f.Get("username")
	pass, pass2 := f.Get("passphrase"), f.Get("passphrase2")
	pw, pw2 := f.Get("password"), f.Get("password2")
	var problem string
	switch {
	case len([]rune(pass)) < 12:
		problem = "setup.passphrase_short"
	case pass != pass2:
		problem = "setup.passphrase_mismatch"
	case pw != pw2:
		problem = "account.mismatch"
	case pw == pass:
		problem = "setup.same_secret"
	case !staff.ValidTOTP(s.setup.secret, f.Get("code"), s.cfg.Now()):
		problem = "setup.bad_code"
	}
	if problem == "" {
		if _, err := staff.NormaliseUsername(username); err != nil {
			problem = "users.bad_name"
		} else if err := staff.CheckPassword(pw, username, s.cfg.Staff.MinPasswordLen()); err != nil {
			problem = "account.rejected"
		}
	}
	if problem != "" {
		return s.renderSetup(w, r, http.StatusUnprocessableEntity, p.L.T(problem), username)
	}
	s.setup.mu.Lock()
	defer s.setup.mu.Unlock()
	if s.setup.done {
		return httpError(http.StatusForbidden, "setup.need_token", nil)
	}
	ctx := r.Context()
	err := s.cfg.Store.Tx(ctx, func(tx store.Store) error {
		return s.cfg.Vault.Initialise(ctx, tx, []byte(pass), s.cfg.RootKDF, s.receiptKDF())
	})
	if err != nil {
		s.cfg.Vault.Abandon()
		if errors.Is(err, keys.ErrAlreadyInitialised) {
			return httpError(http.StatusForbidden, "setup.need_token", err)
		}
		return err
	}
	s.setup.done = true
	if _, err := s.cfg.Staff.CreateUserWithPassword(ctx, 0, username, store.RoleAdmin, pw, s.setup.secret); err != nil {
		return err
	}
	if err := s.cfg.Audit.Record(ctx, 0, "keys.init", "keys"); err != nil {
		return err
	}
	return seeOther(w, r, "/login")
}
