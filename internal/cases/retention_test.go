package cases_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/store"
)

func TestRetentionRulesParse(t *testing.T) {
	base := string(defaultWorkflowText(t))
	for _, tc := range []struct{ extra, want string }{
		{"[[retention]]\nclose_reason = \"nope\"\nafter_days = 3\n", "not a close reason"},
		{"[[retention]]\nclose_reason = \"withdrew\"\nafter_days = 0\n", "after_days"},
		{"[[retention]]\nclose_reason = \"withdrew\"\nafter_days = 3\n[[retention]]\nclose_reason = \"withdrew\"\nafter_days = 4\n", "twice"},
	} {
		_, err := cases.ParseWorkflow([]byte(base + "\n" + tc.extra))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.extra, err, tc.want)
		}
	}
	w, err := cases.ParseWorkflow([]byte(base + "\n[[retention]]\nclose_reason = \"withdrew\"\nafter_days = 30\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := w.Retention("withdrew"); !ok || d != 30*24*time.Hour {
		t.Errorf("Retention(withdrew) = %v %v", d, ok)
	}
	if _, ok := w.Retention("resettled"); ok {
		t.Error("a rule for resettled appeared from nowhere")
	}
}

func TestApplyRetention(t *testing.T) {
	f := newFixture(t)
	w, err := cases.ParseWorkflow([]byte(string(defaultWorkflowText(t)) + "\n[[retention]]\nclose_reason = \"withdrew\"\nafter_days = 30\n"))
	if err != nil {
		t.Fatal(err)
	}
	svc := cases.New(f.st, f.vault, audit.New(f.st, f.clock.Now), w, nil, f.clock.Now)
	secret := map[string]map[string]string{cases.ClassIdentity: {"name": "Retained Person"}}
	withdrew := f.open(t, f.cw, secret)
	resettled := f.open(t, f.cw, secret)
	stillOpen := f.open(t, f.cw, secret)
	late := f.open(t, f.cw, secret)
	for _, tc := range []struct{ id, reason string }{{withdrew.ID, "withdrew"}, {resettled.ID, "resettled"}} {
		if err := svc.Move(f.ctx, f.cw, tc.id, "closed", tc.reason, ""); err != nil {
			t.Fatal(err)
		}
	}
	f.clock.Advance(20 * 24 * time.Hour)
	if err := svc.Move(f.ctx, f.cw, late.ID, "closed", "withdrew", ""); err != nil {
		t.Fatal(err)
	}
	// Not yet due.
	if n, err := svc.ApplyRetention(f.ctx); err != nil || n != 0 {
		t.Fatalf("after 20 days: erased %d, %v", n, err)
	}
	f.clock.Advance(11 * 24 * time.Hour)
	n, err := svc.ApplyRetention(f.ctx)
	if err != nil || n != 1 {
		t.Fatalf("after 31 days: erased %d, %v; want 1", n, err)
	}
	if _, err := svc.View(f.ctx, f.cw, withdrew.ID); !errors.Is(err, cases.ErrErased) {
		t.Errorf("withdrawn case after retention: %v", err)
	}
	for _, id := range []string{resettled.ID, stillOpen.ID, late.ID} {
		if _, err := svc.View(f.ctx, f.cw, id); err != nil {
			t.Errorf("case %s erased or unreadable: %v", id, err)
		}
	}
	// Idempotent, and the system's erasure is audited without content.
	if n, _ := svc.ApplyRetention(f.ctx); n != 0 {
		t.Errorf("second run erased %d", n)
	}
	entries, err := f.st.ListAudit(f.ctx, store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		if e.Action == "case.retention_erase" && e.Object == "case:"+withdrew.ID && e.ActorID == 0 {
			found = true
		}
	}
	if !found {
		t.Error("retention erasure not audited")
	}
}

func defaultWorkflowText(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("default_workflow.toml")
	if err != nil {
		t.Fatal(err)
	}
	return data
}
