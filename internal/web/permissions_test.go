package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/corridor-org/corridor/internal/store"
)

// allowed lists, for every staff route, the roles that may use it. It is
// written out by hand, apart from the route table, so that a change to
// either shows up here; a route missing from this list fails the test.
// "own" marks routes on a request where a caseworker is allowed only if
// the request is assigned to them.
var allowed = map[string]struct {
	roles []string
	own   bool
}{
	"GET /{$}":                              {store.Roles(), false},
	"GET /setup":                            {nil, false},
	"POST /setup":                           {nil, false},
	"GET /unseal":                           {nil, false},
	"POST /unseal":                          {nil, false},
	"GET /login":                            {nil, false},
	"POST /login":                           {nil, false},
	"POST /logout":                          {store.Roles(), false},
	"POST /logout-everywhere":               {store.Roles(), false},
	"GET /account":                          {store.Roles(), false},
	"POST /account/password":                {store.Roles(), false},
	"POST /seal":                            {[]string{"admin", "coordinator"}, false},
	"GET /requests":                         {[]string{"admin", "coordinator", "operator", "caseworker"}, false},
	"GET /requests/{id}":                    {[]string{"admin", "coordinator", "operator", "caseworker"}, true},
	"POST /requests/{id}/reply":             {[]string{"admin", "coordinator", "operator", "caseworker"}, true},
	"POST /requests/{id}/status":            {[]string{"admin", "coordinator", "operator", "caseworker"}, true},
	"POST /requests/{id}/assign":            {[]string{"admin", "coordinator", "operator"}, false},
	"GET /admin/users":                      {[]string{"admin"}, false},
	"POST /admin/users":                     {[]string{"admin"}, false},
	"POST /admin/users/{id}/disable":        {[]string{"admin"}, false},
	"POST /admin/users/{id}/enable":         {[]string{"admin"}, false},
	"POST /admin/users/{id}/reset-password": {[]string{"admin"}, false},
	"POST /admin/users/{id}/reset-totp":     {[]string{"admin"}, false},
	"POST /admin/users/{id}/role":           {[]string{"admin"}, false},
	"POST /admin/passphrase":                {[]string{"admin"}, false},
	"GET /admin/audit":                      {[]string{"admin", "coordinator"}, false},
}

// runLast are routes that end the session or seal the server; each role
// tries them after everything else.
var runLast = []string{"POST /seal", "POST /logout", "POST /logout-everywhere"}

// TestEveryRoleAgainstEveryRoute is generated from the route table: each
// role, on a request assigned to them and on one assigned to someone
// else, against every staff route.
func TestEveryRoleAgainstEveryRoute(t *testing.T) {
	h := newHarness(t, true)
	table := h.srv.staffRouteTable()
	for _, rt := range table {
		if _, ok := allowed[rt.method+" "+rt.path]; !ok {
			t.Errorf("route %s %s has no entry in the permission expectations", rt.method, rt.path)
		}
	}
	if len(allowed) != len(table) {
		t.Errorf("expectations list %d routes, the table has %d", len(allowed), len(table))
	}
	victim := h.addUser(store.RoleOperator)
	otherCW := h.addUser(store.RoleCaseworker)
	ctx := context.Background()

	for _, role := range store.Roles() {
		t.Run(role, func(t *testing.T) {
			me := h.addUser(role)
			_, ownID := h.submit("own request")
			_, otherID := h.submit("someone else's")
			if err := h.st.SetAssignee(ctx, ownID, me.user.ID, me.user.CreatedAt); err != nil {
				t.Fatal(err)
			}
			if err := h.st.SetAssignee(ctx, otherID, otherCW.user.ID, me.user.CreatedAt); err != nil {
				t.Fatal(err)
			}
			c := h.login(me)
			ordered := slices.Clone(table)
			slices.SortStableFunc(ordered, func(a, b route) int {
				return slices.Index(runLast, a.method+" "+a.path) - slices.Index(runLast, b.method+" "+b.path)
			})
			for _, rt := range ordered {
				key := rt.method + " " + rt.path
				want := allowed[key]
				if want.roles == nil {
					continue // reachable without login by design; tested elsewhere
				}
				targets := []string{""}
				if strings.Contains(rt.path, "/requests/{id}") {
					targets = []string{ownID, otherID}
				}
				for _, target := range targets {
					path := strings.TrimSuffix(rt.path, "{$}")
					path = strings.Replace(path, "{id}", target, 1)
					if strings.HasPrefix(rt.path, "/admin/users/{id}") {
						path = strings.Replace(rt.path, "{id}", strconv.FormatInt(victim.user.ID, 10), 1)
					}
					ok := slices.Contains(want.roles, role)
					if want.own && role == store.RoleCaseworker && target == otherID {
						ok = false
					}
					var r resp
					if rt.method == "GET" {
						r = c.get(path)
					} else {
						r = c.post(path, formFor(key, me))
					}
					if ok && r.status == http.StatusForbidden {
						t.Errorf("%s %s (%s) refused, want allowed: %.200s", rt.method, path, role, r.body)
					}
					if !ok && r.status != http.StatusForbidden {
						t.Errorf("%s %s (%s) = %d %s, want 403", rt.method, path, role, r.status, r.header.Get("Location"))
					}
					if ok && r.status >= 500 {
						t.Errorf("%s %s (%s) = %d", rt.method, path, role, r.status)
					}
				}
				if key == "POST /seal" && slices.Contains(want.roles, role) {
					if err := h.vault.Unseal(ctx, []byte(testPassphrase)); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
}

func formFor(key string, me *account) url.Values {
	switch key {
	case "POST /requests/{id}/reply":
		return url.Values{"body": {"hello"}}
	case "POST /requests/{id}/status":
		return url.Values{"status": {"in_progress"}}
	case "POST /requests/{id}/assign":
		return url.Values{"user": {"0"}}
	case "POST /admin/users":
		return url.Values{"username": {"new-" + me.name}, "role": {"operator"}}
	case "POST /admin/users/{id}/role":
		return url.Values{"role": {"operator"}}
	case "POST /admin/passphrase":
		return url.Values{"old": {"wrong"}, "new": {"x"}, "new2": {"x"}}
	case "POST /account/password":
		return url.Values{"old": {"wrong"}, "new": {"x"}, "new2": {"y"}}
	}
	return url.Values{}
}

// Without a session every protected route sends the browser to log in
// and does nothing.
func TestProtectedRoutesNeedLogin(t *testing.T) {
	h := newHarness(t, true)
	c := h.client(h.staffURL)
	for _, rt := range h.srv.staffRouteTable() {
		if rt.perm == permNone {
			continue
		}
		path := strings.NewReplacer("{$}", "", "{id}", "1").Replace(rt.path)
		var r resp
		if rt.method == "GET" {
			r = c.get(path)
		} else {
			r = c.post(path, url.Values{"csrf": {"x"}})
		}
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login" {
			t.Errorf("%s %s without session = %d %s", rt.method, path, r.status, r.header.Get("Location"))
		}
	}
}
