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

	"filippo.io/age"
)

// allowed lists, for every staff route, the roles that may use it. It is
// written out by hand, apart from the route table, so that a change to
// either shows up here; a route missing from this list fails the test.
// For routes on one object (a request, a case), roles is who may act on
// their own (a request assigned to them, a case assigned or shared to
// them), other who may act on someone else's.
type expect struct {
	roles []string
	other []string
}

var (
	all      = store.Roles()
	managers = []string{"admin", "coordinator"}
	triage   = []string{"admin", "coordinator", "operator"}
	openers  = []string{"admin", "coordinator", "operator", "caseworker"}
	referrer = []string{"admin", "coordinator", "caseworker", "custodian"}
	// recorders write testimony (the default policy): statistics of a case.
	recorders = []string{"admin", "coordinator", "operator", "caseworker", "custodian"}
)

var allowed = map[string]expect{
	"GET /{$}":                   {all, nil},
	"GET /setup":                 {nil, nil},
	"POST /setup":                {nil, nil},
	"GET /unseal":                {nil, nil},
	"POST /unseal":               {nil, nil},
	"GET /login":                 {nil, nil},
	"POST /login":                {nil, nil},
	"POST /logout":               {all, nil},
	"POST /logout-everywhere":    {all, nil},
	"GET /account":               {all, nil},
	"POST /account/password":     {all, nil},
	"POST /seal":                 {managers, nil},
	"GET /requests":              {openers, nil},
	"GET /requests/{id}":         {openers, triage},
	"POST /requests/{id}/reply":  {openers, triage},
	"POST /requests/{id}/status": {openers, triage},
	"POST /requests/{id}/assign": {triage, triage},
	"POST /requests/{id}/case":   {openers, triage},
	// Filing a request into a case: the request must be readable and the
	// case accessible; the linked case here is the role's own.
	"POST /requests/{id}/link":              {openers, triage},
	"POST /cases/{id}/link":                 {openers, nil},
	"GET /admin/users":                      {[]string{"admin"}, nil},
	"POST /admin/users":                     {[]string{"admin"}, nil},
	"POST /admin/users/{id}/disable":        {[]string{"admin"}, nil},
	"POST /admin/users/{id}/enable":         {[]string{"admin"}, nil},
	"POST /admin/users/{id}/reset-password": {[]string{"admin"}, nil},
	"POST /admin/users/{id}/reset-totp":     {[]string{"admin"}, nil},
	"POST /admin/users/{id}/role":           {[]string{"admin"}, nil},
	"POST /admin/passphrase":                {[]string{"admin"}, nil},
	"GET /admin/audit":                      {managers, nil},
	"GET /cases":                            {all, nil},
	"POST /cases":                           {openers, nil},
	"GET /cases/{id}":                       {all, nil},
	"POST /cases/{id}/move":                 {[]string{"admin", "coordinator", "operator", "caseworker", "logistics"}, nil},
	"POST /cases/{id}/risk":                 {openers, nil},
	"POST /cases/{id}/verify":               {[]string{"admin", "coordinator", "caseworker"}, nil},
	"POST /cases/{id}/flag":                 {all, nil},
	"POST /cases/{id}/section/{class}":      {all, nil},
	"POST /cases/{id}/note":                 {all, nil},
	"POST /cases/{id}/reply":                {openers, nil},
	"POST /cases/{id}/tasks":                {all, nil},
	"POST /cases/{id}/tasks/done":           {all, nil},
	"POST /cases/{id}/contact":              {all, nil},
	"POST /cases/{id}/expenses":             {[]string{"admin", "coordinator", "caseworker"}, nil},
	"GET /tasks":                            {all, nil},
	"GET /reports/donors":                   {managers, nil},
	"GET /reports/donors/export":            {managers, nil},
	"GET /exports/cases":                    {managers, nil},
	"POST /cases/{id}/placement":            {[]string{"admin", "coordinator", "caseworker", "logistics"}, nil},
	"POST /cases/{id}/placement/end":        {[]string{"admin", "coordinator", "caseworker", "logistics"}, nil},
	"POST /cases/{id}/record":               {all, nil},
	"POST /cases/{id}/record/status":        {all, nil},
	"GET /houses":                           {[]string{"admin", "coordinator", "logistics"}, nil},
	"POST /houses":                          {[]string{"admin", "coordinator", "logistics"}, nil},
	"GET /houses/{id}":                      {[]string{"admin", "coordinator", "logistics"}, nil},
	"POST /houses/{id}":                     {[]string{"admin", "coordinator", "logistics"}, nil},
	"POST /cases/{id}/assign":               {managers, managers},
	"POST /cases/{id}/share":                {managers, managers},
	"POST /cases/{id}/unshare":              {managers, managers},
	"POST /cases/{id}/break-glass":          {managers, managers},
	// Erasing needs access to the contents: on someone else's case the
	// managers have it because they broke the glass earlier in the run.
	"POST /cases/{id}/erase": {managers, managers},
	"GET /dashboard":         {managers, nil},
	// Merging names a case that does not exist here: refused by the
	// route for others, 404 for managers, whatever their access.
	"POST /cases/{id}/merge":       {managers, managers},
	"GET /admin/watchlist":         {managers, nil},
	"POST /admin/watchlist":        {managers, nil},
	"POST /admin/watchlist/delete": {managers, nil},
	// Referrals: managers, caseworkers and custodians on a case they have
	// access to (the domain's CanRefer); others are refused by the domain.
	// On someone else's case managers have access through the glass they
	// broke earlier in the run.
	"GET /partners":                     {managers, nil},
	"POST /partners":                    {managers, nil},
	"POST /partners/active":             {managers, nil},
	"POST /cases/{id}/consent":          {referrer, managers},
	"POST /cases/{id}/consent/withdraw": {referrer, managers},
	"POST /cases/{id}/referrals":        {referrer, managers},
	"POST /cases/{id}/referrals/status": {referrer, managers},
	"GET /cases/{id}/referral":          {referrer, managers},
	// Statistics of a case: roles that write testimony, with access to
	// the case (managers on someone else's through the glass they broke
	// earlier in the run). Releases: coordinators and admins only; no
	// draft is named (404 for them).
	"GET /cases/{id}/statistics":                    {recorders, managers},
	"POST /cases/{id}/statistics/consent":           {recorders, managers},
	"POST /cases/{id}/statistics/violations":        {recorders, managers},
	"POST /cases/{id}/statistics/violations/delete": {recorders, managers},
	"GET /statistics":                               {managers, nil},
	"POST /statistics/drafts":                       {managers, nil},
	"GET /statistics/draft":                         {managers, nil},
	"POST /statistics/draft/approve":                {managers, nil},
	"POST /statistics/draft/publish":                {managers, nil},
	"POST /statistics/draft/discard":                {managers, nil},
	// Evidence: whoever may read the case's testimony; originals and
	// consent not operators; destroying managers only. On someone else's
	// case managers have access through the glass they broke earlier in
	// the run. Custodians: admins.
	"GET /cases/{id}/evidence/new":        {evidenceReaders, managers},
	"POST /cases/{id}/evidence":           {evidenceReaders, managers},
	"GET /evidence/{id}":                  {evidenceReaders, managers},
	"GET /evidence/{id}/copy":             {evidenceReaders, managers},
	"GET /evidence/{id}/original":         {evidenceKeepers, managers},
	"GET /evidence/{id}/proof/{seq}":      {evidenceReaders, managers},
	"POST /evidence/{id}/consent":         {evidenceKeepers, managers},
	"POST /evidence/{id}/destroy":         {managers, managers},
	"GET /admin/custodians":               {[]string{"admin"}, nil},
	"POST /admin/custodians":              {[]string{"admin"}, nil},
	"POST /admin/custodians/{id}/disable": {[]string{"admin"}, nil},
	"GET /static/tus.js":                  {all, nil},
}

