package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/store"
)

const testAddress = "ul. Kanareechnaya 17, kv. 4"

// addHouse creates a safe house as the harness's admin.
func (h *harness) addHouse(code string, capacity int) string {
	h.t.Helper()
	house, err := h.cases.CreateHouse(context.Background(), h.admin.user,
		cases.HouseInput{Code: code, City: "Tver", Address: testAddress, Capacity: capacity, Active: true})
	if err != nil {
		h.t.Fatal(err)
	}
	return house.ID
}

// verifyCase records a complete checklist as cw, who has the case shared.
func (h *harness) verifyCase(cw *account, caseID string) {
	h.t.Helper()
	if err := h.cases.RecordVerification(context.Background(), cw.user, caseID,
		cases.Checklist{Interview: true, References: true, Documents: true}, ""); err != nil {
		h.t.Fatal(err)
	}
}

// The house pages: the address only for logistics; occupancy for all
// who manage houses; create and edit through the forms.
func TestHousePages(t *testing.T) {
	h := newHarness(t, true)
	houseID := h.addHouse("SH-1", 2)
	for _, tc := range []struct {
		role        string
		seesAddress bool
	}{
		{store.RoleAdmin, false}, {store.RoleCoordinator, false}, {store.RoleLogistics, true},
	} {
		t.Run(tc.role, func(t *testing.T) {
			c := h.login(h.addUser(tc.role))
			list := c.get("/houses")
			if list.status != http.StatusOK || !strings.Contains(list.body, "SH-1") || !strings.Contains(list.body, "0 / 2") {
				t.Fatalf("GET /houses = %d, want the house with 0 / 2", list.status)
			}
			if strings.Contains(list.body, testAddress) {
				t.Error("the list shows an address")
			}
			page := c.get("/houses/" + houseID)
			if got := strings.Contains(page.body, testAddress); got != tc.seesAddress {
				t.Errorf("%s sees the address on the house page: %v, want %v", tc.role, got, tc.seesAddress)
			}
		})
	}
	c := h.login(h.addUser(store.RoleLogistics))
	r := c.post("/houses", url.Values{"code": {"SH-2"}, "city": {"Pskov"}, "address": {"Lenina 1"}, "capacity": {"3"}, "active": {"on"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("POST /houses = %d", r.status)
	}
	r = c.post("/houses", url.Values{"code": {"SH-2"}, "capacity": {"3"}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Another safe house has this code") {
		t.Errorf("duplicate code: %d", r.status)
	}
	// An admin edits without seeing the address; an empty address keeps it.
	a := h.login(h.addUser(store.RoleAdmin))
	r = a.post("/houses/"+houseID, url.Values{"code": {"SH-1"}, "city": {"Tver"}, "capacity": {"4"}, "active": {"on"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("POST /houses/{id} = %d", r.status)
	}
	if page := c.get("/houses/" + houseID); !strings.Contains(page.body, testAddress) || !strings.Contains(page.body, "0 / 4") {
		t.Error("after an edit without an address, the address is gone or the capacity unchanged")
	}
}

// Placement through the case page: refused before verification, then
// placed, shown with its address to logistics only.
func TestCasePlacementPages(t *testing.T) {
	h := newHarness(t, true)
	houseID := h.addHouse("SH-7", 1)
	cw := h.addUser(store.RoleCaseworker)
	lg := h.addUser(store.RoleLogistics)
	op := h.addUser(store.RoleOperator)
	caseID := h.openCase("", cw.user.ID)
	for _, u := range []*account{lg, op} {
		if err := h.cases.Share(context.Background(), h.admin.user, caseID, u.user.ID); err != nil {
			t.Fatal(err)
		}
	}
	// Each account logs in once: a TOTP code is never accepted twice.
	cwc, lgc, opc := h.login(cw), h.login(lg), h.login(op)
	r := cwc.post("/cases/"+caseID+"/placement", url.Values{"house": {houseID}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "before the case is verified") {
		t.Fatalf("placement before verification = %d", r.status)
	}
	h.verifyCase(cw, caseID)
	if r := cwc.post("/cases/"+caseID+"/placement", url.Values{"house": {houseID}, "from": {"2026-03-01"}}); r.status != http.StatusSeeOther {
		t.Fatalf("placement = %d: %.300s", r.status, r.body)
	}
	other := h.openCase("", cw.user.ID)
	h.verifyCase(cw, other)
	if r := cwc.post("/cases/"+other+"/placement", url.Values{"house": {houseID}}); r.status != http.StatusUnprocessableEntity ||
		!strings.Contains(r.body, "no free place") {
		t.Errorf("over capacity = %d", r.status)
	}
	for _, tc := range []struct {
		role                  string
		c                     *client
		seesCode, seesAddress bool
	}{{"caseworker", cwc, true, false}, {"logistics", lgc, true, true}, {"operator", opc, false, false}} {
		page := tc.c.get("/cases/" + caseID)
		if page.status != http.StatusOK {
			t.Fatalf("%s: case page %d", tc.role, page.status)
		}
		if got := strings.Contains(page.body, "SH-7"); got != tc.seesCode {
			t.Errorf("%s sees the house code: %v, want %v", tc.role, got, tc.seesCode)
		}
		if got := strings.Contains(page.body, testAddress); got != tc.seesAddress {
			t.Errorf("%s sees the address: %v, want %v", tc.role, got, tc.seesAddress)
		}
	}
	// Records: a document (identity) and a visa.
	if r := cwc.post("/cases/"+caseID+"/record", url.Values{"kind": {"document"}, "doc_type": {"passport"}}); r.status != http.StatusSeeOther {
		t.Errorf("document = %d", r.status)
	}
	if r := cwc.post("/cases/"+caseID+"/record", url.Values{"kind": {"visa"}, "country": {"Canada"}, "programme": {"emergency humanitarian visa"}}); r.status != http.StatusSeeOther {
		t.Errorf("visa = %d", r.status)
	}
	page := cwc.get("/cases/" + caseID)
	for _, want := range []string{"Passport", "Canada", "emergency humanitarian visa"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("case page lacks %q", want)
		}
	}
	if opPage := opc.get("/cases/" + caseID); strings.Contains(opPage.body, "Canada") {
		t.Error("the operator sees the visa")
	}
}
