package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/staff"
	"github.com/corridor-org/corridor/internal/store"
)

const (
	cookieSession = "corridor_session"
	cookieDevice  = "corridor_device"
	cookiePre     = "corridor_pre" // double-submit CSRF token before login
	cookieLang    = "corridor_lang"
)

type ctxStaff struct{}

// staffCtx is the logged-in staff member for one request.
type staffCtx struct {
	user     *store.User
	username string
	token    string
	csrf     string
}

func staffFrom(r *http.Request) *staffCtx {
	sc, _ := r.Context().Value(ctxStaff{}).(*staffCtx)
	return sc
}

// pathsWhilePasswordMustChange are all a user with a temporary password
// may reach.
var pathsWhilePasswordMustChange = []string{"/account", "/account/password", "/logout"}

// staffGate enforces, in order: set-up and unsealed state, a valid
// session, the CSRF token on POST, the route's permission, and a pending
// password change. Refusals of permission are audited.
func (s *Server) staffGate(rt route) http.Handler {
	return s.adapt(func(w http.ResponseWriter, r *http.Request) error {
		s.rememberLang(w, r)
		if rt.perm == permNone {
			if r.Method == http.MethodPost && !s.checkPreCSRF(r) {
				return errCSRF
			}
			return rt.handler(w, r)
		}
		if !s.cfg.Vault.Initialised() {
			return seeOther(w, r, "/setup")
		}
		if s.cfg.Vault.Sealed() {
			if r.Method == http.MethodGet {
				return seeOther(w, r, "/unseal")
			}
			return keys.ErrSealed
		}
		c, err := r.Cookie(cookieSession)
		if err != nil {
			return seeOther(w, r, "/login")
		}
		u, err := s.cfg.Staff.Session(r.Context(), c.Value)
		if errors.Is(err, keys.ErrSealed) {
			return err
		}
		if err != nil {
			s.clearCookie(w, cookieSession)
			return seeOther(w, r, "/login")
		}
		s.cfg.Vault.Touch()
		csrf, err := s.cfg.Staff.CSRFToken(c.Value)
		if err != nil {
			return err
		}
		if r.Method == http.MethodPost {
			var token string
			if r, token, err = s.postedCSRF(w, r); err != nil {
				return badForm(err)
			}
			if !s.cfg.Staff.CheckCSRF(c.Value, token) {
				return errCSRF
			}
		}
		if !rt.perm.allows(u.Role) {
			if err := s.cfg.Audit.Record(r.Context(), u.ID, "access.denied", "route"); err != nil {
				return err
			}
			return errForbidden
		}
		if u.MustChangePassword && !slices.Contains(pathsWhilePasswordMustChange, rt.path) {
			return seeOther(w, r, "/account")
		}
		name, err := s.cfg.Staff.Username(u)
		if err != nil {
			return err
		}
		sc := &staffCtx{user: u, username: name, token: c.Value, csrf: csrf}
		return rt.handler(w, r.WithContext(context.WithValue(r.Context(), ctxStaff{}, sc)))
	})
}

