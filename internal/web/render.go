package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/corridor-org/corridor/internal/i18n"
	"github.com/corridor-org/corridor/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/style.css
var styleCSS []byte

type templates struct {
	pages map[string]*template.Template
	css   []byte
	cat   *i18n.Catalogue
}

var funcs = template.FuncMap{
	"fmtTime": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"add":     func(a, b int) int { return a + b },
	"seq": func(from, to int) []int {
		var out []int
		for i := from; i <= to; i++ {
			out = append(out, i)
		}
		return out
	},
	// fmtDur shows a stay in a stage in days and hours: the scale
	// caseworkers think in.
	"fmtDur": func(d time.Duration) string {
		days := int(d.Hours()) / 24
		hours := int(d.Hours()) % 24
		if days > 0 {
			return fmt.Sprintf("%dd %dh", days, hours)
		}
		return fmt.Sprintf("%dh %dm", hours, int(d.Minutes())%60)
	},
	"shortID": func(id string) string {
		if len(id) > 9 {
			return id[:9]
		}
		return id
	},
	"first": func(vals []string) string {
		if len(vals) == 0 {
			return ""
		}
		return vals[0]
	},
	"hasValue": func(vals []string, v string) bool {
		for _, x := range vals {
			if x == v {
				return true
			}
		}
		return false
	},
}

// parseTemplates parses every page with the layout at start-up, so a
// broken template stops the server before anyone sees it.
func parseTemplates(cat *i18n.Catalogue) (*templates, error) {
	t := &templates{pages: map[string]*template.Template{}, css: styleCSS, cat: cat}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		pt, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", base, err)
		}
		t.pages[base] = pt
	}
	return t, nil
}

type langLink struct {
	Lang, Name, Href string
	Current          bool
}

// page is what every template gets.
type page struct {
	L        *i18n.Printer
	Public   bool
	Title    string
	Style    template.CSS
	Langs    []langLink
	ExitURL  string
	User     *store.User
	Username string
	CSRF     string
	Sealed   bool
	Flash    string
	Data     any
}

func (s *Server) newPage(r *http.Request) *page {
	lang := s.requestLang(r)
	p := &page{
		L:       s.cfg.Catalogue.Printer(lang),
		Style:   template.CSS(s.tmpl.css),
		ExitURL: s.cfg.QuickExitURL,
		Sealed:  s.cfg.Vault.Initialised() && s.cfg.Vault.Sealed(),
	}
	if v := r.Context().Value(ctxPublic{}); v != nil {
		p.Public = true
	}
	if sc := staffFrom(r); sc != nil {
		p.User, p.Username, p.CSRF = sc.user, sc.username, sc.csrf
	}
	for _, l := range s.cfg.Catalogue.Languages() {
		// Keep the rest of the query (the setup token, a page number).
		q := r.URL.Query()
		q.Set("lang", l)
		href := "?" + q.Encode()
		if p.Public {
			href = "/" + l + "/"
			if rest, ok := strings.CutPrefix(r.URL.Path, "/"+r.PathValue("lang")+"/"); ok && r.PathValue("lang") != "" && r.Method == http.MethodGet {
				href += rest
			}
		}
		p.Langs = append(p.Langs, langLink{Lang: l, Name: s.cfg.Catalogue.Name(l), Href: href, Current: l == lang})
	}
	return p
}

// requestLang: on the public site the path says; on the staff site a
// ?lang= choice (remembered in a cookie) or Accept-Language.
func (s *Server) requestLang(r *http.Request) string {
	if l := r.PathValue("lang"); l != "" && s.cfg.Catalogue.Has(l) {
		return l
	}
	if r.Context().Value(ctxPublic{}) == nil {
		if l := r.URL.Query().Get("lang"); s.cfg.Catalogue.Has(l) {
			return l
		}
		if c, err := r.Cookie(cookieLang); err == nil && s.cfg.Catalogue.Has(c.Value) {
			return c.Value
		}
	}
	return s.cfg.Catalogue.Match(r.Header.Get("Accept-Language"))
}

// render executes a page into a buffer first, so a template failure never
// leaves half a page on the wire.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	t, ok := s.tmpl.pages[name]
	if !ok {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var b bytes.Buffer
	if err := t.Execute(&b, p); err != nil {
		s.cfg.Logger.Error("template failed", "route", r.Pattern)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// seeOther is the end of every successful POST: Post/Redirect/Get.
func seeOther(w http.ResponseWriter, r *http.Request, to string) error {
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}
