package cases_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/store"
)

// defaultOrder is the journey of the default workflow, open stages first.
var defaultOrder = []string{"new", "triage", "verification", "relocation", "safe_house", "documents", "visa", "departure", "arrived", "closed"}

func TestDefaultWorkflow(t *testing.T) {
	w := cases.DefaultWorkflow()
	var ids []string
	for _, s := range w.Stages() {
		ids = append(ids, s.ID)
		if s.Label.In("en") == "" || s.Label.In("ru") == s.Label.In("en") {
			t.Errorf("stage %s: labels %v, want English and Russian", s.ID, s.Label)
		}
		if s.Closed != (s.ID == "closed") {
			t.Errorf("stage %s: closed = %v", s.ID, s.Closed)
		}
	}
	if !slices.Equal(ids, defaultOrder) {
		t.Fatalf("stages = %v, want %v", ids, defaultOrder)
	}
	if w.Initial() != "new" {
		t.Errorf("initial = %q", w.Initial())
	}
	var reasons []string
	for _, r := range w.CloseReasons() {
		reasons = append(reasons, r.ID)
		if r.Label.In("en") == "" || r.Label.In("ru") == r.Label.In("en") {
			t.Errorf("close reason %s: labels %v", r.ID, r.Label)
		}
	}
	if want := []string{"resettled", "withdrew", "lost_contact", "not_eligible", "referred_elsewhere"}; !slices.Equal(reasons, want) {
		t.Errorf("close reasons = %v, want %v", reasons, want)
	}
	for stage, want := range map[string][]string{
		"triage":       {cases.RequireRisk},
		"verification": {cases.RequireVerified, cases.RequireNotFlagged},
		"relocation":   {cases.RequireAssignee},
		"new":          nil,
		"visa":         nil,
	} {
		if got := w.Stage(stage).Requires; !slices.Equal(got, want) {
			t.Errorf("%s requires %v, want %v", stage, got, want)
		}
	}
	if w.DepartureStage() != "departure" || w.ArrivalStage() != "arrived" {
		t.Errorf("departure, arrival = %q, %q", w.DepartureStage(), w.ArrivalStage())
	}
	if w.Stage("nowhere") != nil || w.Next("nowhere") != nil {
		t.Error("an unknown stage is found")
	}
}

// TestDefaultTransitions checks every ordered pair of stages: forward one,
// back one, to closed from any open stage, and closed → triage; nothing
// else.
func TestDefaultTransitions(t *testing.T) {
	w := cases.DefaultWorkflow()
	pos := func(id string) int { return slices.Index(defaultOrder, id) }
	lastOpen := pos("arrived")
	for _, from := range defaultOrder {
		for _, to := range defaultOrder {
			f, g := pos(from), pos(to)
			var want bool
			switch {
			case from == "closed":
				want = to == "triage"
			case to == "closed":
				want = true
			default:
				want = g == f+1 && g <= lastOpen || g == f-1
			}
			if got := w.CanMove(from, to); got != want {
				t.Errorf("CanMove(%s, %s) = %v, want %v", from, to, got, want)
			}
			if got := slices.Contains(w.Next(from), to); got != want {
				t.Errorf("Next(%s) contains %s = %v, want %v", from, to, got, want)
			}
		}
	}
}