// runLast are routes that end the session or seal the server; each role
// tries them after everything else.
var runLast = []string{"POST /cases/{id}/erase", "POST /seal", "POST /logout", "POST /logout-everywhere"}

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
	houseID := h.addHouse("SH-PERM", 2)
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
			// A case of their own (from their request, shared with them —
			// every role may be shared into a case) and someone else's.
			ownCase := h.openCase(ownID, me.user.ID)
			otherCase := h.openCase("", otherCW.user.ID)
			// An item in each (an image, so it has a working copy), its
			// first event logged, so it has a receipt.
			ownItem := h.addEvidence(ownCase, "own.png", testPNG(t))
			otherItem := h.addEvidence(otherCase, "other.png", testPNG(t))
			h.drainOutbox()
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
				type target struct {
					id  string
					own bool
				}
				targets := []target{{"", true}}
				if strings.HasPrefix(rt.path, "/requests/{id}") {
					targets = []target{{ownID, true}, {otherID, false}}
				}
				if strings.HasPrefix(rt.path, "/evidence/{id}") {
					targets = []target{{ownItem, true}, {otherItem, false}}
				}
				if strings.HasPrefix(rt.path, "/cases/{id}") {
					targets = []target{{ownCase, true}, {otherCase, false}}
				}
				for _, tg := range targets {
					path := strings.TrimSuffix(rt.path, "{$}")
					path = strings.Replace(path, "{id}", tg.id, 1)
					path = strings.Replace(path, "{class}", "identity", 1)
					path = strings.Replace(path, "{seq}", "1", 1)
					if strings.HasPrefix(rt.path, "/admin/custodians/{id}") {
						path = strings.Replace(rt.path, "{id}", "unosuchcustodian", 1)
					}
					if strings.HasPrefix(rt.path, "/houses/{id}") {
						path = strings.Replace(rt.path, "{id}", houseID, 1)
					}
					if strings.HasPrefix(rt.path, "/admin/users/{id}") {
						path = strings.Replace(rt.path, "{id}", strconv.FormatInt(victim.user.ID, 10), 1)
					}
					ok := slices.Contains(want.roles, role)
					if !tg.own {
						ok = slices.Contains(want.other, role)
					}
					var r resp
					if rt.method == "GET" {
						r = c.get(path)
					} else {
						r = c.post(path, formFor(key, me, victim))
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

func formFor(key string, me, victim *account) url.Values {
	switch key {
	case "POST /cases/{id}/move":
		return url.Values{"to": {"triage"}}
	case "POST /cases/{id}/risk":
		return url.Values{"level": {"2"}, "factor": {"injured"}}
	case "POST /cases/{id}/verify":
		return url.Values{"interview": {"on"}}
	case "POST /cases/{id}/flag":
		return url.Values{"flagged": {"1"}, "note": {"odd questions"}}
	case "POST /cases/{id}/section/{class}":
		return url.Values{"f_name": {"Name"}}
	case "POST /cases/{id}/note":
		return url.Values{"class": {"identity"}, "text": {"a note"}}
	case "POST /cases/{id}/placement":
		// The own case is not verified: roles that write logistics get
		// 422 (verify first), the others 403.
		return url.Values{"house": {"hnosuchhouse"}}
	case "POST /cases/{id}/placement/end":
		return url.Values{"placement": {"pnosuchplacement"}}
	case "POST /cases/{id}/record":
		return url.Values{"kind": {"document"}, "doc_type": {"passport"}}
	case "POST /cases/{id}/record/status":
		return url.Values{"record": {"rnosuchrecord"}, "status": {"obtained"}}
	case "POST /houses", "POST /houses/{id}":
		return url.Values{"code": {"SH-" + me.user.Role}, "city": {"Tver"}, "capacity": {"2"}, "active": {"on"}}
	case "POST /cases/{id}/tasks":
		return url.Values{"title": {"Call back"}, "due": {"2020-01-02"}}
	case "POST /cases/{id}/tasks/done":
		return url.Values{"task": {"tnosuchtask"}}
	case "POST /cases/{id}/contact":
		return url.Values{"note": {"phoned"}}
	case "POST /cases/{id}/expenses":
		return url.Values{"category": {"food"}, "amount": {"12.50"}, "currency": {"EUR"}, "date": {"2020-01-02"}}
	case "POST /cases/{id}/reply":
		return url.Values{"body": {"hello from the case"}}
	case "POST /cases/{id}/assign", "POST /cases/{id}/share", "POST /cases/{id}/unshare":
		return url.Values{"user": {strconv.FormatInt(victim.user.ID, 10)}}
	case "POST /cases/{id}/break-glass":
		return url.Values{"reason": {"checking a duplicate report"}}
	case "POST /partners":
		return url.Values{"name": {"Partner of " + me.name}, "country": {"CA"}, "recipient": {"age1notakey"}}
	case "POST /partners/active":
		return url.Values{"partner": {"onosuchpartner"}, "active": {"0"}}
	case "POST /cases/{id}/consent":
		return url.Values{"partner": {"onosuchpartner"}, "class": {"identity"}, "until": {"2099-01-01"}, "method": {"phone"}}
	case "POST /cases/{id}/consent/withdraw":
		return url.Values{"consent": {"knosuchconsent"}, "reason": {"withdrawn"}}
	case "POST /cases/{id}/referrals":
		// No consent exists: 422 for those who may refer, 403 for others.
		return url.Values{"partner": {"onosuchpartner"}, "class": {"identity"}}
	case "POST /cases/{id}/referrals/status":
		return url.Values{"referral": {"fnosuchreferral"}, "status": {"accepted"}}
	case "POST /cases/{id}/statistics/consent":
		return url.Values{"action": {"give"}, "method": {"phone"}}
	case "POST /cases/{id}/statistics/violations":
		return url.Values{"type": {"detention"}, "perpetrator": {"police"}, "region": {"chechnya"}, "month": {"2017-04"}, "note": {"in the basement"}}
	case "POST /cases/{id}/statistics/violations/delete":
		return url.Values{"violation": {"vnosuchrecord"}}
	case "POST /evidence/{id}/consent":
		return url.Values{"consent": {"court"}}
	case "POST /evidence/{id}/destroy":
		return url.Values{"confirm": {"DESTROY"}}
	case "POST /admin/custodians":
		id, _ := age.GenerateX25519Identity()
		return url.Values{"name": {"Custodian of " + me.name}, "recipient": {id.Recipient().String()}}
	case "POST /cases/{id}/merge":
		return url.Values{"from": {"cnosuchcase"}}
	case "POST /admin/watchlist":
		return url.Values{"kind": {"phone"}, "value": {"+7 912 000 00 0" + strconv.Itoa(len(me.name)%10)}, "note": {"test"}}
	case "POST /admin/watchlist/delete":
		return url.Values{"id": {"wnosuchentry"}}
	case "POST /cases/{id}/erase":
		return url.Values{"reason": {"retention"}, "confirm": {"ERASE"}}
	case "POST /cases":
		return url.Values{"name": {"Walk-in"}}
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
