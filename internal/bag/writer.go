package bag

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Writer builds a bag in a directory. Add the payload and tag files, then
// Close, which writes the manifests, bag-info.txt and bagit.txt. Until
// Close returns nil the directory is not a valid bag: the tag manifest,
// written last, is missing, and Verify says so. A Writer is not safe for
// concurrent use.
type Writer struct {
	dir     string
	root    *os.Root
	created bool // Create made dir, so its parent must be synced too
	info    Info
	fold    cases.Caser
	// used maps the key of every file and directory path in use to the
	// path, so that two names a file system would confuse are refused.
	used    map[string]use
	dirs    []string // directories made, to sync at Close
	payload []written
	tags    []written
	octets  int64
	buf     []byte
	state   state
}

// state is where a Writer is in its life.
type state int

const (
	writing state = iota
	failed        // Close failed; Abort still cleans up
	done          // Close succeeded
	aborted
)

// use is a path in the bag and whether it is a directory.
type use struct {
	path string
	dir  bool
}

// written is a file the Writer wrote and its SHA-256.
type written struct {
	path string // relative to the bag
	sum  [32]byte
}

// Create starts a bag in dir, which must not exist (its parent must) or be
// an empty directory. info holds the caller's bag-info.txt fields, written
// in order; the writer adds Payload-Oxum itself, and Bagging-Date (today,
// UTC) and Bag-Software-Agent unless info has them.
func Create(dir string, info Info) (*Writer, error) {
	for _, f := range info {
		if err := checkField(f); err != nil {
			return nil, err
		}
		if strings.EqualFold(f.Label, "Payload-Oxum") {
			return nil, fmt.Errorf("%w: Payload-Oxum is computed by the writer", ErrBadInfo)
		}
	}
	switch dates := info.Values("Bagging-Date"); {
	case len(dates) > 1:
		return nil, fmt.Errorf("%w: Bagging-Date given more than once", ErrBadInfo)
	case len(dates) == 1:
		if _, err := time.Parse(time.DateOnly, dates[0]); err != nil {
			return nil, fmt.Errorf("%w: Bagging-Date %q is not YYYY-MM-DD", ErrBadInfo, dates[0])
		}
	}
	created := false
	switch err := os.Mkdir(dir, 0o700); {
	case err == nil:
		created = true
	case errors.Is(err, os.ErrExist):
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("bag: %w", err)
		}
		if len(ents) > 0 {
			return nil, fmt.Errorf("%w: %s", ErrNotEmpty, dir)
		}
	default:
		return nil, fmt.Errorf("bag: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("bag: %w", err)
	}
	if err := root.Mkdir(payloadDir, 0o700); err != nil {
		root.Close()
		if created {
			os.Remove(dir)
		}
		return nil, fmt.Errorf("bag: %w", err)
	}
	w := &Writer{
		dir:     dir,
		root:    root,
		created: created,
		info:    slices.Clone(info),
		fold:    cases.Fold(),
		used:    make(map[string]use),
		dirs:    []string{payloadDir},
		buf:     make([]byte, 256<<10),
	}
	w.used[w.key(payloadDir)] = use{payloadDir, true}
	return w, nil
}

// key is the form of a path under which two names that some file system
// would treat as one file collide: Unicode's canonical caseless match,
// NFD(fold(NFD(p))).
func (w *Writer) key(p string) string {
	return norm.NFD.String(w.fold.String(norm.NFD.String(p)))
}

