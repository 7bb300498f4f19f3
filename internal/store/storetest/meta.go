package storetest

import (
	"testing"

	"github.com/corridor-org/corridor/internal/store"
)

var metaTests = []test{
	{"GetSetCreate", testMeta},
}

func testMeta(t *testing.T, s store.Store) {
	ctx := t.Context()
	root := randomBytes(64)
	steps := []struct {
		name    string
		do      func() error
		wantErr error
		key     string
		want    []byte
		absent  bool // GetMeta must report ErrNotFound
	}{
		{"get missing", nil, nil, "root", nil, true},
		{"create", func() error { return s.CreateMeta(ctx, "root", root) }, nil, "root", root, false},
		{"create again", func() error { return s.CreateMeta(ctx, "root", []byte("other")) }, store.ErrConflict, "root", root, false},
		{"set overwrites", func() error { return s.SetMeta(ctx, "root", []byte("v2")) }, nil, "root", []byte("v2"), false},
		{"set new key", func() error { return s.SetMeta(ctx, "salt", []byte{0, 1, 0}) }, nil, "salt", []byte{0, 1, 0}, false},
		{"set empty", func() error { return s.SetMeta(ctx, "salt", []byte{}) }, nil, "salt", nil, false},
		{"create nil", func() error { return s.CreateMeta(ctx, "nil", nil) }, nil, "nil", nil, false},
		{"create over empty", func() error { return s.CreateMeta(ctx, "nil", []byte("x")) }, store.ErrConflict, "nil", nil, false},
		{"other keys untouched", nil, nil, "root", []byte("v2"), false},
		{"keys are case-sensitive", nil, nil, "ROOT", nil, true},
	}
	for _, st := range steps {
		if st.do != nil {
			err := st.do()
			if st.wantErr != nil {
				wantErr(t, err, st.wantErr)
			} else if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		}
		got, err := s.GetMeta(ctx, st.key)
		if st.absent {
			if !isNotFound(err) {
				t.Errorf("%s: GetMeta(%q) = %x, %v; want ErrNotFound", st.name, st.key, got, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: GetMeta(%q): %v", st.name, st.key, err)
		}
		if string(got) != string(st.want) || (st.want == nil && got != nil) {
			t.Errorf("%s: GetMeta(%q) = %s, want %s", st.name, st.key, short(got), short(st.want))
		}
	}
}
