package cases_test

import (
	"bytes"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
)

// Canaries are planted in every free-text place of a case, one pair (Latin
// and Cyrillic) per place, with a shared prefix so that a partial copy is
// caught too.
const (
	canaryLatin    = "CANARYzq7x"
	canaryCyrillic = "КАНАРЕЙКАжщ"
)

// needle is a byte string that must (or must not) be in the files, and
// what it is.
type needle struct {
	what  string
	value []byte
}

// scan returns the needles found in any file of dir.
func scan(t *testing.T, dir string, needles []needle) []string {
	t.Helper()
	var found []string
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range needles {
			if bytes.Contains(data, n.value) {
				found = append(found, n.what+" in "+e.Name())
			}
		}
	}
	return found
}

// checkpoint copies the WAL into the database file and truncates it,
// through a connection of its own, as someone imaging the disk would
// find it at rest.
func checkpoint(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var busy, frames, done int
	if err := db.QueryRow(`PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &done); err != nil {
		t.Fatal(err)
	}
	if busy != 0 {
		t.Fatalf("checkpoint blocked (busy %d, %d frames, %d done)", busy, frames, done)
	}
}

// ciphertextNeedles returns a slice of every ciphertext the store holds
// for case id: its wrapped key, its sections and its event bodies. The
// first 32 bytes (version and nonce, random) are enough to recognise one
// and short enough never to be split across SQLite pages here.
func ciphertextNeedles(t *testing.T, f *fixture, id string) []needle {
	t.Helper()
	c, err := f.st.GetCase(f.ctx, id)
	must(t, err)
	head := func(b []byte) []byte { return bytes.Clone(b[:min(32, len(b))]) }
	ns := []needle{{"wrapped key of " + id, head(c.WrappedKey)}}
	secs, err := f.st.Sections(f.ctx, id)
	must(t, err)
	for _, s := range secs {
		ns = append(ns, needle{"section " + s.Class + " of " + id, head(s.Data)})
	}
	evs, err := f.st.CaseEvents(f.ctx, id)
	must(t, err)
	for _, e := range evs {
		if e.Body != nil {
			ns = append(ns, needle{"body of event " + e.Kind + " of " + id, head(e.Body)})
		}
	}
	return ns
}

// TestEraseShredsTheCase: after erasure the case cannot be read by anyone,
// the store holds no key, section or event body of it, what the store
// still holds decrypts under no key the unsealed vault has, and no byte of
// its ciphertext (nor any canary) is left in the SQLite files.
func TestEraseShredsTheCase(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Dir(f.path)
	var plain []needle
	plant := func(place, latinTag, cyrillicTag string) string {
		l, c := canaryLatin+latinTag, canaryCyrillic+cyrillicTag
		plain = append(plain, needle{place + " (Latin canary)", []byte(l)}, needle{place + " (Cyrillic canary)", []byte(c)})
		return l + " " + c
	}

	sections := map[string]map[string]string{}
	for _, class := range []string{"identity", "location", "testimony", "medical", "finance"} {
		sections[class] = map[string]string{"field": plant("section "+class, class, class)}
	}
	c := f.open(t, f.cw, sections)
	id := c.ID
	must(t, f.svc.Move(f.ctx, f.cw, id, "triage", "", plant("move reason", "Move", "Ход")))
	must(t, f.svc.SetRisk(f.ctx, f.cw, id, 4, []string{cases.FactorInjured}))
	must(t, f.svc.RecordVerification(f.ctx, f.cw, id, cases.Checklist{Interview: true, References: true, Documents: true}, plant("verification note", "Verify", "Проверка")))
	must(t, f.svc.UpdateSection(f.ctx, f.cw, id, "logistics", map[string]string{"plan": plant("logistics section", "Plan", "План")}))
	must(t, f.svc.AddNote(f.ctx, f.cw, id, "medical", plant("medical note", "Note", "Заметка")))
	must(t, f.svc.Flag(f.ctx, f.cw, id, true, plant("flag note", "Flag", "Флаг")))
	must(t, f.svc.BreakGlass(f.ctx, f.coord, id, plant("break-glass reason", "Glass", "Стекло")))

	// Another case that stays, so that the scan is seen to find what is
	// there.
	kept := f.open(t, f.cw2, map[string]map[string]string{"identity": {"name": "kept"}})
	keptNeedles := ciphertextNeedles(t, f, kept.ID)
	erased := ciphertextNeedles(t, f, id)
	if len(erased) != 14 { // key, 6 sections, 7 event bodies
		t.Fatalf("only %d ciphertexts to look for", len(erased))
	}

	// Before erasure: every ciphertext is on disk, no plaintext is.
	checkpoint(t, f.path)
	if found := scan(t, dir, erased); len(found) != len(erased) {
		t.Fatalf("before erasure the scan finds %d of %d ciphertexts: the scan is broken", len(found), len(erased))
	}
	if found := scan(t, dir, plain); len(found) > 0 {
		t.Fatalf("plaintext on disk before erasure: %v", found)
	}

	// Who may erase: admins and coordinators with access, with a reason.
	wantErr(t, "assignee erases", f.svc.Erase(f.ctx, f.cw, id, "asked to be forgotten"), cases.ErrForbidden)
	wantErr(t, "coordinator without access erases", f.svc.Erase(f.ctx, f.coord2, id, "asked to be forgotten"), cases.ErrForbidden)
	wantErr(t, "erase without a reason", f.svc.Erase(f.ctx, f.coord, id, " "), cases.ErrInvalid)
	must(t, f.svc.Erase(f.ctx, f.coord, id, "the person asked to be forgotten"))

	// Nobody can read or change it any more.
	for _, u := range []*store.User{f.cw, f.coord, f.admin} {
		_, err := f.svc.View(f.ctx, u, id)
		wantErr(t, u.Role+" views the erased case", err, cases.ErrErased)
	}
	for what, err := range map[string]error{
		"update":      f.svc.UpdateSection(f.ctx, f.cw, id, "identity", map[string]string{"a": "b"}),
		"note":        f.svc.AddNote(f.ctx, f.cw, id, "identity", "b"),
		"move":        f.svc.Move(f.ctx, f.cw, id, "new", "", ""),
		"break glass": f.svc.BreakGlass(f.ctx, f.coord2, id, "let me see what was there"),
		"erase again": f.svc.Erase(f.ctx, f.coord, id, "once more"),
	} {
		wantErr(t, what, err, cases.ErrErased)
	}
	_, err := f.svc.Summarise(f.ctx, f.coord, id)
	wantErr(t, "summary", err, cases.ErrErased)
	list, _, err := f.svc.List(f.ctx, f.coord, cases.ListFilter{})
	must(t, err)
	if len(list) != 1 || list[0].ID != kept.ID {
		t.Errorf("list after erasure = %v", list)
	}

	// The store holds the shell only.
	got, err := f.st.GetCase(f.ctx, id)
	must(t, err)
	if got.WrappedKey != nil || got.ErasedAt.IsZero() {
		t.Fatalf("erased case still has a key (%x) or no erasure time", got.WrappedKey)
	}
	secs, err := f.st.Sections(f.ctx, id)
	must(t, err)
	if len(secs) != 0 {
		t.Fatalf("%d sections left", len(secs))
	}
	evs, err := f.st.CaseEvents(f.ctx, id)
	must(t, err)
	for _, e := range evs {
		if e.Body != nil || e.Class != "" {
			t.Fatalf("event %s kept body or class", e.Kind)
		}
	}
	if last := evs[len(evs)-1]; last.Kind != cases.KindErase || last.ActorID != f.coord.ID {
		t.Errorf("last event = %+v", last)
	}
	if n := f.countAction(t, f.coord.ID, "case.erase", "case:"+id); n != 1 {
		t.Errorf("%d case.erase entries", n)
	}

	// Even with the unsealed vault, there is nothing to decrypt with: no
	// wrapped key to unwrap, and no key the vault derives from the root
	// opens what a backup taken before the erasure holds.
	if f.vault.Sealed() {
		t.Fatal("vault sealed")
	}
	if _, err := f.vault.UnwrapDataKey(id, got.WrappedKey); err == nil {
		t.Fatal("the vault unwrapped a key from what the store holds")
	}
	for _, purpose := range []string{keys.PurposeWrap, keys.PurposeBlindIndex, keys.PurposeStaff, keys.PurposeSession} {
		k, err := f.vault.Key(purpose)
		must(t, err)
		for _, class := range cases.Classes() {
			for _, n := range erased {
				if _, err := keys.Decrypt(k, n.value, "case", id, "section", class); err == nil {
					t.Fatalf("%s decrypts under the %s key", n.what, purpose)
				}
			}
		}
	}

	// No byte of the erased case's ciphertext is left in the files, after
	// a checkpoint and after the store is closed; the kept case is.
	check := func(when string) {
		t.Helper()
		if found := scan(t, dir, erased); len(found) > 0 {
			t.Errorf("%s: ciphertext of the erased case on disk: %v", when, found)
		}
		if found := scan(t, dir, plain); len(found) > 0 {
			t.Errorf("%s: canaries on disk: %v", when, found)
		}
		if found := scan(t, dir, keptNeedles); len(found) != len(keptNeedles) {
			t.Errorf("%s: the kept case's ciphertext is not found (%d of %d): the scan is broken", when, len(found), len(keptNeedles))
		}
	}
	checkpoint(t, f.path)
	check("after checkpoint")
	must(t, f.st.Close())
	check("after close")
	if t.Failed() {
		for _, n := range erased {
			t.Logf("%s: %s", n.what, hex.EncodeToString(n.value))
		}
	}
	if !slices.ContainsFunc(evs, func(e *store.CaseEvent) bool { return e.Kind == cases.KindBreakGlass }) {
		t.Error("the timeline's shell lost the break-glass event")
	}
}
