package web

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"

	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/staff"
	"github.com/corridor-org/corridor/internal/store"
)

type usersView struct {
	Users   []staff.UserView
	Roles   []string
	Problem string
	Notice  string
}

func (s *Server) showUsers(w http.ResponseWriter, r *http.Request, status int, problem, notice string) error {
	list, err := s.cfg.Staff.List(r.Context())
	if err != nil {
		return err
	}
	p := s.newPage(r)
	p.Title = p.L.T("users.title")
	p.Data = usersView{Users: list, Roles: store.Roles(), Problem: problem, Notice: notice}
	s.render(w, r, status, "users", p)
	return nil
}

func (s *Server) users(w http.ResponseWriter, r *http.Request) error {
	notice := ""
	if k := r.URL.Query().Get("done"); k != "" {
		notice = s.newPage(r).L.T("users.done")
	}
	return s.showUsers(w, r, http.StatusOK, "", notice)
}

// credentialsView shows a new password or TOTP secret exactly once, in
// the response to the POST that made it (never stored, never in a URL).
type credentialsView struct {
	Username string
	Password string
	OTPURI   string
	Secret   string
	QR       template.URL
}

func (s *Server) showCredentials(w http.ResponseWriter, r *http.Request, v credentialsView) error {
	if v.OTPURI != "" {
		png, err := staff.QRCodePNG(v.OTPURI)
		if err != nil {
			return err
		}
		v.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	}
	p := s.newPage(r)
	p.Title = p.L.T("credentials.title")
	p.Data = v
	s.render(w, r, http.StatusOK, "credentials", p)
	return nil
}

func (s *Server) userProblem(w http.ResponseWriter, r *http.Request, err error) error {
	L := s.newPage(r).L
	switch {
	case errors.Is(err, staff.ErrLastAdmin):
		return s.showUsers(w, r, http.StatusUnprocessableEntity, L.T("users.last_admin"), "")
	case errors.Is(err, store.ErrConflict):
		return s.showUsers(w, r, http.StatusUnprocessableEntity, L.T("users.exists"), "")
	case errors.Is(err, staff.ErrInvalidUsername):
		return s.showUsers(w, r, http.StatusUnprocessableEntity, L.T("users.bad_name"), "")
	case errors.Is(err, staff.ErrInvalidRole):
		return s.showUsers(w, r, http.StatusUnprocessableEntity, L.T("users.bad_role"), "")
	}
	return err
}

func (s *Server) userCreate(w http.ResponseWriter, r *http.Request) error {
	sc := staffFrom(r)
	creds, err := s.cfg.Staff.CreateUser(r.Context(), sc.user.ID, r.PostForm.Get("username"), r.PostForm.Get("role"))
	if err != nil {
		return s.userProblem(w, r, err)
	}
	return s.showCredentials(w, r, credentialsView{Username: creds.Username, Password: creds.Password, OTPURI: creds.OTPURI, Secret: creds.OTPSecret})
}

func targetID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errNotFound
	}
	return id, nil
}

func (s *Server) userAction(action func(r *http.Request, actor, target int64) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := targetID(r)
		if err != nil {
			return err
		}
		if err := action(r, staffFrom(r).user.ID, id); err != nil {
			return s.userProblem(w, r, err)
		}
		return seeOther(w, r, "/admin/users?done=1")
	}
}

func (s *Server) userDisable(w http.ResponseWriter, r *http.Request) error {
	return s.userAction(func(r *http.Request, actor, target int64) error {
		return s.cfg.Staff.Disable(r.Context(), actor, target)
	})(w, r)
}

func (s *Server) userEnable(w http.ResponseWriter, r *http.Request) error {
	return s.userAction(func(r *http.Request, actor, target int64) error {
		return s.cfg.Staff.Enable(r.Context(), actor, target)
	})(w, r)
}

func (s *Server) userSetRole(w http.ResponseWriter, r *http.Request) error {
	return s.userAction(func(r *http.Request, actor, target int64) error {
		return s.cfg.Staff.SetRole(r.Context(), actor, target, r.PostForm.Get("role"))
	})(w, r)
}

