package cases

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

// AlertConfig sets when alerts fire.
type AlertConfig struct {
	// NoContact: an open case nobody has been in contact with for this
	// long raises an alert (2017: two people were lost from contact).
	NoContact time.Duration
	// Response: an immediate-danger case without contact, or an
	// immediate-danger hotline request without a reply, for this long.
	Response time.Duration
}

// Default alert thresholds.
const (
	DefaultNoContact = 7 * 24 * time.Hour
	DefaultResponse  = time.Hour
)

// withDefaults fills in zero thresholds.
func (c AlertConfig) withDefaults() AlertConfig {
	if c.NoContact <= 0 {
		c.NoContact = DefaultNoContact
	}
	if c.Response <= 0 {
		c.Response = DefaultResponse
	}
	return c
}

// Alert kinds.
const (
	AlertNoContact       = "no_contact"       // an open case without contact for NoContact
	AlertCaseResponse    = "case_response"    // an immediate-danger case without contact for Response
	AlertRequestResponse = "request_response" // an immediate-danger request without a reply for Response
)

// Alert is one computed alert; nothing of it is stored.
type Alert struct {
	Kind      string
	CaseID    string // AlertNoContact, AlertCaseResponse
	RequestID string // AlertRequestResponse
	Risk      int    // the case's risk, or the request's urgency
	Since     time.Time
	For       time.Duration // how long it has been
}

// maxAlerts bounds each kind of alert; more than this many means the
// list is not what needs looking at.
const maxAlerts = 200

// urgencyImmediate is a request's "immediate danger" urgency level.
const urgencyImmediate = 3

// Alerts computes the alerts actor may see, the most urgent first:
// immediate-danger requests, then immediate-danger cases, then cases
// without contact. Admins and coordinators see every case; others the
// cases assigned or shared to them. Request alerts go to those who triage
// the whole inbox (admins, coordinators, operators). Alerts are clear
// metadata (ids, risk, times): computing them reads no contents.
func (s *Service) Alerts(ctx context.Context, actor *store.User, cfg AlertConfig) ([]Alert, error) {
	if !active(actor) || !s.pol.MayHold(actor.Role) {
		return nil, ErrForbidden
	}
	cfg = cfg.withDefaults()
	now := s.clock()
	var visible int64
	if !CanListAll(actor.Role) {
		visible = actor.ID
	}
	var out []Alert
	if CanManage(actor.Role) || actor.Role == store.RoleOperator {
		reqs, err := s.unansweredRequests(ctx, now.Add(-cfg.Response))
		if err != nil {
			return nil, err
		}
		for _, r := range reqs {
			out = append(out, Alert{Kind: AlertRequestResponse, RequestID: r.ID, Risk: r.Urgency, Since: r.CreatedAt, For: now.Sub(r.CreatedAt)})
		}
	}
	urgent, err := s.st.QuietCases(ctx, store.QuietFilter{Before: now.Add(-cfg.Response), MinRisk: RiskImmediate, VisibleTo: visible, Limit: maxAlerts})
	if err != nil {
		return nil, fmt.Errorf("cases: alerts: %w", err)
	}
	seen := map[string]bool{}
	for _, c := range urgent {
		since := lastContact(c)
		seen[c.ID] = true
		out = append(out, Alert{Kind: AlertCaseResponse, CaseID: c.ID, Risk: c.Risk, Since: since, For: now.Sub(since)})
	}
	quiet, err := s.st.QuietCases(ctx, store.QuietFilter{Before: now.Add(-cfg.NoContact), VisibleTo: visible, Limit: maxAlerts})
	if err != nil {
		return nil, fmt.Errorf("cases: alerts: %w", err)
	}
	for _, c := range quiet {
		if seen[c.ID] {
			continue // already above, as more urgent
		}
		since := lastContact(c)
		out = append(out, Alert{Kind: AlertNoContact, CaseID: c.ID, Risk: c.Risk, Since: since, For: now.Sub(since)})
	}
	return out, nil
}

// lastContact is when the people of c were last reached, or, never
// reached, when the case was opened.
func lastContact(c *store.Case) time.Time {
	if c.LastContactAt.IsZero() {
		return c.CreatedAt
	}
	return c.LastContactAt
}

// unansweredRequests returns new immediate-danger requests created before
// the given time that no staff member has replied to. The inbox lists new
// requests by urgency, highest first, so the walk stops at the first
// lower urgency.
func (s *Service) unansweredRequests(ctx context.Context, before time.Time) ([]*store.Request, error) {
	var out []*store.Request
	const page = 100
	for offset := 0; len(out) < maxAlerts; offset += page {
		list, _, err := s.st.ListInbox(ctx, store.InboxFilter{Status: store.StatusNew, Limit: page, Offset: offset})
		if err != nil {
			return nil, fmt.Errorf("cases: alerts: %w", err)
		}
		for _, r := range list {
			if r.Urgency < urgencyImmediate {
				return out, nil
			}
			if !r.CreatedAt.Before(before) {
				continue
			}
			msgs, err := s.st.ListMessages(ctx, r.ID)
			if err != nil {
				return nil, fmt.Errorf("cases: alerts: %w", err)
			}
			if !slices.ContainsFunc(msgs, func(m *store.Message) bool { return m.Author == store.AuthorStaff }) {
				out = append(out, r)
			}
		}
		if len(list) < page {
			break
		}
	}
	return out, nil
}