// AddPayload streams r to data/name and returns its SHA-256 and length.
// name is a slash path relative to data/: no "..", ".", empty segment,
// leading slash, backslash or NUL, and not already used (ErrBadName,
// ErrDuplicate). On error nothing is left of the file and the Writer can
// go on.
//
// RFC 8493 requires "%", CR and LF in a name to be percent-encoded in the
// manifest, which sha256sum does not decode: to keep `sha256sum -c`
// working, give names without them.
func (w *Writer) AddPayload(name string, r io.Reader) (sum [32]byte, n int64, err error) {
	if w.state != writing {
		return sum, 0, ErrClosed
	}
	if err := checkPath(name); err != nil {
		return sum, 0, fmt.Errorf("%w: %q: %v", ErrBadName, name, err)
	}
	p := payloadDir + "/" + name
	if err := w.reserve(p); err != nil {
		return sum, 0, err
	}
	h := sha256.New()
	n, err = w.writeFile(p, func(f *os.File) (int64, error) {
		// The struct hides r's WriteTo so that the copy goes through
		// w.buf and both writers see every byte.
		return io.CopyBuffer(io.MultiWriter(f, h), struct{ io.Reader }{r}, w.buf)
	})
	if err != nil {
		delete(w.used, w.key(p))
		return sum, 0, err
	}
	h.Sum(sum[:0])
	w.payload = append(w.payload, written{p, sum})
	w.octets += n
	return sum, n, nil
}

// AddTag writes a tag file at the bag's root, or in a tag directory when
// name has slashes, and lists it in the tag manifest. The names RFC 8493
// reserves (bagit.txt, bag-info.txt, fetch.txt, manifest-*.txt,
// tagmanifest-*.txt, data/…) are refused with ErrBadName.
func (w *Writer) AddTag(name string, content []byte) error {
	if w.state != writing {
		return ErrClosed
	}
	if err := checkPath(name); err != nil {
		return fmt.Errorf("%w: %q: %v", ErrBadName, name, err)
	}
	// Compared folded, because on a file system that ignores case
	// "BagIt.txt" is bagit.txt.
	first, _, _ := strings.Cut(w.key(name), "/")
	_, manifest := manifestAlgorithm(first, "manifest-")
	if manifest || isTagManifest(first) || first == payloadDir ||
		first == declarationName || first == bagInfoName || first == fetchName {
		return fmt.Errorf("%w: %q is reserved by BagIt", ErrBadName, name)
	}
	if err := w.reserve(name); err != nil {
		return err
	}
	sum, err := w.writeBytes(name, content)
	if err != nil {
		delete(w.used, w.key(name))
		return err
	}
	w.tags = append(w.tags, written{name, sum})
	return nil
}

// reserve claims path p for a new file and makes its parent directories.
func (w *Writer) reserve(p string) error {
	if u, ok := w.used[w.key(p)]; ok {
		return fmt.Errorf("%w: %q clashes with %q", ErrDuplicate, p, u.path)
	}
	var made []string
	for d := path.Dir(p); d != "."; d = path.Dir(d) {
		if u, ok := w.used[w.key(d)]; ok {
			if u.dir && u.path == d {
				break // made before, with its parents
			}
			return fmt.Errorf("%w: %q clashes with %q", ErrDuplicate, d, u.path)
		}
		made = append(made, d)
	}
	slices.Reverse(made)
	for _, d := range made {
		if err := w.root.Mkdir(d, 0o700); err != nil {
			return fmt.Errorf("bag: %w", err)
		}
		w.dirs = append(w.dirs, d)
		w.used[w.key(d)] = use{d, true}
	}
	w.used[w.key(p)] = use{p, false}
	return nil
}

// writeFile creates the new file p, fills it with fill, and syncs it. On
// error the file is removed.
func (w *Writer) writeFile(p string, fill func(*os.File) (int64, error)) (int64, error) {
	f, err := w.root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, fmt.Errorf("bag: %w", err)
	}
	n, err := fill(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = w.root.Remove(p)
		return 0, fmt.Errorf("bag: writing %s: %w", p, err)
	}
	return n, nil
}

func (w *Writer) writeBytes(p string, b []byte) ([32]byte, error) {
	_, err := w.writeFile(p, func(f *os.File) (int64, error) {
		n, err := f.Write(b)
		return int64(n), err
	})
	return sha256.Sum256(b), err
}

