package bag

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"iter"
	"os"
	"slices"
	"strings"
)

// maxTag bounds what ReadTag loads into memory.
const maxTag = 256 << 20

// Bag is a parsed bag, for callers that check its domain content after
// Verify. Reading through it never follows a symbolic link, and checks
// each file against manifest-sha256.txt or tagmanifest-sha256.txt as it
// is read, so that a file changed after Verify is not silently trusted.
type Bag struct {
	dir     string
	info    Info
	payload map[string][]byte // name under data/ → SHA-256
	tags    map[string][]byte // path → SHA-256
}

// Open parses the bag in dir: bagit.txt, manifest-sha256.txt,
// tagmanifest-sha256.txt and bag-info.txt (optional). It checks no
// checksum: call Verify for that. A bag it cannot parse is ErrInvalid.
func Open(dir string) (*Bag, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("bag: %w", err)
	}
	defer root.Close()

	decl, err := readNoFollow(root, declarationName, 4<<10)
	if err != nil {
		return nil, missingInvalid(err, declarationName)
	}
	version, encoding, err := parseDeclaration(decl)
	if err == nil {
		err = checkDeclaration(version, encoding)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, declarationName, err)
	}

	b := &Bag{dir: dir}
	payload, err := openManifest(root, manifestName)
	if err != nil {
		return nil, err
	}
	b.payload = make(map[string][]byte, len(payload))
	for p, sum := range payload {
		name, ok := strings.CutPrefix(p, payloadDir+"/")
		if !ok {
			return nil, fmt.Errorf("%w: %s lists %q, outside data/", ErrInvalid, manifestName, p)
		}
		b.payload[name] = sum
	}
	if b.tags, err = openManifest(root, tagManifestName); err != nil {
		return nil, err
	}
	for p := range b.tags {
		if isPayload(p) || isTagManifest(p) {
			return nil, fmt.Errorf("%w: %s lists %q", ErrInvalid, tagManifestName, p)
		}
	}

	f, err := openNoFollow(root, bagInfoName)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		defer f.Close()
		info, lerrs, err := parseBagInfo(f)
		if err != nil {
			return nil, fmt.Errorf("bag: reading %s: %w", bagInfoName, err)
		}
		if len(lerrs) > 0 {
			return nil, fmt.Errorf("%w: %s: %s", ErrInvalid, bagInfoName, lerrs[0])
		}
		b.info = info
	}
	return b, nil
}

// missingInvalid makes the absence of a file Open requires ErrInvalid.
func missingInvalid(err error, name string) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s is missing: %w", ErrInvalid, name, err)
	}
	return err
}

// openManifest reads a SHA-256 manifest into a map from path to checksum.
func openManifest(root *os.Root, name string) (map[string][]byte, error) {
	f, err := openNoFollow(root, name)
	if err != nil {
		return nil, missingInvalid(err, name)
	}
	defer f.Close()
	es, lerrs, err := parseManifest(f, sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("bag: reading %s: %w", name, err)
	}
	if len(lerrs) > 0 {
		return nil, fmt.Errorf("%w: %s: %s", ErrInvalid, name, lerrs[0])
	}
	m := make(map[string][]byte, len(es))
	for _, e := range es {
		if _, dup := m[e.path]; dup {
			return nil, fmt.Errorf("%w: %s lists %q twice", ErrInvalid, name, e.path)
		}
		m[e.path] = e.sum
	}
	return m, nil
}

// openNoFollow opens the regular file p in root, refusing a symbolic link
// anywhere on the way (os.Root alone would follow one that stays inside).
func openNoFollow(root *os.Root, p string) (*os.File, error) {
	if err := checkPath(p); err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrBadName, p, err)
	}
	for d := range parents(p) {
		fi, err := root.Lstat(d)
		if err != nil {
			return nil, fmt.Errorf("bag: %w", err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("%w: %s", ErrNotRegular, d)
		}
	}
	fi, err := root.Lstat(p)
	if err != nil {
		return nil, fmt.Errorf("bag: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s", ErrNotRegular, p)
	}
	f, err := openSame(root, p, fi)
	if err != nil {
		return nil, fmt.Errorf("bag: %s: %w", p, err)
	}
	return f, nil
}

// parents yields the directories above p, outermost first.
func parents(p string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for i := 0; i < len(p); i++ {
			if p[i] == '/' && !yield(p[:i]) {
				return
			}
		}
	}
}

func readNoFollow(root *os.Root, p string, limit int64) ([]byte, error) {
	f, err := openNoFollow(root, p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("bag: reading %s: %w", p, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s", ErrTooLarge, p)
	}
	return b, nil
}

// Info returns the fields of bag-info.txt, in order.
func (b *Bag) Info() Info { return slices.Clone(b.info) }

// Payload returns the names of the payload files, relative to data/ (as
// given to AddPayload), sorted.
func (b *Bag) Payload() []string { return sortedKeys(b.payload) }

// Tags returns the paths of the tag files the tag manifest lists, sorted.
// They include bagit.txt, bag-info.txt and manifest-sha256.txt.
func (b *Bag) Tags() []string { return sortedKeys(b.tags) }

func sortedKeys(m map[string][]byte) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// ReadTag returns the content of the tag file name, as listed by Tags,
// after checking it against the tag manifest (ErrChecksum). Files over
// 256 MiB are refused (ErrTooLarge).
func (b *Bag) ReadTag(name string) ([]byte, error) {
	want, ok := b.tags[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotListed, name)
	}
	root, err := os.OpenRoot(b.dir)
	if err != nil {
		return nil, fmt.Errorf("bag: %w", err)
	}
	defer root.Close()
	content, err := readNoFollow(root, name, maxTag)
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(content); !bytes.Equal(sum[:], want) {
		return nil, fmt.Errorf("%w: %s", ErrChecksum, name)
	}
	return content, nil
}

// OpenPayload opens the payload file name (relative to data/, as listed by
// Payload) for streaming. The reader hashes what it reads, and at the end
// returns ErrChecksum instead of io.EOF if the content does not match
// manifest-sha256.txt; so read to io.EOF before trusting the content.
func (b *Bag) OpenPayload(name string) (io.ReadCloser, error) {
	want, ok := b.payload[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotListed, name)
	}
	root, err := os.OpenRoot(b.dir)
	if err != nil {
		return nil, fmt.Errorf("bag: %w", err)
	}
	// The file stays usable after its Root is closed.
	defer root.Close()
	f, err := openNoFollow(root, payloadDir+"/"+name)
	if err != nil {
		return nil, err
	}
	return &checkedReader{f: f, h: sha256.New(), want: want, name: name}, nil
}

// checkedReader hashes a payload file as it is read and checks the sum at
// the end.
type checkedReader struct {
	f    *os.File
	h    hash.Hash
	want []byte
	name string
}

func (r *checkedReader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	r.h.Write(p[:n])
	if err == io.EOF && !bytes.Equal(r.h.Sum(nil), r.want) {
		err = fmt.Errorf("%w: data/%s", ErrChecksum, r.name)
	}
	return n, err
}

func (r *checkedReader) Close() error { return r.f.Close() }