func (s *Server) userResetPassword(w http.ResponseWriter, r *http.Request) error {
	id, err := targetID(r)
	if err != nil {
		return err
	}
	pw, err := s.cfg.Staff.ResetPassword(r.Context(), staffFrom(r).user.ID, id)
	if err != nil {
		return s.userProblem(w, r, err)
	}
	name, err := s.usernameOf(r, id)
	if err != nil {
		return err
	}
	return s.showCredentials(w, r, credentialsView{Username: name, Password: pw})
}

func (s *Server) userResetTOTP(w http.ResponseWriter, r *http.Request) error {
	id, err := targetID(r)
	if err != nil {
		return err
	}
	uri, err := s.cfg.Staff.ResetTOTP(r.Context(), staffFrom(r).user.ID, id)
	if err != nil {
		return s.userProblem(w, r, err)
	}
	name, err := s.usernameOf(r, id)
	if err != nil {
		return err
	}
	return s.showCredentials(w, r, credentialsView{Username: name, OTPURI: uri, Secret: secretFromURI(uri)})
}

func (s *Server) changePassphrase(w http.ResponseWriter, r *http.Request) error {
	sc := staffFrom(r)
	f := r.PostForm
	L := s.newPage(r).L
	next := f.Get("new")
	switch {
	case len([]rune(next)) < 12:
		return s.showUsers(w, r, http.StatusUnprocessableEntity, L.T("setup.passphrase_short"), "")
	case next != f.Get("new2"):
		return s.showUsers(w, r, http.StatusUnprocessableEntity, L.T("setup.passphrase_mismatch"), "")
	}
	// Each try costs a full root-key KDF and tests a guess of the unseal
	// passphrase: throttle it like the unseal page, and audit failures.
	if !s.unsealLimit.Allow() {
		return errBusy
	}
	err := s.withKDF(r, func() error {
		return s.cfg.Vault.ChangePassphrase(r.Context(), []byte(f.Get("old")), []byte(next), s.cfg.RootKDF)
	})
	if errors.Is(err, keys.ErrWrongPassphrase) {
		if err := s.cfg.Audit.Record(r.Context(), sc.user.ID, "keys.passphrase_change_failed", "keys"); err != nil {
			return err
		}
		return s.showUsers(w, r, http.StatusUnprocessableEntity, L.T("unseal.wrong"), "")
	}
	if err != nil {
		return err
	}
	if err := s.cfg.Audit.Record(r.Context(), sc.user.ID, "keys.passphrase_change", "keys"); err != nil {
		return err
	}
	return seeOther(w, r, "/admin/users?done=1")
}

type auditView struct {
	Entries []*store.AuditEntry
	Names   map[int64]string
	Next    int64
	Actor   int64
}

func (s *Server) auditLog(w http.ResponseWriter, r *http.Request) error {
	sc := staffFrom(r)
	q := r.URL.Query()
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	actor, _ := strconv.ParseInt(q.Get("actor"), 10, 64)
	const pageSize = 100
	entries, err := s.cfg.Store.ListAudit(r.Context(), store.AuditFilter{BeforeSeq: before, ActorID: actor, Limit: pageSize})
	if err != nil {
		return err
	}
	// Reading the audit log is itself audited.
	if err := s.cfg.Audit.Record(r.Context(), sc.user.ID, "audit.read", "audit"); err != nil {
		return err
	}
	names, err := s.userNames(r)
	if err != nil {
		return err
	}
	v := auditView{Entries: entries, Names: names, Actor: actor}
	if len(entries) == pageSize {
		v.Next = entries[len(entries)-1].Seq
	}
	p := s.newPage(r)
	p.Title = p.L.T("audit.title")
	p.Data = v
	s.render(w, r, http.StatusOK, "audit", p)
	return nil
}

// secretFromURI shows the base32 secret beside the QR code, for
// authenticator apps that cannot scan.
func secretFromURI(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return ""
	}
	return u.Query().Get("secret")
}

// usernameOf decrypts a staff member's username for display.
func (s *Server) usernameOf(r *http.Request, id int64) (string, error) {
	u, err := s.cfg.Store.GetUser(r.Context(), id)
	if err != nil {
		return "", err
	}
	return s.cfg.Staff.Username(u)
}