// Close writes manifest-sha256.txt, bag-info.txt, bagit.txt and, last,
// tagmanifest-sha256.txt, then syncs every directory, so that once Close
// returns nil the bag survives a crash. If it fails, the bag is
// incomplete (Verify says so); call Abort to remove it.
func (w *Writer) Close() error {
	if w.state != writing {
		return ErrClosed
	}
	if err := w.close(); err != nil {
		w.state = failed
		return err
	}
	w.state = done
	return w.root.Close()
}

func (w *Writer) close() error {
	var m strings.Builder
	slices.SortFunc(w.payload, func(a, b written) int { return strings.Compare(a.path, b.path) })
	for _, f := range w.payload {
		formatManifestLine(&m, f.sum[:], f.path)
	}
	info := w.info
	if len(info.Values("Bagging-Date")) == 0 {
		info = append(info, Field{"Bagging-Date", time.Now().UTC().Format(time.DateOnly)})
	}
	if len(info.Values("Bag-Software-Agent")) == 0 {
		info = append(info, Field{"Bag-Software-Agent", softwareAgent()})
	}
	info = append(info, Field{"Payload-Oxum", strconv.FormatInt(w.octets, 10) + "." + strconv.Itoa(len(w.payload))})
	bi, err := formatBagInfo(info)
	if err != nil {
		return err
	}
	for _, t := range []struct {
		name    string
		content []byte
	}{
		{manifestName, []byte(m.String())},
		{bagInfoName, bi},
		{declarationName, []byte(declaration)},
	} {
		sum, err := w.writeBytes(t.name, t.content)
		if err != nil {
			return err
		}
		w.tags = append(w.tags, written{t.name, sum})
	}
	var tm strings.Builder
	slices.SortFunc(w.tags, func(a, b written) int { return strings.Compare(a.path, b.path) })
	for _, f := range w.tags {
		formatManifestLine(&tm, f.sum[:], f.path)
	}
	if _, err := w.writeBytes(tagManifestName, []byte(tm.String())); err != nil {
		return err
	}
	// Children before parents, so that a directory is synced after the
	// entries made in it.
	slices.SortFunc(w.dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	for _, d := range append(w.dirs, ".") {
		if err := syncDir(w.root, d); err != nil {
			return err
		}
	}
	if w.created {
		d, err := os.Open(filepath.Dir(filepath.Clean(w.dir)))
		if err != nil {
			return fmt.Errorf("bag: %w", err)
		}
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("bag: syncing the parent directory: %w", err)
		}
	}
	return nil
}

func syncDir(root *os.Root, d string) error {
	f, err := root.Open(d)
	if err != nil {
		return fmt.Errorf("bag: %w", err)
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return fmt.Errorf("bag: syncing %s: %w", d, err)
	}
	return nil
}

// Abort gives up on the bag: it removes everything the Writer wrote,
// and dir itself if Create made it, so that no partial export is left
// behind. It does nothing after a Close that succeeded, so the usual
// pattern is Create, defer Abort, add the files, Close.
func (w *Writer) Abort() error {
	if w.state == done || w.state == aborted {
		return nil
	}
	w.state = aborted
	ents, err := topNames(w.root)
	if err == nil {
		for _, e := range ents {
			if rerr := w.root.RemoveAll(e); rerr != nil && err == nil {
				err = rerr
			}
		}
	}
	w.root.Close()
	if err == nil && w.created {
		err = os.Remove(w.dir)
	}
	if err != nil {
		return fmt.Errorf("bag: removing the partial bag: %w", err)
	}
	return nil
}

// topNames lists the names in root's top directory.
func topNames(root *os.Root) ([]string, error) {
	d, err := root.Open(".")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Readdirnames(-1)
}

// softwareAgent names this software and, when the binary records it, its
// version, for bag-info.txt's Bag-Software-Agent.
func softwareAgent() string {
	const agent = "Corridor (https://github.com/corridor-org/corridor)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return agent + " " + bi.Main.Version
	}
	return agent
}
