package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

var txTests = []test{
	{"Commit", testTxCommit},
	{"Rollback", testTxRollback},
	{"ReadsOwnWrites", testTxReadsOwnWrites},
	{"Nested", testTxNested},
	{"UsableAfterConflict", testTxUsableAfterConflict},
	{"Panic", testTxPanic},
	{"SchemaVersion", testSchemaVersion},
}

// writeEverything makes one write through every kind of method.
func writeEverything(t *testing.T, tx store.Store) {
	t.Helper()
	ctx := t.Context()
	createRequest(t, tx, newRequest("r1", t0))
	must(t, tx.AddMessage(ctx, &store.Message{ID: "m1", RequestID: "r1", CreatedAt: at(time.Minute), Author: store.AuthorPerson}))
	must(t, tx.SetStatus(ctx, "r1", store.StatusInProgress, at(time.Hour)))
	u := newUser("alice")
	createUser(t, tx, u)
	must(t, tx.CreateSession(ctx, &store.Session{TokenHash: []byte("token"), UserID: u.ID, CreatedAt: t0, LastSeen: t0}))
	appendAudit(t, tx, u.ID, "user.create")
	must(t, tx.SetMeta(ctx, "k", []byte("v")))
}

func testTxCommit(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.Tx(ctx, func(tx store.Store) error {
		writeEverything(t, tx)
		return nil
	}))
	r := getRequest(t, s, "r1")
	if r.MessageCount != 1 || r.Status != store.StatusInProgress {
		t.Errorf("request after commit: MessageCount %d, Status %q", r.MessageCount, r.Status)
	}
	u, err := s.GetUserByIndex(ctx, []byte("index:alice"))
	must(t, err)
	_, err = s.GetSession(ctx, []byte("token"))
	must(t, err)
	audit, err := s.ListAudit(ctx, store.AuditFilter{ActorID: u.ID})
	must(t, err)
	if len(audit) != 1 {
		t.Errorf("%d audit entries after commit, want 1", len(audit))
	}
	_, err = s.GetMeta(ctx, "k")
	must(t, err)
}

func testTxRollback(t *testing.T, s store.Store) {
	ctx := t.Context()
	err := s.Tx(ctx, func(tx store.Store) error {
		writeEverything(t, tx)
		return errRollback
	})
	wantErr(t, err, errRollback)
	checkNothingWritten(t, s)
	// The store is usable afterwards.
	must(t, s.Tx(ctx, func(tx store.Store) error {
		writeEverything(t, tx)
		return nil
	}))
}

func checkNothingWritten(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	_, err := s.GetRequest(ctx, "r1")
	wantErr(t, err, store.ErrNotFound)
	_, total, err := s.ListInbox(ctx, store.InboxFilter{})
	must(t, err)
	n, err2 := s.CountUsers(ctx)
	must(t, err2)
	audit, err3 := s.ListAudit(ctx, store.AuditFilter{})
	must(t, err3)
	if total != 0 || n != 0 || len(audit) != 0 {
		t.Errorf("after rollback: %d requests, %d users, %d audit entries; want none", total, n, len(audit))
	}
	_, err = s.GetSession(ctx, []byte("token"))
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetMeta(ctx, "k")
	wantErr(t, err, store.ErrNotFound)
}

func testTxReadsOwnWrites(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.Tx(ctx, func(tx store.Store) error {
		writeEverything(t, tx)
		r := getRequest(t, tx, "r1")
		if r.MessageCount != 1 {
			t.Errorf("inside tx: MessageCount %d, want 1", r.MessageCount)
		}
		msgs, err := tx.ListMessages(ctx, "r1")
		must(t, err)
		page, total, err := tx.ListInbox(ctx, store.InboxFilter{})
		must(t, err)
		n, err := tx.CountUsers(ctx)
		must(t, err)
		v, err := tx.GetMeta(ctx, "k")
		must(t, err)
		audit, err := tx.AuditRange(ctx, 1, 10)
		must(t, err)
		if len(msgs) != 1 || len(page) != 1 || total != 1 || n != 1 || string(v) != "v" || len(audit) != 1 {
			t.Errorf("inside tx: %d messages, %d/%d inbox, %d users, meta %q, %d audit", len(msgs), len(page), total, n, v, len(audit))
		}
		return nil
	}))
}

