package evidence_test

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/evidence"
	"github.com/corridor-org/corridor/internal/store"
)

func exportIDs(items []evidence.ExportItem) []string {
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	return ids
}

// TestExportItems: which items an export takes, and the consent rule.
func TestExportItems(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	r := &store.Request{ID: "rexp", LookupID: randomData(32), CreatedAt: f.clock.Now(), Status: store.StatusNew,
		KeyIntake: randomData(40), KeyPerson: randomData(40), Answers: randomData(40), AssigneeID: f.cw.ID}
	must(t, f.st.CreateRequest(f.ctx, r))
	fromPerson, err := f.svc.IngestPerson(f.ctx, "rexp", evidence.Input{Filename: "p.jpg"}, strings.NewReader("from the person"))
	must(t, err)
	f.clock.Advance(time.Second)
	c, err := f.cases.Open(f.ctx, f.cw, cases.OpenInput{RequestID: "rexp"})
	must(t, err)
	inCase, err := f.svc.Import(f.ctx, evidence.Input{CaseID: c.ID, Filename: "t.txt"}, strings.NewReader("testimony"))
	must(t, err)
	f.clock.Advance(time.Second)
	other := f.importBytes(t, "other.txt", []byte("another case"))
	// Items are exported in the order they were made (ties by id): keep
	// the expected order independent of the random ids.
	f.clock.Advance(time.Second)
	gone := f.importBytes(t, "gone.txt", []byte("to be destroyed"))
	must(t, f.svc.Destroy(f.ctx, f.cust, gone.ID))

	for _, id := range []string{fromPerson.ID, inCase.ID, other.ID} {
		must(t, f.svc.SetConsent(f.ctx, f.cw, id, store.ConsentCourt))
	}

	got, err := f.svc.ExportItems(f.ctx, evidence.Selection{CaseID: c.ID})
	must(t, err)
	if ids := exportIDs(got); !slices.Equal(ids, []string{fromPerson.ID, inCase.ID}) {
		t.Errorf("case selection %v, want the request's item then the case's", ids)
	}
	got, err = f.svc.ExportItems(f.ctx, evidence.Selection{IDs: []string{other.ID, gone.ID, other.ID}})
	must(t, err)
	if len(got) != 2 || got[0].ID != other.ID || got[0].Destroyed || !got[1].Destroyed || got[0].Commitment != other.Commitment {
		t.Errorf("id selection %+v", got)
	}
	got, err = f.svc.ExportItems(f.ctx, evidence.Selection{All: true})
	must(t, err)
	if len(got) != 4 {
		t.Errorf("all: %d items, want 4", len(got))
	}

	for name, sel := range map[string]evidence.Selection{
		"nothing":      {},
		"case and all": {CaseID: c.ID, All: true},
		"ids and case": {CaseID: c.ID, IDs: []string{other.ID}},
	} {
		_, err := f.svc.ExportItems(f.ctx, sel)
		wantErr(t, name, err, evidence.ErrInvalid)
	}
	_, err = f.svc.ExportItems(f.ctx, evidence.Selection{IDs: []string{other.ID, "vnosuchitem"}})
	wantErr(t, "unknown item", err, evidence.ErrNotFound)
	_, err = f.svc.ExportItems(f.ctx, evidence.Selection{IDs: []string{"../x"}})
	wantErr(t, "bad id", err, evidence.ErrNotFound)
	_, err = f.svc.ExportItems(f.ctx, evidence.Selection{CaseID: "cnosuchcase"})
	wantErr(t, "unknown case", err, evidence.ErrNotFound)

	// Consent: none is refused unless the caller says otherwise; court
	// and public_anonymised are both consent to court use.
	noConsent := f.importBytes(t, "n.txt", []byte("no consent yet"))
	_, err = f.svc.ExportItems(f.ctx, evidence.Selection{All: true})
	wantErr(t, "no consent", err, evidence.ErrNoConsent)
	if !strings.Contains(err.Error(), noConsent.ID) {
		t.Errorf("the refusal does not name the item: %v", err)
	}
	got, err = f.svc.ExportItems(f.ctx, evidence.Selection{All: true, WithoutConsent: true})
	must(t, err)
	if len(got) != 5 {
		t.Errorf("all without consent: %d items", len(got))
	}
	must(t, f.svc.SetConsent(f.ctx, f.cust, noConsent.ID, store.ConsentPublicAnonymised))
	_, err = f.svc.ExportItems(f.ctx, evidence.Selection{All: true})
	must(t, err)
}

