package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"

	"github.com/corridor-org/corridor/internal/intake"
	"github.com/corridor-org/corridor/internal/receipt"
)

type ctxPublic struct{}

// cookiePerson names the person's session cookie neutrally: a cookie
// list on a searched phone should not say what the site is.
const cookiePerson = "s"

// honeypotField is a form field people never see (hidden by the
// stylesheet, labelled "leave empty"); bots fill it in.
const honeypotField = intake.HoneypotField

// publicLang validates {lang} and marks the request as public.
func (s *Server) publicRequest(r *http.Request) (*http.Request, error) {
	r = r.WithContext(context.WithValue(r.Context(), ctxPublic{}, true))
	if l := r.PathValue("lang"); l != "" && !s.cfg.Catalogue.Has(l) {
		return r, errNotFound
	}
	return r, nil
}

func (s *Server) publicRoot(w http.ResponseWriter, r *http.Request) error {
	lang := s.cfg.Catalogue.Match(r.Header.Get("Accept-Language"))
	return seeOther(w, r, "/"+lang+"/")
}

func (s *Server) landing(w http.ResponseWriter, r *http.Request) error {
	r, err := s.publicRequest(r)
	if err != nil {
		return err
	}
	p := s.newPage(r)
	p.Title = p.L.T("landing.title")
	s.render(w, r, http.StatusOK, "landing", p)
	return nil
}

// formView is the request form with what was typed and what was wrong.
type formView struct {
	Nonce     string
	Problem   string
	Form      *intake.Form
	Values    map[string][]string
	Problems  intake.FieldErrors
	Honeypot  string
	HasErrors bool
}

func (s *Server) requestForm(w http.ResponseWriter, r *http.Request) error {
	r, err := s.publicRequest(r)
	if err != nil {
		return err
	}
	p := s.newPage(r)
	p.Title = p.L.T("request.title")
	p.Data = formView{Form: s.cfg.Intake.Form(), Values: map[string][]string{}, Honeypot: honeypotField, Nonce: randomToken(16)}
	s.render(w, r, http.StatusOK, "request", p)
	return nil
}

type receiptView struct {
	Receipt string
	Lang    string
}

func (s *Server) requestSubmit(w http.ResponseWriter, r *http.Request) error {
	r, err := s.publicRequest(r)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return badForm(err)
	}
	p := s.newPage(r)
	if r.PostForm.Get(honeypotField) != "" {
		// Show a receipt that leads nowhere, so a bot learns nothing.
		rc, err := receipt.Generate(s.cfg.ReceiptKind)
		if err != nil {
			return err
		}
		p.Title = p.L.T("receipt.title")
		p.Data = receiptView{Receipt: rc, Lang: p.L.Lang}
		s.render(w, r, http.StatusOK, "receipt", p)
		return nil
	}
	form := s.cfg.Intake.Form()
	answers, problems := form.Parse(r.PostForm)
	nonce := r.PostForm.Get("nonce")
	if len(problems) > 0 || len(nonce) < 16 {
		p.Title = p.L.T("request.title")
		v := formView{Form: form, Values: r.PostForm, Problems: problems, Honeypot: honeypotField, HasErrors: len(problems) > 0, Nonce: randomToken(16)}
		if len(nonce) < 16 {
			v.Problem = p.L.T("request.expired")
		}
		p.Data = v
		s.render(w, r, http.StatusUnprocessableEntity, "request", p)
		return nil
	}
	if !s.sent.first(nonce) {
		p.Title = p.L.T("receipt.title")
		p.Data = p.L.T("request.already_sent")
		s.render(w, r, http.StatusOK, "notice", p)
		return nil
	}
	if !s.submitLimit.Allow() {
		s.sent.forget(nonce)
		return errBusy
	}
	sub, err := s.cfg.Intake.Submit(r.Context(), answers, p.L.Lang)
	if err != nil {
		s.sent.forget(nonce)
		return err
	}
	// The receipt is shown in this response and never stored; the page is
	// no-store, so it is gone from the browser once left. This is the one
	// POST that does not redirect: a redirect would have to carry the
	// receipt in a URL or a cookie.
	p.Title = p.L.T("receipt.title")
	p.Data = receiptView{Receipt: sub.Receipt, Lang: p.L.Lang}
	s.render(w, r, http.StatusOK, "receipt", p)
	return nil
}

