package web

import (
	"net/http"
	"slices"

	"github.com/corridor-org/corridor/internal/store"
)

// perm is what a route requires of the staff member calling it. Object
// rules (a caseworker sees only requests assigned to them) are the
// domain's; this table is the first gate.
type perm int

const (
	permNone     perm = iota // no login: setup, unseal, login
	permAnyStaff             // any logged-in staff member
	permInbox                // reads requests
	permAssign               // assigns requests
	permSeal                 // may seal the server now
	permAudit                // browses the audit log
	permAdmin                // manages users and keys
	permOpenCase             // opens cases
	permManage               // assigns and shares cases, breaks the glass, erases
	permHouses               // lists, creates and edits safe houses
)

var permRoles = map[perm][]string{
	permAnyStaff: store.Roles(),
	permInbox:    {store.RoleAdmin, store.RoleCoordinator, store.RoleOperator, store.RoleCaseworker},
	permAssign:   {store.RoleAdmin, store.RoleCoordinator, store.RoleOperator},
	permSeal:     {store.RoleAdmin, store.RoleCoordinator},
	permAudit:    {store.RoleAdmin, store.RoleCoordinator},
	permAdmin:    {store.RoleAdmin},
	permOpenCase: {store.RoleAdmin, store.RoleCoordinator, store.RoleOperator, store.RoleCaseworker},
	permManage:   {store.RoleAdmin, store.RoleCoordinator},
	permHouses:   {store.RoleAdmin, store.RoleCoordinator, store.RoleLogistics},
}

func (p perm) allows(role string) bool {
	return p == permNone || slices.Contains(permRoles[p], role)
}

type route struct {
	method  string
	path    string
	perm    perm
	handler handlerFunc
}

