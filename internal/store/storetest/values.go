package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

var valueTests = []test{
	{"Times", testTimes},
	{"Blobs", testBlobs},
	{"BinaryKeys", testBinaryKeys},
}

// timeValues are the times every time column must take and give back in
// UTC, truncated to the microsecond.
func timeValues() []struct {
	name string
	t    time.Time
} {
	return []struct {
		name string
		t    time.Time
	}{
		{"nanoseconds and an offset", time.Date(2026, 3, 1, 12, 34, 56, 123456789, time.FixedZone("MSK", 3*3600))},
		{"epoch", time.Unix(0, 0)},
		{"just before the epoch", time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{"before 2000", time.Date(1999, 12, 31, 23, 59, 59, 999999500, time.UTC)},
		{"far past", time.Date(1900, 1, 1, 0, 0, 0, 1000, time.FixedZone("W", -9*3600))},
		{"far future", time.Date(2262, 4, 12, 0, 0, 0, 1, time.UTC)},
		{"with monotonic reading", time.Now()},
		{"local zone", time.Date(2026, 7, 1, 9, 0, 0, 500, time.Local)},
	}
}

// testTimes sends each time through every time column and expects it back
// in UTC, truncated to the microsecond.
func testTimes(t *testing.T, s store.Store) {
	ctx := t.Context()
	times := timeValues()
	u := newUser("owner")
	createUser(t, s, u)
	for i, tc := range times {
		t.Run(tc.name, func(t *testing.T) {
			want := micro(tc.t)
			check := func(what string, got time.Time) {
				t.Helper()
				if !got.Equal(want) || got.Location() != time.UTC {
					t.Errorf("%s: got %v, want %v", what, got, want)
				}
			}
			id := fmt.Sprintf("r%d", i)
			createRequest(t, s, newRequest(id, tc.t))
			r := getRequest(t, s, id)
			check("Request.CreatedAt", r.CreatedAt)
			check("Request.UpdatedAt", r.UpdatedAt)

			must(t, s.AddMessage(ctx, &store.Message{ID: id, RequestID: id, CreatedAt: tc.t, Author: store.AuthorPerson}))
			msgs, err := s.ListMessages(ctx, id)
			must(t, err)
			check("Message.CreatedAt", msgs[0].CreatedAt)

			must(t, s.SetStatus(ctx, id, store.StatusClosed, tc.t.Add(time.Hour)))
			r = getRequest(t, s, id)
			if !r.UpdatedAt.Equal(micro(tc.t.Add(time.Hour))) {
				t.Errorf("UpdatedAt after SetStatus: got %v, want %v", r.UpdatedAt, micro(tc.t.Add(time.Hour)))
			}

			v := newUser(id)
			v.CreatedAt, v.LockedUntil = tc.t, tc.t
			createUser(t, s, v)
			got, err := s.GetUser(ctx, v.ID)
			must(t, err)
			check("User.CreatedAt", got.CreatedAt)
			check("User.LockedUntil", got.LockedUntil)
			got.LockedUntil = tc.t.Add(time.Minute)
			must(t, s.UpdateUser(ctx, got))
			got, err = s.GetUser(ctx, v.ID)
			must(t, err)
			if !got.LockedUntil.Equal(micro(tc.t.Add(time.Minute))) {
				t.Errorf("LockedUntil after UpdateUser: got %v", got.LockedUntil)
			}

			sess := newSession(u.ID, tc.t, tc.t)
			must(t, s.CreateSession(ctx, sess))
			gs, err := s.GetSession(ctx, sess.TokenHash)
			must(t, err)
			check("Session.CreatedAt", gs.CreatedAt)
			check("Session.LastSeen", gs.LastSeen)

			e := &store.AuditEntry{At: tc.t, Action: "a", Object: "b"}
			must(t, s.AppendAudit(ctx, e, auditHash))
			es, err := s.AuditRange(ctx, e.Seq, 1)
			must(t, err)
			check("AuditEntry.At", es[0].At)
			checkChain(t, es, e.Seq)
		})
	}

	// A zero LockedUntil means "not locked" and reads back as zero.
	got, err := s.GetUser(ctx, u.ID)
	must(t, err)
	if !got.LockedUntil.IsZero() {
		t.Errorf("zero LockedUntil read back as %v", got.LockedUntil)
	}
}

func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// blobValues are the values every blob column that may be empty must
// take and give back byte for byte; nil and empty both read back as nil.
func blobValues() []struct {
	name string
	v    []byte
	want []byte
} {
	big := randomBytes(1 << 20)
	return []struct {
		name string
		v    []byte
		want []byte
	}{
		{"nil", nil, nil},
		{"empty", []byte{}, nil},
		{"one zero byte", []byte{0}, []byte{0}},
		{"every byte value", allBytes(), allBytes()},
		{"invalid UTF-8 and NULs", []byte("\xff\xfe\x00a\x00\xc3\x28"), []byte("\xff\xfe\x00a\x00\xc3\x28")},
		{"1 MiB", big, big},
	}
}

// testBlobs sends each value through every blob column that may be empty.
// nil and empty both read back as nil.
func testBlobs(t *testing.T, s store.Store) {
	ctx := t.Context()
	values := blobValues()
	for i, tc := range values {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("r%d", i)
			r := newRequest(id, t0)
			r.KeyIntake, r.KeyPerson, r.Answers = tc.v, tc.v, tc.v
			createRequest(t, s, r)
			want := *r
			want.KeyIntake, want.KeyPerson, want.Answers = tc.want, tc.want, tc.want
			want.CreatedAt, want.UpdatedAt = t0, t0
			checkEqual(t, &want, getRequest(t, s, id))

			m := &store.Message{ID: id, RequestID: id, CreatedAt: t0, Author: store.AuthorPerson, Body: tc.v}
			must(t, s.AddMessage(ctx, m))
			msgs, err := s.ListMessages(ctx, id)
			must(t, err)
			wantMsg := *m
			wantMsg.Body = tc.want
			checkEqual(t, &wantMsg, msgs[0])

			u := newUser(id)
			u.Username, u.TOTPSecret = tc.v, tc.v
			createUser(t, s, u)
			got, err := s.GetUser(ctx, u.ID)
			must(t, err)
			wantUser := *u
			wantUser.Username, wantUser.TOTPSecret = tc.want, tc.want
			checkEqual(t, &wantUser, got)
			got.Username, got.TOTPSecret = tc.v, tc.v
			must(t, s.UpdateUser(ctx, got))
			got, err = s.GetUser(ctx, u.ID)
			must(t, err)
			checkEqual(t, &wantUser, got)

			must(t, s.SetMeta(ctx, id, tc.v))
			v, err := s.GetMeta(ctx, id)
			must(t, err)
			if string(v) != string(tc.want) || (tc.want == nil && v != nil) {
				t.Errorf("meta: got %s, want %s", short(v), short(tc.want))
			}
		})
	}
}