func (s *Server) rememberLang(w http.ResponseWriter, r *http.Request) {
	if l := r.URL.Query().Get("lang"); s.cfg.Catalogue.Has(l) {
		http.SetCookie(w, &http.Cookie{Name: cookieLang, Value: l, Path: "/", MaxAge: 365 * 24 * 3600,
			HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
	}
}

func (s *Server) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
}

// preCSRF returns the double-submit token for forms shown before login,
// setting its cookie when absent.
func (s *Server) preCSRF(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(cookiePre); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	t := randomToken(32)
	http.SetCookie(w, &http.Cookie{Name: cookiePre, Value: t, Path: "/", HttpOnly: true,
		Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
	return t
}

func (s *Server) checkPreCSRF(r *http.Request) bool {
	c, err := r.Cookie(cookiePre)
	if err != nil || len(c.Value) < 32 {
		return false
	}
	if err := r.ParseForm(); err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostForm.Get("csrf"))) == 1
}

type loginView struct {
	Problem string
	Name    string
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) error {
	if !s.cfg.Vault.Initialised() {
		return seeOther(w, r, "/setup")
	}
	if s.cfg.Vault.Sealed() {
		return seeOther(w, r, "/unseal")
	}
	p := s.newPage(r)
	p.Title = p.L.T("login.title")
	p.CSRF = s.preCSRF(w, r)
	p.Data = loginView{}
	s.render(w, r, http.StatusOK, "login", p)
	return nil
}

func (s *Server) loginSubmit(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Vault.Sealed() {
		return seeOther(w, r, "/unseal")
	}
	p := s.newPage(r)
	p.Title = p.L.T("login.title")
	p.CSRF = s.preCSRF(w, r)
	name := r.PostForm.Get("username")
	fail := func(status int, msg string) error {
		p.Data = loginView{Problem: msg, Name: name}
		s.render(w, r, status, "login", p)
		return nil
	}
	if !s.loginLimit.Allow() {
		return fail(http.StatusTooManyRequests, p.L.T("error.busy"))
	}
	in := staff.LoginInput{Username: name, Password: r.PostForm.Get("password"), Code: r.PostForm.Get("code")}
	if c, err := r.Cookie(cookieDevice); err == nil {
		in.DeviceToken = c.Value
	}
	var res *staff.LoginResult
	err := s.withKDF(r, func() (err error) {
		res, err = s.cfg.Staff.Login(r.Context(), in)
		return err
	})
	var locked *staff.LockedError
	switch {
	case errors.As(err, &locked):
		mins := int(locked.Until.Sub(s.cfg.Now()).Round(time.Minute).Minutes())
		return fail(http.StatusTooManyRequests, p.L.T("login.locked", max(mins, 1)))
	case errors.Is(err, staff.ErrBadCredentials):
		return fail(http.StatusUnauthorized, p.L.T("login.failed"))
	case err != nil:
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: cookieSession, Value: res.SessionToken, Path: "/", HttpOnly: true,
		Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
	if res.DeviceToken != "" {
		http.SetCookie(w, &http.Cookie{Name: cookieDevice, Value: res.DeviceToken, Path: "/login", HttpOnly: true,
			Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode, MaxAge: 180 * 24 * 3600})
	}
	s.clearCookie(w, cookiePre)
	return seeOther(w, r, "/")
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	sc := staffFrom(r)
	if err := s.cfg.Staff.Logout(r.Context(), sc.token); err != nil {
		return err
	}
	s.clearCookie(w, cookieSession)
	return seeOther(w, r, "/login")
}

func (s *Server) logoutEverywhere(w http.ResponseWriter, r *http.Request) error {
	sc := staffFrom(r)
	if err := s.cfg.Staff.LogoutEverywhere(r.Context(), sc.user.ID); err != nil {
		return err
	}
	s.clearCookie(w, cookieSession)
	return seeOther(w, r, "/login")
}

type unsealView struct {
	Problem string
	Done    bool
}

func (s *Server) unsealForm(w http.ResponseWriter, r *http.Request) error {
	if !s.cfg.Vault.Initialised() {
		return seeOther(w, r, "/setup")
	}
	p := s.newPage(r)
	p.Title = p.L.T("unseal.title")
	p.CSRF = s.preCSRF(w, r)
	p.Data = unsealView{Done: !s.cfg.Vault.Sealed()}
	s.render(w, r, http.StatusOK, "unseal", p)
	return nil
}

func (s *Server) unsealSubmit(w http.ResponseWriter, r *http.Request) error {
	p := s.newPage(r)
	p.Title = p.L.T("unseal.title")
	p.CSRF = s.preCSRF(w, r)
	if !s.cfg.Vault.Sealed() {
		return seeOther(w, r, "/login")
	}
	if !s.unsealLimit.Allow() {
		return errBusy
	}
	err := s.withKDF(r, func() error {
		return s.cfg.Vault.Unseal(r.Context(), []byte(r.PostForm.Get("passphrase")))
	})
	if errors.Is(err, keys.ErrWrongPassphrase) {
		_ = s.cfg.Audit.Record(r.Context(), 0, "keys.unseal_failed", "keys")
		p.Data = unsealView{Problem: p.L.T("unseal.wrong")}
		s.render(w, r, http.StatusUnauthorized, "unseal", p)
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.cfg.Audit.Record(r.Context(), 0, "keys.unseal", "keys"); err != nil {
		return err
	}
	return seeOther(w, r, "/login")
}

func (s *Server) sealNow(w http.ResponseWriter, r *http.Request) error {
	sc := staffFrom(r)
	// The emergency button must work even when the disk does not: seal
	// first, record after.
	s.cfg.Vault.Seal()
	if err := s.cfg.Audit.Record(r.Context(), sc.user.ID, "keys.seal", "keys"); err != nil {
		s.cfg.Logger.Error("sealed, but the audit entry failed", "event", "seal")
	}
	return seeOther(w, r, "/unseal")
}

func (s *Server) staffHome(w http.ResponseWriter, r *http.Request) error {
	if permInbox.allows(staffFrom(r).user.Role) {
		return seeOther(w, r, "/requests")
	}
	return seeOther(w, r, "/account")
}

type accountView struct {
	Problem string
	Done    bool
	Must    bool
}

func (s *Server) account(w http.ResponseWriter, r *http.Request) error {
	sc := staffFrom(r)
	p := s.newPage(r)
	p.Title = p.L.T("account.title")
	p.Data = accountView{Done: r.URL.Query().Has("changed"), Must: sc.user.MustChangePassword}
	s.render(w, r, http.StatusOK, "account", p)
	return nil
}

func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) error {
	sc := staffFrom(r)
	p := s.newPage(r)
	p.Title = p.L.T("account.title")
	next := r.PostForm.Get("new")
	if next != r.PostForm.Get("new2") {
		p.Data = accountView{Problem: p.L.T("account.mismatch"), Must: sc.user.MustChangePassword}
		s.render(w, r, http.StatusUnprocessableEntity, "account", p)
		return nil
	}
	err := s.cfg.Staff.ChangePasswordKeepSession(r.Context(), sc.token, r.PostForm.Get("old"), next)
	if err != nil {
		key := "account.rejected"
		if errors.Is(err, staff.ErrBadCredentials) {
			key = "account.wrong_old"
		} else if !errors.Is(err, staff.ErrWeakPassword) {
			return err
		}
		p.Data = accountView{Problem: p.L.T(key), Must: sc.user.MustChangePassword}
		s.render(w, r, http.StatusUnprocessableEntity, "account", p)
		return nil
	}
	return seeOther(w, r, "/account?changed=1")
}