type returnView struct {
	Problem string
}

func (s *Server) returnForm(w http.ResponseWriter, r *http.Request) error {
	r, err := s.publicRequest(r)
	if err != nil {
		return err
	}
	p := s.newPage(r)
	p.Title = p.L.T("return.title")
	p.Data = returnView{}
	s.render(w, r, http.StatusOK, "return", p)
	return nil
}

func (s *Server) returnSubmit(w http.ResponseWriter, r *http.Request) error {
	r, err := s.publicRequest(r)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return badForm(err)
	}
	p := s.newPage(r)
	p.Title = p.L.T("return.title")
	fail := func(status int, key string) error {
		p.Data = returnView{Problem: p.L.T(key)}
		s.render(w, r, status, "return", p)
		return nil
	}
	in := r.PostForm.Get("receipt")
	if _, _, err := receipt.Normalise(in); err != nil {
		if errors.Is(err, receipt.ErrChecksum) {
			return fail(http.StatusUnprocessableEntity, "return.typo")
		}
		return fail(http.StatusUnprocessableEntity, "return.malformed")
	}
	// The global limit is what bounds guessing: see docs/threat-model.md.
	if !s.receiptLimit.Allow() {
		return errBusy
	}
	access, err := s.cfg.Intake.OpenReceipt(r.Context(), in)
	if errors.Is(err, intake.ErrUnknownReceipt) {
		return fail(http.StatusUnprocessableEntity, "return.unknown")
	}
	if err != nil {
		return err
	}
	token, ps := s.persons.add(access)
	http.SetCookie(w, &http.Cookie{
		Name: cookiePerson, Value: token, Path: "/", HttpOnly: true, Secure: s.cfg.SecureCookies,
		// No Max-Age: a session cookie dies with the browser; the server
		// forgets the session after PersonSessionIdle anyway.
		SameSite: http.SameSiteStrictMode,
	})
	// The conversation is the response to this POST, not a redirect to a
	// GET page: browsers keep GET pages in their back/forward cache even
	// with no-store, so after "quick exit" the Back button would show the
	// conversation again; a POST result is never restored that way.
	return s.showConversation(w, r, p, ps, http.StatusOK, conversationView{})
}

func (s *Server) personSession(r *http.Request) *personSession {
	c, err := r.Cookie(cookiePerson)
	if err != nil {
		return nil
	}
	return s.persons.get(c.Value)
}

type conversationView struct {
	Thread  *intake.Thread
	Form    *intake.Form
	CSRF    string
	Nonce   string
	Problem string
	Draft   string
	Sent    bool
	// Evidence is the upload form and what the last upload stored
	// (evidence_public.go); nil when evidence is off.
	Evidence *personEvidence
}

// conversation answers a GET (a bookmark, a typed address) without
// showing anything: with a live session it offers a button that shows the
// conversation as a POST result (see returnSubmit), otherwise the receipt
// form.
func (s *Server) conversation(w http.ResponseWriter, r *http.Request) error {
	r, err := s.publicRequest(r)
	if err != nil {
		return err
	}
	p := s.newPage(r)
	ps := s.personSession(r)
	if ps == nil {
		return seeOther(w, r, "/"+p.L.Lang+"/return")
	}
	p.Title = p.L.T("conversation.title")
	p.Data = conversationView{CSRF: ps.csrf}
	s.render(w, r, http.StatusOK, "conversation_open", p)
	return nil
}

