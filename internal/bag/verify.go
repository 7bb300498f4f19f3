package bag

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// Verify checks the bag in dir offline: that it is complete and valid as
// RFC 8493 defines, under the stricter rules in the package comment. Every
// integrity problem found goes in the Report; an error means only that dir
// itself could not be opened or listed, so checking could not start.
// Payload files are hashed as streams, several at a time.
func Verify(dir string) (*Report, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("bag: %w", err)
	}
	v := &verifier{
		root:      root,
		files:     make(map[string]fs.FileInfo),
		irregular: make(map[string]bool),
	}
	defer v.close()
	if err := v.walk(); err != nil {
		return nil, fmt.Errorf("bag: %w", err)
	}
	v.checkDeclaration()
	v.readManifests()
	v.checkBagInfo()
	v.checkFetch()
	v.checkCompleteness()
	v.checkChecksums()
	slices.SortFunc(v.report.Problems, func(a, b Problem) int {
		return cmp.Or(strings.Compare(a.Path, b.Path), strings.Compare(string(a.Kind), string(b.Kind)), strings.Compare(a.What, b.What))
	})
	return &v.report, nil
}

type verifier struct {
	root *os.Root
	// files holds every regular file in the bag, as lstat saw it during
	// the walk; irregular every other non-directory, already reported.
	files     map[string]fs.FileInfo
	irregular map[string]bool
	manifests []*manifest
	report    Report
	// dirs holds the directories opened by dir, for the hashing
	// goroutines to share.
	dirsMu sync.Mutex
	dirs   map[string]*os.Root
}

// manifest is a parsed payload or tag manifest.
type manifest struct {
	name    string
	tag     bool
	alg     algorithm
	known   bool // alg is one this package computes
	entries map[string]entry
}

func (v *verifier) problem(p string, k Kind, format string, args ...any) {
	v.report.Problems = append(v.report.Problems, Problem{Path: p, What: fmt.Sprintf(format, args...), Kind: k})
}

func isPayload(p string) bool { return strings.HasPrefix(p, payloadDir+"/") }