// TestOpenOriginalAndRecordExported: the original streams out checked,
// the exported event joins the trail and the audit log, and a destroyed
// item has neither an original nor another event.
func TestOpenOriginalAndRecordExported(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	in := f.importBytes(t, "t.txt", []byte("what happened"))
	rec, rc, err := f.svc.OpenOriginal(f.ctx, in.ID, f.custKey)
	must(t, err)
	b, err := io.ReadAll(rc)
	rc.Close()
	must(t, err)
	if string(b) != "what happened" || rec.Commitment() != in.Commitment || rec.ItemID != in.ID {
		t.Fatalf("original %q, record %+v", b, rec)
	}
	other, _ := age.GenerateX25519Identity()
	_, _, err = f.svc.OpenOriginal(f.ctx, in.ID, other)
	if err == nil {
		t.Fatal("opened with a key it is not sealed to")
	}

	// Another item's blob behind this item's record: the reader fails at
	// the end instead of handing over the wrong bytes.
	swap := f.importBytes(t, "s.txt", []byte("something else"))
	db := f.rawSQL(t)
	_, err = db.Exec(`UPDATE evidence_items SET blob_id = (SELECT blob_id FROM evidence_items WHERE id = ?) WHERE id = ?`, swap.ID, in.ID)
	must(t, err)
	_, rc, err = f.svc.OpenOriginal(f.ctx, in.ID, f.custKey)
	must(t, err)
	_, err = io.Copy(io.Discard, rc)
	rc.Close()
	wantErr(t, "swapped blob", err, evidence.ErrIntegrity)

	f.clock.Advance(time.Minute)
	ev, err := f.svc.RecordExported(f.ctx, swap.ID)
	must(t, err)
	trail, err := f.svc.Trail(f.ctx, swap.ID)
	must(t, err)
	if len(trail) != 2 || trail[1].Event != ev || ev.Type != evidence.EventExported || ev.Seq != 2 || ev.Prev != trail[0].Hash() {
		t.Fatalf("trail %+v, exported %+v", trail, ev)
	}
	if got := f.auditActions(t, "evidence:"+swap.ID); !slices.Contains(got, "evidence.export") {
		t.Errorf("export not audited: %v", got)
	}
	var found bool
	for _, e := range f.outbox(t) {
		found = found || bytes.Equal(e.Entry, ev.Encode())
	}
	if !found {
		t.Error("the exported event is not in the outbox")
	}

	must(t, f.svc.Destroy(f.ctx, f.cust, swap.ID))
	_, _, err = f.svc.OpenOriginal(f.ctx, swap.ID, f.custKey)
	wantErr(t, "open destroyed", err, evidence.ErrDestroyed)
	_, err = f.svc.RecordExported(f.ctx, swap.ID)
	wantErr(t, "export destroyed", err, evidence.ErrDestroyed)
	trail, err = f.svc.Trail(f.ctx, swap.ID)
	must(t, err)
	if last := trail[len(trail)-1]; last.Type != evidence.EventDestroyed {
		t.Fatalf("trail ends with %s", last.Type)
	}
	_, err = f.svc.Trail(f.ctx, "vnosuchitem")
	wantErr(t, "unknown item", err, evidence.ErrNotFound)
	_, err = f.svc.RecordExported(f.ctx, "vnosuchitem")
	wantErr(t, "unknown item", err, evidence.ErrNotFound)
}
