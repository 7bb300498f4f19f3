package bag

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"golang.org/x/text/cases"
)

// testPayload is the payload of the bag most tests start from. The names
// cover nesting, spaces, non-ASCII and an empty file.
var testPayload = []struct{ name, content string }{
	{"items/01/original.jpg", "\xff\xd8\xff\xe0 not really a JPEG"},
	{"items/02/показания.txt", "testimony of a witness\n"},
	{"items/03/empty", ""},
	{"notes with spaces.txt", "a b c\n"},
}

var testTags = []struct{ name, content string }{
	{"README.txt", "How to check this bag.\n"},
	{"custody/events.jsonl", `{"event":"ingested"}` + "\n"},
}

var testInfo = Info{
	{"Source-Organization", "Corridor test"},
	{"Bagging-Date", "2026-01-02"},
	{"External-Description", "first line\nsecond line"},
	{"Contact-Name", "one"},
	{"Contact-Name", "two"},
}

// makeBag writes the test bag in a new directory and returns its path.
func makeBag(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bag")
	w, err := Create(dir, testInfo)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range testPayload {
		sum, n, err := w.AddPayload(p.name, strings.NewReader(p.content))
		if err != nil {
			t.Fatalf("AddPayload(%q): %v", p.name, err)
		}
		if sum != sha256.Sum256([]byte(p.content)) || n != int64(len(p.content)) {
			t.Fatalf("AddPayload(%q) = %x, %d", p.name, sum, n)
		}
	}
	for _, tg := range testTags {
		if err := w.AddTag(tg.name, []byte(tg.content)); err != nil {
			t.Fatalf("AddTag(%q): %v", tg.name, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func readFile(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriterLayout(t *testing.T) {
	dir := makeBag(t)
	if got := readFile(t, filepath.Join(dir, "bagit.txt")); got != "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n" {
		t.Errorf("bagit.txt = %q", got)
	}
	wantInfo := "Source-Organization: Corridor test\n" +
		"Bagging-Date: 2026-01-02\n" +
		"External-Description: first line\n  second line\n" +
		"Contact-Name: one\n" +
		"Contact-Name: two\n" +
		"Bag-Software-Agent: " + softwareAgent() + "\n" +
		"Payload-Oxum: 51.4\n"
	if got := readFile(t, filepath.Join(dir, "bag-info.txt")); got != wantInfo {
		t.Errorf("bag-info.txt =\n%s\nwant\n%s", got, wantInfo)
	}
	var want strings.Builder
	names := make([]string, 0, len(testPayload))
	for _, p := range testPayload {
		names = append(names, p.name)
	}
	slices.Sort(names)
	for _, n := range names {
		for _, p := range testPayload {
			if p.name == n {
				sum := sha256.Sum256([]byte(p.content))
				formatManifestLine(&want, sum[:], "data/"+n)
			}
		}
	}
	if got := readFile(t, filepath.Join(dir, "manifest-sha256.txt")); got != want.String() {
		t.Errorf("manifest-sha256.txt =\n%s\nwant\n%s", got, want.String())
	}
	tm := readFile(t, filepath.Join(dir, "tagmanifest-sha256.txt"))
	var listed []string
	for l := range strings.Lines(tm) {
		_, p, _ := strings.Cut(strings.TrimSuffix(l, "\n"), "  ")
		listed = append(listed, p)
	}
	wantListed := []string{"README.txt", "bag-info.txt", "bagit.txt", "custody/events.jsonl", "manifest-sha256.txt"}
	if !slices.Equal(listed, wantListed) {
		t.Errorf("tag manifest lists %q, want %q", listed, wantListed)
	}
	if fi, err := os.Stat(filepath.Join(dir, "data/items/01/original.jpg")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("payload file: %v, %v; want mode 0600", fi, err)
	}

	r, err := Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || r.PayloadFiles != 4 || r.PayloadBytes != 51 {
		t.Errorf("Verify = %+v, want OK with 4 files of 51 bytes", r)
	}
}

func TestWriterDefaults(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bag")
	w, err := Create(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	info := b.Info()
	if len(info) != 3 || info[0].Label != "Bagging-Date" || info[1].Label != "Bag-Software-Agent" ||
		info[2] != (Field{"Payload-Oxum", "0.0"}) {
		t.Errorf("Info() = %q", info)
	}
	if len(info[0].Value) != len("2006-01-02") {
		t.Errorf("Bagging-Date = %q", info[0].Value)
	}
	if r, err := Verify(dir); err != nil || !r.OK() {
		t.Errorf("Verify(empty bag) = %+v, %v", r, err)
	}
	if len(b.Payload()) != 0 {
		t.Errorf("Payload() = %q", b.Payload())
	}
}

// TestSha256sum checks the promise made to courts: coreutils' sha256sum,
// run in the bag, checks both manifests, and notices a change.
func TestSha256sum(t *testing.T) {
	bin, err := exec.LookPath("sha256sum")
	if err != nil {
		if os.Getenv("CORRIDOR_REQUIRE_PEERS") == "1" {
			t.Fatal("sha256sum not found and CORRIDOR_REQUIRE_PEERS=1")
		}
		t.Skip("sha256sum not installed")
	}
	dir := makeBag(t)
	run := func(manifest string) (string, error) {
		cmd := exec.Command(bin, "--check", "--strict", manifest)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, m := range []string{"manifest-sha256.txt", "tagmanifest-sha256.txt"} {
		out, err := run(m)
		if err != nil {
			t.Fatalf("sha256sum -c %s: %v\n%s", m, err, out)
		}
		if n := strings.Count(out, ": OK\n"); n != len(strings.Split(strings.TrimSpace(readFile(t, filepath.Join(dir, m))), "\n")) {
			t.Errorf("sha256sum -c %s checked %d files:\n%s", m, n, out)
		}
	}
	flipBit(t, filepath.Join(dir, "data/items/02/показания.txt"), 3, 0)
	out, err := run("manifest-sha256.txt")
	if err == nil || !strings.Contains(out, "data/items/02/показания.txt: FAILED") {
		t.Errorf("sha256sum -c after a flipped bit: %v\n%s", err, out)
	}
}

func flipBit(t testing.TB, name string, off int, bit uint) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 1 << bit
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestEncodedNames checks names RFC 8493 says must be percent-encoded.
func TestEncodedNames(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bag")
	w, err := Create(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"100%.txt", "two\nlines\r\n.txt", "%0A", "cr\r"}
	for _, n := range names {
		if _, _, err := w.AddPayload(n, strings.NewReader(n)); err != nil {
			t.Fatalf("AddPayload(%q): %v", n, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	m := readFile(t, filepath.Join(dir, "manifest-sha256.txt"))
	for _, enc := range []string{"data/100%25.txt\n", "data/two%0Alines%0D%0A.txt\n", "data/%250A\n", "data/cr%0D\n"} {
		if !strings.Contains(m, "  "+enc) {
			t.Errorf("manifest lacks %q:\n%s", enc, m)
		}
	}
	if r, err := Verify(dir); err != nil || !r.OK() {
		t.Fatalf("Verify = %+v, %v", r, err)
	}
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	if got := b.Payload(); !slices.Equal(got, names) {
		t.Errorf("Payload() = %q, want %q", got, names)
	}
	for _, n := range names {
		rc, err := b.OpenPayload(n)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != n {
			t.Errorf("OpenPayload(%q) read %q, %v", n, got, err)
		}
	}
}

func TestAddPayloadNames(t *testing.T) {
	for _, tc := range []struct {
		names []string // added in order; the last must fail
		want  error
	}{
		{[]string{""}, ErrBadName},
		{[]string{"/etc/passwd"}, ErrBadName},
		{[]string{"../x"}, ErrBadName},
		{[]string{"a/../../x"}, ErrBadName},
		{[]string{"a/./b"}, ErrBadName},
		{[]string{"a//b"}, ErrBadName},
		{[]string{"a/"}, ErrBadName},
		{[]string{`a\b`}, ErrBadName},
		{[]string{"a\x00b"}, ErrBadName},
		{[]string{"\xff.txt"}, ErrBadName},
		{[]string{"a.txt", "a.txt"}, ErrDuplicate},
		{[]string{"a.txt", "A.TXT"}, ErrDuplicate},
		{[]string{"Stra\u00dfe", "STRASSE"}, ErrDuplicate},  // full case folding
		{[]string{"caf\u00e9", "cafe\u0301"}, ErrDuplicate}, // NFC and NFD
		{[]string{"dir", "dir/x"}, ErrDuplicate},            // a file's parent is a file
		{[]string{"dir/x", "dir"}, ErrDuplicate},            // a file where a directory is
		{[]string{"dir/x", "DIR/y"}, ErrDuplicate},          // a directory differing in case
		{[]string{"dir/sub/x", "dir/SUB"}, ErrDuplicate},    // a file differing in case from a directory
		{[]string{"dir/x", "dir/y", "dir/sub/z", "dir/y"}, ErrDuplicate},
	} {
		dir := filepath.Join(t.TempDir(), "bag")
		w, err := Create(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, n := range tc.names {
			_, _, err := w.AddPayload(n, strings.NewReader("x"))
			last := i == len(tc.names)-1
			if !last && err != nil {
				t.Fatalf("%q: AddPayload(%q): %v", tc.names, n, err)
			}
			if last && !errors.Is(err, tc.want) {
				t.Errorf("%q: AddPayload(%q) = %v, want %v", tc.names, n, err, tc.want)
			}
		}
		// What failed left nothing behind: the bag still verifies.
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if r, err := Verify(dir); err != nil || !r.OK() {
			t.Errorf("%q: Verify = %+v, %v", tc.names, r, err)
		}
	}
}

func TestAddTagNames(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bag")
	w, err := Create(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"bagit.txt", "BagIt.TXT", "bag-info.txt", "fetch.txt", "manifest-sha256.txt",
		"manifest-md5.txt", "Manifest-SHA512.txt", "tagmanifest-sha256.txt", "tagmanifest-sha1.txt",
		"data", "data/x", "DATA/x", "bagit.txt/x", "../x", "/x", "a//b"} {
		if err := w.AddTag(n, nil); !errors.Is(err, ErrBadName) {
			t.Errorf("AddTag(%q) = %v, want ErrBadName", n, err)
		}
	}
	for _, n := range []string{"README.txt", "proofs/manifest-sha256.txt", "proofs/bagit.txt", "datum"} {
		if err := w.AddTag(n, []byte(n)); err != nil {
			t.Errorf("AddTag(%q) = %v", n, err)
		}
	}
	if err := w.AddTag("readme.TXT", nil); !errors.Is(err, ErrDuplicate) {
		t.Errorf("AddTag(readme.TXT) = %v, want ErrDuplicate", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if r, err := Verify(dir); err != nil || !r.OK() {
		t.Errorf("Verify = %+v, %v", r, err)
	}
	if _, _, err := w.AddPayload("late", strings.NewReader("")); !errors.Is(err, ErrClosed) {
		t.Errorf("AddPayload after Close = %v", err)
	}
	if err := w.AddTag("late", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("AddTag after Close = %v", err)
	}
	if err := w.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v", err)
	}
}

func TestCreateInfo(t *testing.T) {
	for _, info := range []Info{
		{{"", "x"}},
		{{"A:B", "x"}},
		{{" A", "x"}},
		{{"A ", "x"}},
		{{"A\nB", "x"}},
		{{"A", "x\ry"}},
		{{"A", "x\n y"}},
		{{"A", "x\n\ty"}},
		{{"A", "\xff"}},
		{{"Payload-Oxum", "1.1"}},
		{{"payload-oxum", "1.1"}},
		{{"Bagging-Date", "2026-1-2"}},
		{{"Bagging-Date", "2026-01-02"}, {"Bagging-Date", "2026-01-03"}},
	} {
		dir := filepath.Join(t.TempDir(), "bag")
		if _, err := Create(dir, info); !errors.Is(err, ErrBadInfo) {
			t.Errorf("Create(%q) = %v, want ErrBadInfo", info, err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Create(%q) left %s behind", info, dir)
		}
	}
	// Values that are fine, and come back unchanged.
	info := Info{
		{"Label with spaces", " leading space, trailing space "},
		{"Empty", ""},
		{"Multi", "a\n\nb\n"},
		{"Кириллица", "значение"},
		{"Bag-Software-Agent", "someone else"},
	}
	dir := filepath.Join(t.TempDir(), "bag")
	w, err := Create(dir, info)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := b.Info()
	if len(got) != len(info)+2 || !slices.Equal(got[:len(info)], info) {
		t.Errorf("Info() = %q, want %q then Bagging-Date and Payload-Oxum", got, info)
	}
}

func TestCreateDirectory(t *testing.T) {
	parent := t.TempDir()
	full := filepath.Join(parent, "full")
	if err := os.MkdirAll(filepath.Join(full, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(full, nil); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("Create(non-empty) = %v, want ErrNotEmpty", err)
	}
	empty := filepath.Join(parent, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := Create(empty, nil)
	if err != nil {
		t.Fatalf("Create(empty) = %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(filepath.Join(parent, "no", "such"), nil); err == nil {
		t.Error("Create with a missing parent succeeded")
	}
}

// TestAddPayloadReadError checks that a failed payload leaves nothing and
// the writer carries on.
func TestAddPayloadReadError(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bag")
	w, err := Create(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("connection lost")
	r := io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(boom))
	if _, _, err := w.AddPayload("a", r); !errors.Is(err, boom) {
		t.Fatalf("AddPayload = %v, want %v", err, boom)
	}
	if _, err := os.Stat(filepath.Join(dir, "data/a")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the failed file is still there: %v", err)
	}
	if _, _, err := w.AddPayload("a", strings.NewReader("whole")); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if r, err := Verify(dir); err != nil || !r.OK() || r.PayloadBytes != 5 {
		t.Errorf("Verify = %+v, %v", r, err)
	}
}

func TestAbort(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "bag")
	w, err := Create(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.AddPayload("a/b/c", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if err := w.AddTag("t/u", []byte("y")); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Abort left %s: %v", dir, err)
	}
	if _, _, err := w.AddPayload("x", strings.NewReader("")); !errors.Is(err, ErrClosed) {
		t.Errorf("AddPayload after Abort = %v", err)
	}

	// A directory that existed (empty) before Create stays, empty.
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if w, err = Create(dir, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.AddPayload("a", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Errorf("after Abort %s holds %v, %v", dir, ents, err)
	}
}

func TestOpen(t *testing.T) {
	dir := makeBag(t)
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range testPayload {
		names = append(names, p.name)
	}
	slices.Sort(names)
	if got := b.Payload(); !slices.Equal(got, names) {
		t.Errorf("Payload() = %q, want %q", got, names)
	}
	wantTags := []string{"README.txt", "bag-info.txt", "bagit.txt", "custody/events.jsonl", "manifest-sha256.txt"}
	if got := b.Tags(); !slices.Equal(got, wantTags) {
		t.Errorf("Tags() = %q, want %q", got, wantTags)
	}
	if got := b.Info().Values("contact-name"); !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("Values(contact-name) = %q", got)
	}
	if got := b.Info().Values("External-Description"); !slices.Equal(got, []string{"first line\nsecond line"}) {
		t.Errorf("Values(External-Description) = %q", got)
	}
	for _, tg := range testTags {
		got, err := b.ReadTag(tg.name)
		if err != nil || string(got) != tg.content {
			t.Errorf("ReadTag(%q) = %q, %v", tg.name, got, err)
		}
	}
	for _, p := range testPayload {
		rc, err := b.OpenPayload(p.name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != p.content {
			t.Errorf("OpenPayload(%q) read %q, %v", p.name, got, err)
		}
	}
	if _, err := b.ReadTag("tagmanifest-sha256.txt"); !errors.Is(err, ErrNotListed) {
		t.Errorf("ReadTag(unlisted) = %v", err)
	}
	if _, err := b.OpenPayload("../bagit.txt"); !errors.Is(err, ErrNotListed) {
		t.Errorf("OpenPayload(../bagit.txt) = %v", err)
	}

	// Changed after Open: both readers notice.
	flipBit(t, filepath.Join(dir, "README.txt"), 0, 0)
	if _, err := b.ReadTag("README.txt"); !errors.Is(err, ErrChecksum) {
		t.Errorf("ReadTag(changed) = %v, want ErrChecksum", err)
	}
	flipBit(t, filepath.Join(dir, "data/notes with spaces.txt"), 2, 7)
	rc, err := b.OpenPayload("notes with spaces.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rc); !errors.Is(err, ErrChecksum) {
		t.Errorf("reading a changed payload file = %v, want ErrChecksum", err)
	}
	rc.Close()

	// Swapped for links: refused, even though they stay inside the bag.
	for _, l := range []struct{ link, target string }{
		{"README.txt", "bagit.txt"},
		{"data/items/01/original.jpg", "../02/показания.txt"},
		{"custody", "data"},
	} {
		p := filepath.Join(dir, l.link)
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(l.target, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.ReadTag("README.txt"); !errors.Is(err, ErrNotRegular) {
		t.Errorf("ReadTag(link) = %v, want ErrNotRegular", err)
	}
	if _, err := b.ReadTag("custody/events.jsonl"); !errors.Is(err, ErrNotRegular) {
		t.Errorf("ReadTag(through a linked directory) = %v, want ErrNotRegular", err)
	}
	if _, err := b.OpenPayload("items/01/original.jpg"); !errors.Is(err, ErrNotRegular) {
		t.Errorf("OpenPayload(link) = %v, want ErrNotRegular", err)
	}
}

func TestOpenInvalid(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(dir string) error
	}{
		{"no bagit.txt", func(dir string) error { return os.Remove(filepath.Join(dir, "bagit.txt")) }},
		{"bad bagit.txt", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "bagit.txt"), []byte("BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n"), 0o600)
		}},
		{"no manifest", func(dir string) error { return os.Remove(filepath.Join(dir, "manifest-sha256.txt")) }},
		{"no tag manifest", func(dir string) error { return os.Remove(filepath.Join(dir, "tagmanifest-sha256.txt")) }},
		{"traversal", func(dir string) error {
			return appendFile(filepath.Join(dir, "manifest-sha256.txt"), strings.Repeat("0", 64)+"  data/../../etc/passwd\n")
		}},
		{"outside data/", func(dir string) error {
			return appendFile(filepath.Join(dir, "manifest-sha256.txt"), strings.Repeat("0", 64)+"  bagit.txt\n")
		}},
		{"duplicate", func(dir string) error {
			return appendFile(filepath.Join(dir, "tagmanifest-sha256.txt"), strings.Repeat("0", 64)+"  README.txt\n")
		}},
		{"payload in tag manifest", func(dir string) error {
			return appendFile(filepath.Join(dir, "tagmanifest-sha256.txt"), strings.Repeat("0", 64)+"  data/x\n")
		}},
		{"bad bag-info", func(dir string) error { return appendFile(filepath.Join(dir, "bag-info.txt"), "no colon\n") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := makeBag(t)
			if err := tc.mutate(dir); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(dir); !errors.Is(err, ErrInvalid) {
				t.Errorf("Open = %v, want ErrInvalid", err)
			}
		})
	}
}

func appendFile(name, s string) error {
	f, err := os.OpenFile(name, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(s)
	return errors.Join(err, f.Close())
}

// TestStreaming checks that neither Verify nor OpenPayload holds a payload
// file in memory: allocation stays far below the file's size.
func TestStreaming(t *testing.T) {
	const size = 64 << 20
	dir := filepath.Join(t.TempDir(), "bag")
	w, err := Create(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.AddPayload("big", io.LimitReader(zeros{}, size)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	allocs := func(fn func()) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		fn()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	if n := allocs(func() {
		r, err := Verify(dir)
		if err != nil || !r.OK() {
			t.Errorf("Verify = %+v, %v", r, err)
		}
	}); n > size/8 {
		t.Errorf("Verify of a %d-byte bag allocated %d bytes", size, n)
	}
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n := allocs(func() {
		rc, err := b.OpenPayload("big")
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{rc}, make([]byte, 64<<10)); err != nil || n != size {
			t.Errorf("read %d, %v", n, err)
		}
	}); n > size/8 {
		t.Errorf("reading a %d-byte payload file allocated %d bytes", size, n)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestKeyFolding(t *testing.T) {
	w := &Writer{fold: cases.Fold()}
	if w.key("ẞ/É") != w.key("ss/e\u0301") {
		t.Errorf("key does not fold case and normalisation: %q %q", w.key("ẞ/É"), w.key("ss/e\u0301"))
	}
	if bytes.Equal([]byte(w.key("a")), []byte(w.key("b"))) {
		t.Error("distinct names share a key")
	}
}

// TestAbortAfterFailedClose checks the Create, defer Abort, Close pattern
// when Close fails: the partial bag goes.
func TestAbortAfterFailedClose(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bag")
	w, err := Create(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.AddPayload("a", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	// Someone else writes into the bag: Close must not overwrite it.
	if err := os.WriteFile(filepath.Join(dir, "bagit.txt"), []byte("not ours"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close succeeded over an existing bagit.txt")
	}
	if r, err := Verify(dir); err != nil || r.OK() {
		t.Errorf("Verify after a failed Close = %+v, %v; want problems", r, err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Abort after a failed Close left %s: %v", dir, err)
	}

	// After a Close that succeeded, Abort leaves the bag alone.
	w, err = Create(filepath.Join(t.TempDir(), "other"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if r, err := Verify(w.dir); err != nil || !r.OK() {
		t.Errorf("Abort after Close removed or broke the bag: %+v, %v", r, err)
	}
}
