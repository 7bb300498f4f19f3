package intake_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/intake"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/receipt"
	"github.com/corridor-org/corridor/internal/store"
	"github.com/corridor-org/corridor/internal/store/sqlite"
)

type fixture struct {
	st    store.Store
	vault *keys.Vault
	svc   *intake.Service
	dir   string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	v, err := keys.Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Initialise(ctx, st, []byte("passphrase for tests"), keys.TestKDF, keys.TestKDF); err != nil {
		t.Fatal(err)
	}
	a := audit.New(st, time.Now)
	return &fixture{st: st, vault: v, svc: intake.New(st, v, a, intake.Config{}), dir: dir}
}

func (f *fixture) user(t *testing.T, id int64, role string) *store.User {
	t.Helper()
	u := &store.User{UsernameIndex: []byte{byte(id), 1, 2}, Username: []byte("x"), Role: role, PasswordHash: "x", CreatedAt: time.Now()}
	if err := f.st.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func answers(what string, urgency string) intake.Answers {
	return intake.Answers{"what_happened": {what}, "urgency": {urgency}}
}

func TestSubmitWhileSealedAndConverse(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.vault.Seal()

	sub, err := f.svc.Submit(ctx, answers("I need help leaving", "immediate"), "ru")
	if err != nil {
		t.Fatalf("submit while sealed: %v", err)
	}
	if _, _, err := receipt.Normalise(sub.Receipt); err != nil {
		t.Fatalf("receipt %q does not normalise: %v", sub.Receipt, err)
	}
	r, err := f.st.GetRequest(ctx, sub.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Urgency != 3 || r.Status != store.StatusNew || !r.UnreadStaff {
		t.Errorf("request = urgency %d status %s unread %v", r.Urgency, r.Status, r.UnreadStaff)
	}

	// The person can read and write while sealed.
	acc, err := f.svc.OpenReceipt(ctx, sub.Receipt)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.PersonMessage(ctx, acc, "  more details  "); err != nil {
		t.Fatal(err)
	}
	th, err := f.svc.PersonThread(ctx, acc)
	if err != nil {
		t.Fatal(err)
	}
	if th.Lang != "ru" || th.Answers["what_happened"][0] != "I need help leaving" || len(th.Messages) != 1 || th.Messages[0].Body != "more details" {
		t.Fatalf("person thread = %+v", th)
	}

	// Staff cannot read while sealed.
	op := f.user(t, 1, store.RoleOperator)
	if _, err := f.svc.StaffThread(ctx, op, sub.RequestID); !errors.Is(err, keys.ErrSealed) {
		t.Fatalf("staff read while sealed: %v", err)
	}
	if err := f.vault.Unseal(ctx, []byte("passphrase for tests")); err != nil {
		t.Fatal(err)
	}
	th, err = f.svc.StaffThread(ctx, op, sub.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	if th.Answers["what_happened"][0] != "I need help leaving" {
		t.Fatalf("staff thread answers = %v", th.Answers)
	}
	if err := f.svc.Reply(ctx, op, sub.RequestID, "We are here."); err != nil {
		t.Fatal(err)
	}
	r, _ = f.st.GetRequest(ctx, sub.RequestID)
	if r.UnreadStaff || r.Status != store.StatusInProgress {
		t.Errorf("after reply: unread %v status %s", r.UnreadStaff, r.Status)
	}
	th, err = f.svc.PersonThread(ctx, acc)
	if err != nil {
		t.Fatal(err)
	}
	if len(th.Messages) != 2 || th.Messages[1].Body != "We are here." || th.Messages[1].Author != store.AuthorStaff {
		t.Fatalf("reply not visible to person: %+v", th.Messages)
	}
}

func TestOpenReceiptErrors(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	sub, err := f.svc.Submit(ctx, answers("x", "days"), "en")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := receipt.Generate(receipt.Digits)
	if _, err := f.svc.OpenReceipt(ctx, other); !errors.Is(err, intake.ErrUnknownReceipt) {
		t.Errorf("unknown receipt: %v", err)
	}
	if _, err := f.svc.OpenReceipt(ctx, "hello"); err == nil {
		t.Error("garbage accepted")
	}
	// The person types it differently: still works.
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, sub.Receipt)
	if _, err := f.svc.OpenReceipt(ctx, digits); err != nil {
		t.Errorf("plain digits: %v", err)
	}
}

func TestStaffPermissions(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	sub, err := f.svc.Submit(ctx, answers("x", "weeks"), "en")
	if err != nil {
		t.Fatal(err)
	}
	coord := f.user(t, 1, store.RoleCoordinator)
	cw := f.user(t, 2, store.RoleCaseworker)
	cw2 := f.user(t, 3, store.RoleCaseworker)
	logi := f.user(t, 4, store.RoleLogistics)
	cust := f.user(t, 5, store.RoleCustodian)

	for _, u := range []*store.User{cw, logi, cust} {
		if _, err := f.svc.StaffThread(ctx, u, sub.RequestID); !errors.Is(err, intake.ErrForbidden) {
			t.Errorf("%s reads unassigned request: %v", u.Role, err)
		}
	}
	if err := f.svc.Assign(ctx, cw, sub.RequestID, cw.ID); !errors.Is(err, intake.ErrForbidden) {
		t.Errorf("caseworker assigns: %v", err)
	}
	if err := f.svc.Assign(ctx, coord, sub.RequestID, logi.ID); !errors.Is(err, intake.ErrInvalid) {
		t.Errorf("assign to logistics: %v", err)
	}
	if err := f.svc.Assign(ctx, coord, sub.RequestID, cw.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.StaffThread(ctx, cw, sub.RequestID); err != nil {
		t.Errorf("assigned caseworker: %v", err)
	}
	if _, err := f.svc.StaffThread(ctx, cw2, sub.RequestID); !errors.Is(err, intake.ErrForbidden) {
		t.Errorf("other caseworker: %v", err)
	}
	items, total, err := f.svc.Inbox(ctx, cw2, "", 1, 50)
	if err != nil || total != 0 || len(items) != 0 {
		t.Errorf("other caseworker inbox = %d items, %v", total, err)
	}
	items, total, err = f.svc.Inbox(ctx, cw, "", 1, 50)
	if err != nil || total != 1 || items[0].Summary != "x" {
		t.Errorf("caseworker inbox = %d %+v, %v", total, items, err)
	}
	if _, _, err := f.svc.Inbox(ctx, logi, "", 1, 50); !errors.Is(err, intake.ErrForbidden) {
		t.Errorf("logistics inbox: %v", err)
	}
	// Summaries shown in the inbox are reads, audited one by one.
	entries, err := f.st.ListAudit(ctx, store.AuditFilter{ActorID: cw.ID})
	if err != nil || entries[0].Action != "request.summary" || entries[0].Object != "request:"+sub.RequestID {
		t.Errorf("inbox summary not audited: %+v %v", entries, err)
	}
	// Denied reads are audited.
	entries, err = f.st.ListAudit(ctx, store.AuditFilter{ActorID: cw2.ID})
	if err != nil || len(entries) == 0 || entries[len(entries)-1].Action != "request.denied" {
		t.Errorf("denied read not audited: %v %v", entries, err)
	}
}

func TestStatusAndClosedReply(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	sub, _ := f.svc.Submit(ctx, answers("x", "weeks"), "en")
	op := f.user(t, 1, store.RoleOperator)
	if err := f.svc.SetStatus(ctx, op, sub.RequestID, "bogus"); !errors.Is(err, intake.ErrInvalid) {
		t.Errorf("bogus status: %v", err)
	}
	if err := f.svc.SetStatus(ctx, op, sub.RequestID, store.StatusClosed); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Reply(ctx, op, sub.RequestID, "hello"); !errors.Is(err, intake.ErrInvalid) {
		t.Errorf("reply to closed: %v", err)
	}
	if err := f.svc.Reply(ctx, op, "rnope", "hello"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("reply to missing: %v", err)
	}
}

func TestMessageChecks(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"", intake.ErrEmptyMessage},
		{" \r\n ", intake.ErrEmptyMessage},
		{strings.Repeat("я", intake.MaxMessageRunes+1), intake.ErrMessageTooLong},
		{strings.Repeat("я", intake.MaxMessageRunes), nil},
		{"bad \xff utf8", intake.ErrInvalid},
		{"nul \x00", intake.ErrInvalid},
	} {
		if _, err := intake.CheckMessage(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("CheckMessage(%.20q) = %v, want %v", tc.in, err, tc.want)
		}
	}
}

// A ciphertext moved from one request to another must not decrypt: the
// associated data binds it to its record.
func TestSwappedCiphertextRefused(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a, _ := f.svc.Submit(ctx, answers("first", "weeks"), "en")
	b, _ := f.svc.Submit(ctx, answers("second", "weeks"), "en")
	ra, _ := f.st.GetRequest(ctx, a.RequestID)
	rb, _ := f.st.GetRequest(ctx, b.RequestID)
	dkA, err := f.vault.OpenIntakeKey(ra.ID, ra.KeyIntake)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Decrypt(dkA, ra.Answers, "request", rb.ID, "answers"); err == nil {
		t.Fatal("answers decrypt under another record's id")
	}
}

// Nothing typed by a person is stored in clear.
func TestNoPlaintextInDatabase(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	sub, err := f.svc.Submit(ctx, intake.Answers{"what_happened": {"CANARYwhat КАНАРЕЙКА"}, "urgency": {"days"}, "location": {"CANARYloc"}}, "en")
	if err != nil {
		t.Fatal(err)
	}
	acc, _ := f.svc.OpenReceipt(ctx, sub.Receipt)
	if err := f.svc.PersonMessage(ctx, acc, "CANARYmsg"); err != nil {
		t.Fatal(err)
	}
	f.st.Close()
	files, _ := filepath.Glob(filepath.Join(f.dir, "*"))
	for _, file := range files {
		data, _ := os.ReadFile(file)
		for _, c := range []string{"CANARYwhat", "КАНАРЕЙКА", "CANARYloc", "CANARYmsg", sub.Receipt} {
			if bytes.Contains(data, []byte(c)) {
				t.Errorf("%s contains %q", file, c)
			}
		}
	}
}
