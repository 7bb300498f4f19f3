package cases_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/store"
)

// request stores a bare hotline request (the hotline's own tests cover
// its contents; here only its existence matters).
func (f *fixture) request(t *testing.T, id string) string {
	t.Helper()
	r := &store.Request{ID: id, LookupID: []byte(id), CreatedAt: f.clock.Now(), Status: store.StatusNew,
		KeyIntake: []byte("k"), KeyPerson: []byte("k"), Answers: []byte("a")}
	if err := f.st.CreateRequest(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestSeveralConversations(t *testing.T) {
	f := newFixture(t)
	first := f.request(t, "rfirst")
	second := f.request(t, "rsecond")
	c, err := f.svc.Open(f.ctx, f.cw, cases.OpenInput{RequestID: first})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		actor *store.User
		req   string
		want  error
	}{
		{"unknown request", f.cw, "rnope", cases.ErrInvalid},
		{"already the case's", f.cw, first, cases.ErrInvalid},
		{"logistics may not file requests", f.logi, second, cases.ErrForbidden},
		{"no access to the case", f.cw2, second, cases.ErrForbidden},
		{"linked", f.cw, second, nil},
		{"twice", f.cw, second, cases.ErrInvalid},
	} {
		err := f.svc.LinkRequest(f.ctx, tc.actor, c.ID, tc.req)
		if (tc.want == nil && err != nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	ids, err := f.svc.Conversations(f.ctx, f.cw, c.ID)
	if err != nil || !slices.Equal(ids, []string{first, second}) {
		t.Fatalf("conversations = %v, %v", ids, err)
	}
	if _, err := f.svc.Conversations(f.ctx, f.cw2, c.ID); !errors.Is(err, cases.ErrForbidden) {
		t.Errorf("conversations without access: %v", err)
	}
	v := f.view(t, f.cw, c.ID)
	if last := v.Timeline[len(v.Timeline)-1]; last.Kind != cases.KindConversationLinked || last.ActorID != f.cw.ID {
		t.Errorf("last event = %+v", last)
	}

	// Merging brings the other case's conversations along.
	third := f.request(t, "rthird")
	f.clock.Advance(time.Minute)
	other, err := f.svc.Open(f.ctx, f.cw, cases.OpenInput{RequestID: third})
	if err != nil {
		t.Fatal(err)
	}
	must(t, f.svc.BreakGlass(f.ctx, f.coord, c.ID, "merging duplicate reports"))
	must(t, f.svc.BreakGlass(f.ctx, f.coord, other.ID, "merging duplicate reports"))
	must(t, f.svc.Merge(f.ctx, f.coord, c.ID, other.ID))
	ids, err = f.svc.Conversations(f.ctx, f.cw, c.ID)
	if err != nil || !slices.Equal(ids, []string{first, second, third}) {
		t.Fatalf("conversations after merge = %v, %v", ids, err)
	}
}