// staffRouteTable is every route of the staff site.
func (s *Server) staffRouteTable() []route {
	return []route{
		{"GET", "/{$}", permAnyStaff, s.staffHome},
		{"GET", "/setup", permNone, s.setupForm},
		{"POST", "/setup", permNone, s.setupSubmit},
		{"GET", "/unseal", permNone, s.unsealForm},
		{"POST", "/unseal", permNone, s.unsealSubmit},
		{"GET", "/login", permNone, s.loginForm},
		{"POST", "/login", permNone, s.loginSubmit},
		{"POST", "/logout", permAnyStaff, s.logout},
		{"POST", "/logout-everywhere", permAnyStaff, s.logoutEverywhere},
		{"GET", "/account", permAnyStaff, s.account},
		{"POST", "/account/password", permAnyStaff, s.changePassword},
		{"POST", "/seal", permSeal, s.sealNow},
		{"GET", "/requests", permInbox, s.inbox},
		{"GET", "/requests/{id}", permInbox, s.requestView},
		{"POST", "/requests/{id}/reply", permInbox, s.requestReply},
		{"POST", "/requests/{id}/status", permInbox, s.requestStatus},
		{"POST", "/requests/{id}/assign", permAssign, s.requestAssign},
		{"GET", "/admin/users", permAdmin, s.users},
		{"POST", "/admin/users", permAdmin, s.userCreate},
		{"POST", "/admin/users/{id}/disable", permAdmin, s.userDisable},
		{"POST", "/admin/users/{id}/enable", permAdmin, s.userEnable},
		{"POST", "/admin/users/{id}/reset-password", permAdmin, s.userResetPassword},
		{"POST", "/admin/users/{id}/reset-totp", permAdmin, s.userResetTOTP},
		{"POST", "/admin/users/{id}/role", permAdmin, s.userSetRole},
		{"POST", "/admin/passphrase", permAdmin, s.changePassphrase},
		{"GET", "/admin/audit", permAudit, s.auditLog},
		{"POST", "/requests/{id}/case", permOpenCase, s.caseFromRequest},
		{"POST", "/requests/{id}/link", permOpenCase, s.requestLinkCase},
		{"GET", "/cases", permAnyStaff, s.caseList},
		{"POST", "/cases", permOpenCase, s.caseNew},
		{"GET", "/cases/{id}", permAnyStaff, s.caseView},
		{"POST", "/cases/{id}/move", permAnyStaff, s.caseMove},
		{"POST", "/cases/{id}/risk", permAnyStaff, s.caseRisk},
		{"POST", "/cases/{id}/verify", permAnyStaff, s.caseVerify},
		{"POST", "/cases/{id}/flag", permAnyStaff, s.caseFlag},
		{"POST", "/cases/{id}/section/{class}", permAnyStaff, s.caseSection},
		{"POST", "/cases/{id}/note", permAnyStaff, s.caseNote},
		{"POST", "/cases/{id}/reply", permAnyStaff, s.caseReply},
		{"POST", "/cases/{id}/link", permOpenCase, s.caseLinkRequest},
		{"POST", "/cases/{id}/tasks", permAnyStaff, s.caseTaskAdd},
		{"POST", "/cases/{id}/tasks/done", permAnyStaff, s.caseTaskDone},
		{"POST", "/cases/{id}/contact", permAnyStaff, s.caseContact},
		{"POST", "/cases/{id}/expenses", permAnyStaff, s.caseExpenseAdd},
		{"POST", "/cases/{id}/placement", permAnyStaff, s.casePlace},
		{"POST", "/cases/{id}/placement/end", permAnyStaff, s.casePlaceEnd},
		{"POST", "/cases/{id}/record", permAnyStaff, s.caseRecord},
		{"POST", "/cases/{id}/record/status", permAnyStaff, s.caseRecordStatus},
		{"GET", "/houses", permHouses, s.houseList},
		{"POST", "/houses", permHouses, s.houseCreate},
		{"GET", "/houses/{id}", permHouses, s.houseView},
		{"POST", "/houses/{id}", permHouses, s.houseUpdate},
		{"POST", "/cases/{id}/assign", permManage, s.caseAssign},
		{"POST", "/cases/{id}/share", permManage, s.caseShare},
		{"POST", "/cases/{id}/unshare", permManage, s.caseUnshare},
		{"POST", "/cases/{id}/break-glass", permManage, s.caseBreakGlass},
		{"POST", "/cases/{id}/erase", permManage, s.caseErase},
		{"GET", "/dashboard", permManage, s.dashboard},
		{"POST", "/cases/{id}/merge", permManage, s.caseMerge},
		{"GET", "/admin/watchlist", permManage, s.watchList},
		{"POST", "/admin/watchlist", permManage, s.watchAdd},
		{"POST", "/admin/watchlist/delete", permManage, s.watchDelete},
		{"GET", "/tasks", permAnyStaff, s.tasksPage},
		{"GET", "/reports/donors", permManage, s.donorReport},
		{"GET", "/reports/donors/export", permManage, s.donorExport},
		{"GET", "/exports/cases", permManage, s.casesExport},
		{"GET", "/partners", permManage, s.partnerList},
		{"POST", "/partners", permManage, s.partnerCreate},
		{"POST", "/partners/active", permManage, s.partnerActive},
		{"POST", "/cases/{id}/consent", permAnyStaff, s.caseConsent},
		{"POST", "/cases/{id}/consent/withdraw", permAnyStaff, s.caseConsentWithdraw},
		{"POST", "/cases/{id}/referrals", permAnyStaff, s.caseReferralCreate},
		{"POST", "/cases/{id}/referrals/status", permAnyStaff, s.caseReferralStatus},
		{"GET", "/cases/{id}/referral", permAnyStaff, s.caseReferralDownload},
		{"GET", "/cases/{id}/statistics", permAnyStaff, s.caseStats},
		{"POST", "/cases/{id}/statistics/consent", permAnyStaff, s.caseStatsConsent},
		{"POST", "/cases/{id}/statistics/violations", permAnyStaff, s.caseViolationAdd},
		{"POST", "/cases/{id}/statistics/violations/delete", permAnyStaff, s.caseViolationDelete},
		{"GET", "/statistics", permManage, s.statsAdmin},
		{"POST", "/statistics/drafts", permManage, s.statsPreview},
		{"GET", "/statistics/draft", permManage, s.statsDraft},
		{"POST", "/statistics/draft/approve", permManage, s.statsApprove},
		{"POST", "/statistics/draft/publish", permManage, s.statsPublish},
		{"POST", "/statistics/draft/discard", permManage, s.statsDiscard},
		// Evidence (evidence.go). The vault checks access to the item's
		// case or request; the resumable uploads (tus) are mounted in
		// staffRoutes, behind a gate of their own (tusUser).
		{"GET", "/cases/{id}/evidence/new", permAnyStaff, s.evidenceUploadForm},
		{"POST", "/cases/{id}/evidence", permAnyStaff, s.evidenceUpload},
		{"GET", "/evidence/{id}", permAnyStaff, s.evidenceItem},
		{"GET", "/evidence/{id}/copy", permAnyStaff, s.evidenceCopy},
		{"GET", "/evidence/{id}/original", permAnyStaff, s.evidenceOriginal},
		{"GET", "/evidence/{id}/proof/{seq}", permAnyStaff, s.evidenceProof},
		{"POST", "/evidence/{id}/consent", permAnyStaff, s.evidenceConsent},
		{"POST", "/evidence/{id}/destroy", permManage, s.evidenceDestroy},
		{"GET", "/admin/custodians", permAdmin, s.custodianList},
		{"POST", "/admin/custodians", permAdmin, s.custodianAdd},
		{"POST", "/admin/custodians/{id}/disable", permAdmin, s.custodianDisable},
		{"GET", "/static/tus.js", permAnyStaff, s.tusScript},
	}
}