func TestRequirements(t *testing.T) {
	w := cases.DefaultWorkflow()
	for _, tc := range []struct {
		name string
		c    store.Case
		to   string
		want []string
	}{
		{"triage forward without risk", store.Case{Stage: "triage"}, "verification", []string{"risk"}},
		{"triage forward with risk", store.Case{Stage: "triage", Risk: 2}, "verification", nil},
		{"triage back without risk", store.Case{Stage: "triage"}, "new", nil},
		{"triage closed without risk", store.Case{Stage: "triage"}, "closed", nil},
		{"verification forward, nothing", store.Case{Stage: "verification"}, "relocation", []string{"verified"}},
		{"verification forward, flagged", store.Case{Stage: "verification", Flagged: true}, "relocation", []string{"verified", "not_flagged"}},
		{"verification forward, verified but flagged", store.Case{Stage: "verification", Verified: true, Flagged: true}, "relocation", []string{"not_flagged"}},
		{"verification forward, verified", store.Case{Stage: "verification", Verified: true}, "relocation", nil},
		{"verification back, flagged", store.Case{Stage: "verification", Flagged: true}, "triage", nil},
		{"relocation forward unassigned", store.Case{Stage: "relocation"}, "safe_house", []string{"assignee"}},
		{"relocation forward assigned", store.Case{Stage: "relocation", AssigneeID: 3}, "safe_house", nil},
		{"relocation closed unassigned", store.Case{Stage: "relocation"}, "closed", nil},
		{"new forward", store.Case{Stage: "new"}, "triage", nil},
		{"visa forward", store.Case{Stage: "visa"}, "departure", nil},
		{"closed reopen", store.Case{Stage: "closed"}, "triage", nil},
		{"unknown stage", store.Case{Stage: "nowhere"}, "triage", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := w.Missing(&tc.c, tc.to); !slices.Equal(got, tc.want) {
				t.Errorf("Missing = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSkippingKeepsRequirements: a workflow that lets cases skip a stage
// still applies the skipped stage's requirements.
func TestSkippingKeepsRequirements(t *testing.T) {
	w, err := cases.ParseWorkflow([]byte(`
[[stages]]
id = "a"
label = { en = "A" }
requires = ["risk"]
next = ["c", "b"]
[[stages]]
id = "b"
label = { en = "B" }
requires = ["verified", "risk"]
[[stages]]
id = "c"
label = { en = "C" }
[[stages]]
id = "done"
label = { en = "Done" }
closed = true
[[close_reasons]]
id = "ok"
label = { en = "OK" }
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Missing(&store.Case{Stage: "a"}, "c"); !slices.Equal(got, []string{"risk", "verified"}) {
		t.Errorf("skipping b: missing %v", got)
	}
	// b had no "next": it gets the defaults.
	if got := w.Next("b"); !slices.Equal(got, []string{"c", "a", "done"}) {
		t.Errorf("Next(b) = %v", got)
	}
	// c is the last open stage: no forward move but to a closed stage.
	if got := w.Next("c"); !slices.Equal(got, []string{"b", "done"}) {
		t.Errorf("Next(c) = %v", got)
	}
	// A closed stage without "next" is final.
	if got := w.Next("done"); len(got) != 0 {
		t.Errorf("Next(done) = %v", got)
	}
}

func TestWorkflowIsImmutable(t *testing.T) {
	w := cases.DefaultWorkflow()
	w.Stage("triage").Requires[0] = "nothing"
	w.Stages()[1].Next[0] = "closed"
	w.Next("new")[0] = "arrived"
	w.CloseReasons()[0].Label["en"] = "changed"
	if w.Stage("triage").Requires[0] != "risk" || w.Next("new")[0] != "triage" || w.Stages()[1].Next[0] != "verification" ||
		w.CloseReasons()[0].Label["en"] != "Resettled" {
		t.Fatal("a caller changed the workflow through what it returned")
	}
}

func TestParseWorkflowRejects(t *testing.T) {
	const closed = "\n[[stages]]\nid=\"z\"\nlabel={en=\"Z\"}\nclosed=true\n"
	const reason = "\n[[close_reasons]]\nid=\"r\"\nlabel={en=\"R\"}\n"
	const a = "[[stages]]\nid=\"a\"\nlabel={en=\"A\"}\n"
	const b = "[[stages]]\nid=\"b\"\nlabel={en=\"B\"}\n"
	for _, tc := range []struct{ name, src, want string }{
		{"empty", ``, "no stages"},
		{"syntax", `[[stages`, "workflow"},
		{"unknown top-level key", "colour = \"red\"\n" + a + closed + reason, "unknown setting"},
		{"unknown stage key", a + "require = [\"risk\"]\n" + closed + reason, "unknown setting"},
		{"unknown close reason key", a + closed + reason + "note = \"x\"\n", "unknown setting"},
		{"bad id", "[[stages]]\nid=\"A b\"\nlabel={en=\"A\"}\n" + closed + reason, "id"},
		{"duplicate stage", a + a + closed + reason, "twice"},
		{"no label", "[[stages]]\nid=\"a\"\n" + closed + reason, "no label"},
		{"first stage closed", closed + a + reason, "first stage"},
		{"open after closed", a + closed + b + reason, "comes after a closed"},
		{"no closed stage", a + b + reason, "no closed stage"},
		{"unknown requirement", a + "requires = [\"blessing\"]\n" + closed + reason, "unknown requirement"},
		{"duplicate requirement", a + "requires = [\"risk\", \"risk\"]\n" + closed + reason, "twice"},
		{"requirement on closed", a + closed + "requires = [\"risk\"]\n" + reason, "cannot have requirements"},
		{"unknown next", a + "next = [\"nowhere\"]\n" + closed + reason, "does not exist"},
		{"next itself", a + "next = [\"a\"]\n" + closed + reason, "itself"},
		{"duplicate next", a + "next = [\"z\", \"z\"]\n" + closed + reason, "twice"},
		{"closed to closed", a + closed + "next = [\"y\"]\n[[stages]]\nid=\"y\"\nlabel={en=\"Y\"}\nclosed=true\n" + reason, "only lead to an open stage"},
		{"no close reasons", a + closed, "no close reasons"},
		{"duplicate close reason", a + closed + reason + reason, "twice"},
		{"bad close reason id", a + closed + "[[close_reasons]]\nid=\"Gone away\"\nlabel={en=\"R\"}\n", "close reason 1"},
		{"close reason without label", a + closed + "[[close_reasons]]\nid=\"r\"\n", "no label"},
		{"departure stage unknown", "departure_stage = \"gone\"\n" + a + closed + reason, "departure_stage"},
		{"arrival stage closed", "arrival_stage = \"z\"\n" + a + closed + reason, "arrival_stage"},
		{"too many stages", strings.Repeat(a, 51) + closed + reason, "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cases.ParseWorkflow([]byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