// personPost checks a POST from a person's open session: the form, the
// session and its CSRF token. A nil session means the person was sent to
// the receipt page (or refused) and the handler has nothing more to do.
func (s *Server) personPost(w http.ResponseWriter, r *http.Request) (*http.Request, *page, *personSession, error) {
	r, err := s.publicRequest(r)
	if err != nil {
		return r, nil, nil, err
	}
	if err := r.ParseForm(); err != nil {
		return r, nil, nil, badForm(err)
	}
	p := s.newPage(r)
	ps := s.personSession(r)
	if ps == nil {
		return r, p, nil, seeOther(w, r, "/"+p.L.Lang+"/return")
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(ps.csrf)) != 1 {
		return r, p, nil, errCSRF
	}
	return r, p, ps, nil
}

func (s *Server) conversationShow(w http.ResponseWriter, r *http.Request) error {
	r, p, ps, err := s.personPost(w, r)
	if ps == nil {
		return err
	}
	return s.showConversation(w, r, p, ps, http.StatusOK, conversationView{})
}

func (s *Server) showConversation(w http.ResponseWriter, r *http.Request, p *page, ps *personSession, status int, v conversationView) error {
	t, err := s.cfg.Intake.PersonThread(r.Context(), ps.access)
	if err != nil {
		return err
	}
	p.Title = p.L.T("conversation.title")
	v.Thread, v.Form, v.CSRF, v.Nonce = t, s.cfg.Intake.Form(), ps.csrf, s.persons.nonce(ps)
	v.Evidence = s.personEvidenceForm(ps, v.Evidence, p)
	p.Data = v
	s.render(w, r, status, "conversation", p)
	return nil
}

func (s *Server) conversationMessage(w http.ResponseWriter, r *http.Request) error {
	r, p, ps, err := s.personPost(w, r)
	if ps == nil {
		return err
	}
	body := r.PostForm.Get("body")
	if _, err := intake.CheckMessage(body); err != nil {
		key := "conversation.empty"
		if errors.Is(err, intake.ErrMessageTooLong) {
			key = "conversation.too_long"
		}
		return s.showConversation(w, r, p, ps, http.StatusUnprocessableEntity, conversationView{Problem: p.L.T(key), Draft: body})
	}
	// A reload of the page this POST returned sends the form again; the
	// one-time token makes that a no-op instead of a duplicate message.
	if !s.persons.useNonce(ps, r.PostForm.Get("nonce")) {
		return s.showConversation(w, r, p, ps, http.StatusOK, conversationView{Sent: true})
	}
	if !s.messageLimit.Allow(ps.access.RequestID) {
		return s.showConversation(w, r, p, ps, http.StatusTooManyRequests, conversationView{Problem: p.L.T("error.busy"), Draft: body})
	}
	if err := s.cfg.Intake.PersonMessage(r.Context(), ps.access, body); err != nil {
		return err
	}
	return s.showConversation(w, r, p, ps, http.StatusOK, conversationView{Sent: true})
}

// forget ends the person's session and asks the browser to forget the site.
func (s *Server) forget(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(cookiePerson); err == nil {
		s.persons.remove(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: cookiePerson, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
	w.Header().Set("Clear-Site-Data", `"cache", "cookies", "storage"`)
}

func (s *Server) leave(w http.ResponseWriter, r *http.Request) error {
	r, err := s.publicRequest(r)
	if err != nil {
		return err
	}
	s.forget(w, r)
	return seeOther(w, r, "/"+s.requestLang(r)+"/")
}

// quickExit is the red button: it ends any session, asks the browser to
// clear the site's data, and sends it to a neutral site at once. It is a
// GET so that it works as a plain link; a meta refresh leaves. Going Back
// cannot show the conversation: that was a POST result, which browsers
// neither cache nor restore without asking to send the form again, and
// the session is gone.
func (s *Server) quickExit(w http.ResponseWriter, r *http.Request) error {
	r, err := s.publicRequest(r)
	if err != nil {
		return err
	}
	s.forget(w, r)
	p := s.newPage(r)
	p.Title = p.L.T("site.quick_exit")
	s.render(w, r, http.StatusOK, "exit", p)
	return nil
}