// walk lists the bag without following any symbolic link.
func (v *verifier) walk() error {
	hasData := false
	err := fs.WalkDir(v.root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "." {
				return err
			}
			v.problem(p, KindUnreadable, "cannot be read: %v", unwrapPath(err))
			return nil
		}
		if p == "." {
			return nil
		}
		if !utf8.ValidString(p) {
			v.problem(strings.ToValidUTF8(p, "\uFFFD"), KindPath, "name is not valid UTF-8, so no manifest can list it")
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		switch t := d.Type(); {
		case t.IsDir():
			if p == payloadDir {
				hasData = true
			}
		case t&fs.ModeSymlink != 0:
			v.irregular[p] = true
			v.problem(p, KindIrregular, "is a symbolic link; links are not followed")
		case t.IsRegular():
			fi, err := d.Info()
			if err != nil {
				v.problem(p, KindUnreadable, "cannot be read: %v", unwrapPath(err))
				return nil
			}
			v.files[p] = fi
			if isPayload(p) {
				v.report.PayloadFiles++
				v.report.PayloadBytes += fi.Size()
			}
		default:
			v.irregular[p] = true
			v.problem(p, KindIrregular, "is not a regular file (%v)", t)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !hasData && !v.irregular[payloadDir] {
		v.problem(payloadDir, KindStructure, "the payload directory data/ is missing")
	}
	return nil
}

// unwrapPath drops the path from a *fs.PathError, which would repeat the
// Problem's Path (or name the bag's location on this machine).
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// open opens the regular file p seen in the walk, and checks that what it
// opened is that file, so that a file swapped for a link since is refused.
func (v *verifier) open(p string) (*os.File, error) {
	fi, ok := v.files[p]
	if !ok {
		return nil, fs.ErrNotExist
	}
	dir, base := path.Split(p)
	if dir == "" {
		return openSame(v.root, p, fi)
	}
	return v.openIn(strings.TrimSuffix(dir, "/"), base, fi)
}

// maxOpenDirs bounds the directories kept open, so a bag with a
// directory per item cannot exhaust the process's file descriptors.
const maxOpenDirs = 64

// openIn opens base in bag directory d, keeping d open for the files
// after it: os.Root resolves a path one directory at a time, so opening
// each file by its full path would repeat that work for every file. The
// lock is held across the open, so evicting a directory never closes one
// another goroutine is opening a file in (the opened file outlives it).
func (v *verifier) openIn(d, base string, fi fs.FileInfo) (*os.File, error) {
	v.dirsMu.Lock()
	defer v.dirsMu.Unlock()
	r, ok := v.dirs[d]
	if !ok {
		var err error
		if r, err = v.root.OpenRoot(d); err != nil {
			return nil, unwrapPath(err)
		}
		if v.dirs == nil {
			v.dirs = make(map[string]*os.Root)
		}
		if len(v.dirs) >= maxOpenDirs {
			for k, old := range v.dirs {
				old.Close()
				delete(v.dirs, k)
			}
		}
		v.dirs[d] = r
	}
	return openSame(r, base, fi)
}

func (v *verifier) close() {
	for _, r := range v.dirs {
		r.Close()
	}
	v.root.Close()
}

func openSame(root *os.Root, p string, want fs.FileInfo) (*os.File, error) {
	f, err := root.Open(p)
	if err != nil {
		return nil, unwrapPath(err)
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || !os.SameFile(st, want) {
		f.Close()
		return nil, fmt.Errorf("%w: changed while being read", ErrNotRegular)
	}
	return f, nil
}

// readSmall reads the whole of p, at most limit bytes.
func (v *verifier) readSmall(p string, limit int64) ([]byte, error) {
	f, err := v.open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = ErrTooLarge
	}
	return b, err
}

func (v *verifier) checkDeclaration() {
	if _, ok := v.files[declarationName]; !ok {
		if !v.irregular[declarationName] {
			v.problem(declarationName, KindDeclaration, "the bag declaration is missing: this is not a bag")
		}
		return
	}
	b, err := v.readSmall(declarationName, 4<<10)
	if err != nil {
		v.problem(declarationName, KindUnreadable, "cannot be read: %v", err)
		return
	}
	version, encoding, err := parseDeclaration(b)
	if err != nil {
		v.problem(declarationName, KindDeclaration, "%v", err)
		return
	}
	if err := checkDeclaration(version, encoding); err != nil {
		v.problem(declarationName, KindUnsupported, "%v", err)
	}
}

// readManifests parses every payload and tag manifest at the bag's root.
// Checking stays in UTF-8 whatever bagit.txt says, since no other encoding
// is supported and that has been reported.
func (v *verifier) readManifests() {
	for p := range v.files {
		m := &manifest{name: p}
		alg, ok := manifestAlgorithm(p, "manifest-")
		if !ok {
			if alg, ok = manifestAlgorithm(p, "tagmanifest-"); !ok {
				continue
			}
			m.tag = true
		}
		m.alg, m.known = lookupAlgorithm(alg)
		if !m.known {
			v.problem(p, KindUnsupported, "checksum algorithm %q is not supported, so its checksums are not checked", alg)
		}
		v.manifests = append(v.manifests, m)
	}
	slices.SortFunc(v.manifests, func(a, b *manifest) int { return strings.Compare(a.name, b.name) })
	for _, req := range []string{manifestName, tagManifestName} {
		if _, ok := v.files[req]; !ok && !v.irregular[req] {
			v.problem(req, KindStructure, "is missing; Corridor bags always have it")
		}
	}
	for _, m := range v.manifests {
		v.readManifest(m)
	}
}

func (v *verifier) readManifest(m *manifest) {
	f, err := v.open(m.name)
	if err != nil {
		v.problem(m.name, KindUnreadable, "cannot be read: %v", err)
		return
	}
	defer f.Close()
	size := 0
	if m.known {
		size = m.alg.size
	}
	es, lerrs, err := parseManifest(f, size)
	for _, e := range lerrs {
		v.problem(m.name, e.kind, "%s", e)
	}
	if err != nil {
		v.problem(m.name, KindUnreadable, "cannot be read: %v", unwrapPath(err))
	}
	m.entries = make(map[string]entry, len(es))
	for _, e := range es {
		switch {
		case m.tag && isPayload(e.path):
			v.problem(m.name, KindStructure, "line %d: a tag manifest must not list the payload file %q", e.line, e.path)
			continue
		case m.tag && isTagManifest(e.path):
			v.problem(m.name, KindStructure, "line %d: a tag manifest must not list the tag manifest %q", e.line, e.path)
			continue
		case !m.tag && !isPayload(e.path):
			v.problem(m.name, KindPath, "line %d: %q is outside the payload directory data/", e.line, e.path)
			continue
		}
		if first, dup := m.entries[e.path]; dup {
			v.problem(e.path, KindDuplicate, "listed twice in %s (lines %d and %d)", m.name, first.line, e.line)
			continue
		}
		m.entries[e.path] = e
	}
}

// checkBagInfo checks Payload-Oxum against the payload found: RFC 8493's
// quick test for an incomplete bag. The checksums are checked anyway.
func (v *verifier) checkBagInfo() {
	if _, ok := v.files[bagInfoName]; !ok {
		return // optional; if listed, its absence is reported as missing
	}
	f, err := v.open(bagInfoName)
	if err != nil {
		v.problem(bagInfoName, KindUnreadable, "cannot be read: %v", err)
		return
	}
	defer f.Close()
	info, lerrs, err := parseBagInfo(f)
	for _, e := range lerrs {
		v.problem(bagInfoName, e.kind, "%s", e)
	}
	if err != nil {
		v.problem(bagInfoName, KindUnreadable, "cannot be read: %v", unwrapPath(err))
	}
	oxum := info.Values("Payload-Oxum")
	switch {
	case len(oxum) > 1:
		v.problem(bagInfoName, KindOxum, "Payload-Oxum is given %d times; RFC 8493 allows it once", len(oxum))
	case len(oxum) == 1:
		octets, streams, err := parseOxum(oxum[0])
		if err != nil {
			v.problem(bagInfoName, KindOxum, "%v", err)
			return
		}
		if octets != v.report.PayloadBytes || streams != int64(v.report.PayloadFiles) {
			v.problem(bagInfoName, KindOxum, "Payload-Oxum says %d bytes in %d files, the payload has %d bytes in %d files",
				octets, streams, v.report.PayloadBytes, v.report.PayloadFiles)
		}
	}
}

// checkFetch checks that fetch.txt, if any, lists only payload files the
// payload manifests list. Whether those files are present is checked with
// the manifests.
func (v *verifier) checkFetch() {
	if _, ok := v.files[fetchName]; !ok {
		return
	}
	f, err := v.open(fetchName)
	if err != nil {
		v.problem(fetchName, KindUnreadable, "cannot be read: %v", err)
		return
	}
	defer f.Close()
	es, lerrs, err := parseFetch(f)
	for _, e := range lerrs {
		v.problem(fetchName, e.kind, "%s", e)
	}
	if err != nil {
		v.problem(fetchName, KindUnreadable, "cannot be read: %v", unwrapPath(err))
	}
	for _, e := range es {
		if !isPayload(e.path) {
			v.problem(fetchName, KindStructure, "line %d: %q is not a payload file", e.line, e.path)
			continue
		}
		for _, m := range v.manifests {
			if _, ok := m.entries[e.path]; !m.tag && !ok {
				v.problem(fetchName, KindStructure, "line %d: %q is not listed in %s", e.line, e.path, m.name)
			}
		}
	}
}

// checkCompleteness matches each manifest against the files found: every
// listed file present, every payload file in every payload manifest, and
// every tag file in every tag manifest.
func (v *verifier) checkCompleteness() {
	var paths []string
	for p := range v.files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, m := range v.manifests {
		for p, e := range m.entries {
			if _, ok := v.files[p]; !ok && !v.irregular[p] {
				v.problem(p, KindMissing, "listed in %s (line %d) but not in the bag", m.name, e.line)
			}
		}
		for _, p := range paths {
			if m.tag == isPayload(p) || (m.tag && isTagManifest(p)) {
				continue
			}
			if _, ok := m.entries[p]; !ok {
				v.problem(p, KindUnlisted, "is in the bag but not listed in %s", m.name)
			}
		}
	}
}

// hashJob is one file to hash and what its manifests say it hashes to.
type hashJob struct {
	path string
	want []want
}

type want struct {
	m   *manifest
	sum []byte
}

// checkChecksums hashes every listed file present, once for all its
// manifests, several files at a time.
func (v *verifier) checkChecksums() {
	byPath := make(map[string]*hashJob)
	for _, m := range v.manifests {
		if !m.known {
			continue
		}
		for p, e := range m.entries {
			if _, ok := v.files[p]; !ok {
				continue
			}
			j := byPath[p]
			if j == nil {
				j = &hashJob{path: p}
				byPath[p] = j
			}
			j.want = append(j.want, want{m, e.sum})
		}
	}
	jobs := make([]*hashJob, 0, len(byPath))
	for _, j := range byPath {
		jobs = append(jobs, j)
	}
	slices.SortFunc(jobs, func(a, b *hashJob) int { return strings.Compare(a.path, b.path) })

	// A buffer no larger than the largest file, so that a bag of many
	// small files does not allocate big buffers for nothing.
	bufSize := int64(512)
	for _, j := range jobs {
		bufSize = max(bufSize, min(v.files[j.path].Size()+1, 256<<10))
	}
	next := make(chan *hashJob)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(hashWorkers(), len(jobs)) {
		wg.Go(func() {
			buf := make([]byte, bufSize)
			for j := range next {
				ps := v.hashFile(j, buf)
				mu.Lock()
				v.report.Problems = append(v.report.Problems, ps...)
				mu.Unlock()
			}
		})
	}
	for _, j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()
}

// hashWorkers is how many files Verify hashes at once: one per CPU, and
// at least two, so that reading one file overlaps hashing another.
func hashWorkers() int { return max(2, runtime.GOMAXPROCS(0)) }

// hashFile computes every checksum j needs in one streaming pass.
func (v *verifier) hashFile(j *hashJob, buf []byte) []Problem {
	f, err := v.open(j.path)
	if err != nil {
		return []Problem{{j.path, fmt.Sprintf("cannot be read: %v", err), KindUnreadable}}
	}
	defer f.Close()
	hs := make([]hash.Hash, len(j.want))
	ws := make([]io.Writer, len(j.want))
	for i, w := range j.want {
		hs[i] = w.m.alg.new()
		ws[i] = hs[i]
	}
	dst := ws[0]
	if len(ws) > 1 {
		dst = io.MultiWriter(ws...)
	}
	if _, err := io.CopyBuffer(dst, struct{ io.Reader }{f}, buf); err != nil {
		return []Problem{{j.path, fmt.Sprintf("cannot be read: %v", unwrapPath(err)), KindUnreadable}}
	}
	var ps []Problem
	for i, w := range j.want {
		if got := hs[i].Sum(nil); !bytes.Equal(got, w.sum) {
			ps = append(ps, Problem{j.path, fmt.Sprintf("%s checksum %s does not match %s, which says %s",
				w.m.alg.name, hex.EncodeToString(got), w.m.name, hex.EncodeToString(w.sum)), KindChecksum})
		}
	}
	return ps
}