// publicRouteTable is every route of the public site. {lang} is a
// language of the catalogue; the language lives in the path because no
// cookie may be set before a person enters their receipt.
func (s *Server) publicRouteTable() []route {
	return []route{
		{"GET", "/{$}", permNone, s.publicRoot},
		{"GET", "/{lang}/{$}", permNone, s.landing},
		{"GET", "/{lang}/request", permNone, s.requestForm},
		{"POST", "/{lang}/request", permNone, s.requestSubmit},
		{"GET", "/{lang}/return", permNone, s.returnForm},
		{"POST", "/{lang}/return", permNone, s.returnSubmit},
		{"GET", "/{lang}/conversation", permNone, s.conversation},
		{"POST", "/{lang}/conversation", permNone, s.conversationMessage},
		{"POST", "/{lang}/conversation/show", permNone, s.conversationShow},
		{"POST", "/{lang}/leave", permNone, s.leave},
		{"GET", "/{lang}/exit", permNone, s.quickExit},
		{"GET", "/stats", permNone, s.statsRoot},
		{"GET", "/{lang}/stats", permNone, s.statsIndex},
		{"GET", "/{lang}/stats/{file}", permNone, s.statsRelease},
		{"GET", "/{lang}/stats/{file}/{chart}", permNone, s.statsChart},
		{"POST", "/{lang}/evidence", permNone, s.personUpload},
	}
}

func (s *Server) staffRoutes() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.staffRouteTable() {
		mux.Handle(rt.method+" "+rt.path, s.staffGate(rt))
	}
	mux.Handle("GET /favicon.ico", http.NotFoundHandler())
	mux.Handle("/", s.adapt(func(w http.ResponseWriter, r *http.Request) error { return errNotFound }))
	return s.common(s.withTus(mux), styleStaff)
}

func (s *Server) publicRoutes() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.publicRouteTable() {
		mux.Handle(rt.method+" "+rt.path, s.adapt(rt.handler))
	}
	mux.Handle("GET /favicon.ico", http.NotFoundHandler())
	mux.Handle("/", s.adapt(func(w http.ResponseWriter, r *http.Request) error { return errNotFound }))
	h := s.common(mux, stylePublic)
	if s.cfg.OnionLocation != "" {
		h = onionLocation(s.cfg.OnionLocation, h)
	}
	return s.mountLog(h)
}