// testBinaryKeys checks that binary look-up keys are compared byte for
// byte: no truncation at NUL, no text collation, no case folding.
func testBinaryKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	keys := [][]byte{
		{0},
		{0, 0},
		{0, 1},
		[]byte("A"),
		[]byte("a"),
		{0xff},
		allBytes(),
	}
	u := newUser("owner")
	createUser(t, s, u)
	for i, k := range keys {
		r := newRequest(fmt.Sprintf("r%d", i), t0)
		r.LookupID = k
		createRequest(t, s, r)
		v := newUser(fmt.Sprint(i))
		v.UsernameIndex = k
		createUser(t, s, v)
		must(t, s.CreateSession(ctx, &store.Session{TokenHash: k, UserID: u.ID, CreatedAt: t0, LastSeen: t0}))
	}
	for i, k := range keys {
		r, err := s.GetRequestByLookup(ctx, k)
		must(t, err)
		if r.ID != fmt.Sprintf("r%d", i) || string(r.LookupID) != string(k) {
			t.Errorf("lookup %x: got request %s with lookup %x", k, r.ID, r.LookupID)
		}
		v, err := s.GetUserByIndex(ctx, k)
		must(t, err)
		if string(v.UsernameIndex) != string(k) {
			t.Errorf("index %x: got user with index %x", k, v.UsernameIndex)
		}
		sess, err := s.GetSession(ctx, k)
		must(t, err)
		if string(sess.TokenHash) != string(k) {
			t.Errorf("token %x: got session %x", k, sess.TokenHash)
		}
	}
}