func testTxNested(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.Tx(ctx, func(tx store.Store) error {
		createRequest(t, tx, newRequest("outer", t0))
		return tx.Tx(ctx, func(inner store.Store) error {
			// The inner transaction is the outer one: it sees its writes.
			getRequest(t, inner, "outer")
			createRequest(t, inner, newRequest("inner", t0))
			return nil
		})
	}))
	getRequest(t, s, "outer")
	getRequest(t, s, "inner")

	err := s.Tx(ctx, func(tx store.Store) error {
		createRequest(t, tx, newRequest("outer2", t0))
		return tx.Tx(ctx, func(inner store.Store) error {
			createRequest(t, inner, newRequest("inner2", t0))
			return errRollback
		})
	})
	wantErr(t, err, errRollback)
	for _, id := range []string{"outer2", "inner2"} {
		_, err := s.GetRequest(ctx, id)
		wantErr(t, err, store.ErrNotFound)
	}
}

// On PostgreSQL a failed statement aborts the whole transaction unless the
// store avoids raising the error; callers branch on ErrConflict and
// ErrNotFound and carry on.
func testTxUsableAfterConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	createRequest(t, s, newRequest("r1", t0))
	u := newUser("alice")
	createUser(t, s, u)
	must(t, s.CreateMeta(ctx, "k", []byte("v")))
	sess := newSession(u.ID, t0, t0)
	must(t, s.CreateSession(ctx, sess))

	must(t, s.Tx(ctx, func(tx store.Store) error {
		wantErr(t, tx.CreateMeta(ctx, "k", []byte("other")), store.ErrConflict)
		wantErr(t, tx.CreateRequest(ctx, newRequest("r1", t0)), store.ErrConflict)
		wantErr(t, tx.CreateUser(ctx, newUser("alice")), store.ErrConflict)
		dup := newSession(u.ID, t0, t0)
		dup.TokenHash = sess.TokenHash
		wantErr(t, tx.CreateSession(ctx, dup), store.ErrConflict)
		wantErr(t, tx.CreateSession(ctx, newSession(u.ID+1000, t0, t0)), store.ErrNotFound)
		wantErr(t, tx.AddMessage(ctx, &store.Message{ID: "m", RequestID: "missing", CreatedAt: t0, Author: store.AuthorPerson}), store.ErrNotFound)
		wantErr(t, tx.SetStatus(ctx, "missing", store.StatusClosed, t0), store.ErrNotFound)
		_, err := tx.GetRequest(ctx, "missing")
		wantErr(t, err, store.ErrNotFound)
		return tx.SetMeta(ctx, "after", []byte("ok"))
	}))
	v, err := s.GetMeta(ctx, "after")
	must(t, err)
	if string(v) != "ok" {
		t.Errorf("write after conflicts in a tx: got %q", v)
	}
}

func testTxPanic(t *testing.T, s store.Store) {
	ctx := t.Context()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic in fn did not propagate")
			}
		}()
		s.Tx(ctx, func(tx store.Store) error {
			must(t, tx.SetMeta(ctx, "k", []byte("v")))
			panic("boom")
		})
	}()
	_, err := s.GetMeta(ctx, "k")
	wantErr(t, err, store.ErrNotFound)
	// The connection went back to the pool in a usable state.
	must(t, s.SetMeta(ctx, "k2", []byte("v")))
	must(t, s.Tx(ctx, func(tx store.Store) error { return tx.SetMeta(ctx, "k3", []byte("v")) }))
}

func testSchemaVersion(t *testing.T, s store.Store) {
	ctx := t.Context()
	v, err := s.SchemaVersion(ctx)
	must(t, err)
	if v < 1 {
		t.Fatalf("SchemaVersion %d, want at least 1", v)
	}
	must(t, s.Tx(ctx, func(tx store.Store) error {
		inTx, err := tx.SchemaVersion(ctx)
		if err != nil {
			return err
		}
		if inTx != v {
			return errors.New("SchemaVersion differs inside a transaction")
		}
		return nil
	}))
}
