//go:build unix

package bag

import (
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// TestVerifyFIFO checks that a named pipe is reported and not opened
// (opening one would block Verify for ever).
func TestVerifyFIFO(t *testing.T) {
	dir := makeBag(t)
	remove(t, dir, jpg)
	if err := syscall.Mkfifo(filepath.Join(dir, jpg), 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	r, err := Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []got{{"bag-info.txt", KindOxum}, {jpg, KindIrregular}}
	if !slices.Equal(problems(r), want) {
		t.Errorf("problems:\n%s\nwant %v", describe(r), want)
	}
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.OpenPayload("items/01/original.jpg"); err == nil {
		t.Error("OpenPayload opened a FIFO")
	}
}
