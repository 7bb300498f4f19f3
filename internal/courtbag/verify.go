package courtbag

import (
	"cmp"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/corridor-org/corridor/internal/bag"
	"github.com/corridor-org/corridor/internal/evidence"
	"github.com/corridor-org/corridor/internal/translog"
)

// Trust holds keys obtained apart from the bag: from the organisation's
// publications, from the witnesses, from the timestamp authority. A zero
// field means the bag's own key is used; the report says which.
type Trust struct {
	LogKey    string     // the log's vkey
	Witnesses *Witnesses // the witnesses' vkeys and how many must cosign
	TSARoots  []byte     // the timestamp authority's root certificates, PEM
}

// Check is a group of checks in a Report.
type Check string

// The checks, in the order they are reported.
const (
	CheckFiles       Check = "files"       // BagIt: manifests, checksums, nothing added or missing
	CheckFormat      Check = "format"      // a Corridor court bag, with only the files the format has
	CheckKeys        Check = "keys"        // the log key and witness policy
	CheckCheckpoints Check = "checkpoints" // signed by the log, cosigned as the policy requires
	CheckConsistency Check = "consistency" // every checkpoint extended by the latest: no fork
	CheckTimestamps  Check = "timestamps"  // RFC 3161 tokens over checkpoints
	CheckItems       Check = "items"       // originals match their SHA-256 and commitment
	CheckEvents      Check = "events"      // canonical events, one chain per item, consent history
	CheckProofs      Check = "proofs"      // each event included under a bag checkpoint
)

// Checks lists the checks in report order.
func Checks() []Check {
	return []Check{CheckFiles, CheckFormat, CheckKeys, CheckCheckpoints, CheckConsistency, CheckTimestamps,
		CheckItems, CheckEvents, CheckProofs}
}

// Problem is one thing that does not hold. Path is relative to the bag and
// comes from it: quote it (%q) when printing.
type Problem struct {
	Check Check
	Path  string
	What  string
}

// Stamp is a verified timestamp of a checkpoint.
type Stamp struct {
	Size uint64
	Time time.Time
}

// Report is the outcome of Verify.
type Report struct {
	Problems []Problem
	// Skipped holds the checks that could not run, and why.
	Skipped map[Check]string

	Files                       int   // payload files
	Bytes                       int64 // payload bytes
	Items, Originals, Destroyed int
	Events, Proofs              int // events parsed, receipts verified
	Checkpoints                 int // checkpoints that verified
	Latest                      uint64
	Stamps                      []Stamp

	// The keys the checks used, and whether each came from the bag.
	LogKey                 string
	Witnesses              Witnesses
	LogKeyFromBag          bool
	WitnessesFromBag       bool
	TSARootsFromBag, Roots bool
}

// OK reports whether every check ran and found nothing wrong.
func (r *Report) OK() bool { return len(r.Problems) == 0 && len(r.Skipped) == 0 }

func (r *Report) failed(c Check) int {
	n := 0
	for _, p := range r.Problems {
		if p.Check == c {
			n++
		}
	}
	return n
}

type verifier struct {
	dir  string
	t    Trust
	r    *Report
	mu   sync.Mutex // guards r while items are checked in parallel
	b    *bag.Bag
	root *os.Root
	// damaged holds the paths bag.Verify found a problem with.
	damaged map[string]bool
	sums    map[string][32]byte // manifest-sha256.txt, by path
	policy  translog.Policy
	roots   *x509.CertPool
	// cps holds the checkpoints that verified, by their exact bytes: a
	// receipt must be against one of them.
	cps    map[string]*translog.Checkpoint
	latest *translog.Checkpoint
	items  map[string]*itemFiles
	logs   map[uint64]*logFiles
}

// itemFiles are the files of one item in the bag.
type itemFiles struct {
	record    bool
	originals []string
	events    map[uint64]bool
	proofs    map[uint64]bool
}

// logFiles are the files of one checkpoint in the bag.
type logFiles struct{ checkpoint, consistency, token bool }

// Verify checks the court bag in dir offline: the bag's files (bag.Verify),
// its format, the keys, every checkpoint's signature and witness
// cosignatures, the consistency of every checkpoint with the latest, the
// timestamp tokens, each original against its SHA-256 and commitment, each
// event's encoding and each item's chain of events, and each event's
// receipt. Every problem goes in the Report; an error means only that dir
// could not be read at all.
func Verify(dir string, t Trust) (*Report, error) {
	br, err := bag.Verify(dir)
	if err != nil {
		return nil, err
	}
	v := &verifier{dir: dir, t: t, r: &Report{Skipped: map[Check]string{}, Files: br.PayloadFiles, Bytes: br.PayloadBytes},
		damaged: map[string]bool{}, cps: map[string]*translog.Checkpoint{},
		items: map[string]*itemFiles{}, logs: map[uint64]*logFiles{}}
	for _, p := range br.Problems {
		v.problem(CheckFiles, p.Path, "%s", p.What)
		v.damaged[p.Path] = true
	}
	v.domain()
	slices.SortStableFunc(v.r.Problems, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(slices.Index(Checks(), a.Check), slices.Index(Checks(), b.Check)), strings.Compare(a.Path, b.Path))
	})
	return v.r, nil
}

func (v *verifier) problem(c Check, path, format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.r.Problems = append(v.r.Problems, Problem{c, path, fmt.Sprintf(format, args...)})
}

func (v *verifier) skip(why string, cs ...Check) {
	for _, c := range cs {
		if _, ok := v.r.Skipped[c]; !ok {
			v.r.Skipped[c] = why
		}
	}
}

// domain runs every check after bag.Verify.
func (v *verifier) domain() {
	all := []Check{CheckFormat, CheckKeys, CheckCheckpoints, CheckConsistency, CheckTimestamps, CheckItems, CheckEvents, CheckProofs}
	b, err := bag.Open(v.dir)
	if err != nil {
		v.problem(CheckFormat, "", "the bag cannot be read: %v", err)
		v.skip("the bag cannot be read", all...)
		return
	}
	v.b = b
	if v.root, err = os.OpenRoot(v.dir); err != nil {
		v.skip("the bag cannot be read", all...)
		return
	}
	defer v.root.Close()
	v.checkFormat()
	if !v.checkKeys() {
		v.skip("no valid keys to check against", CheckCheckpoints, CheckConsistency, CheckProofs)
	} else {
		v.checkCheckpoints()
	}
	v.checkTimestamps()
	v.checkItems()
}

// read returns the payload file name (relative to data/), at most limit
// bytes, checked against the manifest as it is read.
func (v *verifier) read(name string, limit int64) ([]byte, error) {
	rc, err := v.b.OpenPayload(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

// checkFormat checks bag-info.txt's format field and sorts the files into
// items and checkpoints; a file the format does not have is a problem.
func (v *verifier) checkFormat() {
	switch fs := v.b.Info().Values(infoFormatLabel); {
	case len(fs) != 1:
		v.problem(CheckFormat, "bag-info.txt", "must name the format once (%s: %s); this is not a Corridor court bag", infoFormatLabel, Format)
	case fs[0] != Format:
		v.problem(CheckFormat, "bag-info.txt", "names the format %q; this program reads %s", fs[0], Format)
	}
	for _, name := range v.b.Payload() {
		f, ok := parsePayloadName(name)
		if !ok {
			v.problem(CheckFormat, payloadPrefix+name, "is not a file a Corridor court bag has")
			continue
		}
		switch f.kind {
		case kindCheckpoint, kindConsistency, kindToken:
			l := v.logs[f.n]
			if l == nil {
				l = &logFiles{}
				v.logs[f.n] = l
			}
			switch f.kind {
			case kindCheckpoint:
				l.checkpoint = true
			case kindConsistency:
				l.consistency = true
			default:
				l.token = true
			}
			continue
		}
		it := v.items[f.item]
		if it == nil {
			it = &itemFiles{events: map[uint64]bool{}, proofs: map[uint64]bool{}}
			v.items[f.item] = it
		}
		switch f.kind {
		case kindRecord:
			it.record = true
		case kindOriginal:
			it.originals = append(it.originals, f.name)
		case kindEvent:
			it.events[f.n] = true
		case kindProof:
			it.proofs[f.n] = true
		}
	}
	known := map[string]bool{"bagit.txt": true, "bag-info.txt": true, manifestName: true,
		readmeName: true, logKeyName: true, witnessesName: true, tsaRootsName: true, scriptName: true}
	tags := v.b.Tags()
	for _, t := range tags {
		if !known[t] {
			v.problem(CheckFormat, t, "is not a file a Corridor court bag has")
		}
	}
	for _, t := range []string{readmeName, logKeyName, witnessesName, scriptName} {
		if !slices.Contains(tags, t) {
			v.problem(CheckFormat, t, "is missing")
		}
	}
	if len(v.items) == 0 {
		v.problem(CheckFormat, "data/items", "the bag holds no item")
	}
	if mb, err := v.b.ReadTag(manifestName); err == nil {
		v.sums = parseManifestSums(mb)
	}
}

// checkKeys settles the keys to check against: those given, or the bag's.
// It reports whether a policy could be built.
func (v *verifier) checkKeys() bool {
	logKey, wit := v.t.LogKey, v.t.Witnesses
	bagKey, err := readTag(v, logKeyName, parseLogKey)
	if err != nil {
		v.problem(CheckKeys, logKeyName, "%v", err)
	}
	bagWit, err := readTag(v, witnessesName, ParseWitnesses)
	if err != nil {
		v.problem(CheckKeys, witnessesName, "%v", err)
	}
	if logKey == "" {
		logKey, v.r.LogKeyFromBag = bagKey, true
	} else if bagKey != "" && bagKey != logKey {
		v.problem(CheckKeys, logKeyName, "the bag's log key is not the one given to check against: %s", bagKey)
	}
	if wit == nil {
		wit, v.r.WitnessesFromBag = &bagWit, true
	} else if !slices.Equal(bagWit.Keys, wit.Keys) || bagWit.Required != wit.Required {
		v.problem(CheckKeys, witnessesName, "the bag's witnesses (%d of %v) are not the ones given to check against", bagWit.Required, bagWit.Keys)
	}
	v.r.LogKey, v.r.Witnesses = logKey, *wit
	rootsPEM := v.t.TSARoots
	if rootsPEM == nil && slices.Contains(v.b.Tags(), tsaRootsName) {
		if rootsPEM, err = v.b.ReadTag(tsaRootsName); err != nil {
			v.problem(CheckKeys, tsaRootsName, "cannot be read: %v", err)
		}
		v.r.TSARootsFromBag = true
	}
	if rootsPEM != nil {
		v.roots = x509.NewCertPool()
		if !v.roots.AppendCertsFromPEM(rootsPEM) {
			where := "the timestamp authority roots given"
			if v.r.TSARootsFromBag {
				where = tsaRootsName
			}
			v.problem(CheckKeys, tsaRootsName, "%s hold no PEM certificate", where)
			v.roots = nil
		}
		v.r.Roots = v.roots != nil
	}
	if logKey == "" {
		return false
	}
	p, err := translog.NewPolicy(logKey, wit.Keys, wit.Required)
	if err != nil {
		v.problem(CheckKeys, logKeyName, "the keys are not valid verifier keys: %v", err)
		return false
	}
	v.policy = p
	return true
}

// readTag reads and parses a tag file.
func readTag[T any](v *verifier, name string, parse func([]byte) (T, error)) (T, error) {
	var zero T
	b, err := v.b.ReadTag(name)
	if err != nil {
		return zero, fmt.Errorf("cannot be read: %w", err)
	}
	return parse(b)
}

// checkCheckpoints checks each checkpoint's signatures against the policy,
// then that the latest extends every other one.
func (v *verifier) checkCheckpoints() {
	sizes := make([]uint64, 0, len(v.logs))
	for s := range v.logs {
		sizes = append(sizes, s)
	}
	slices.Sort(sizes)
	bySize := map[uint64]*translog.Checkpoint{}
	for _, s := range sizes {
		l := v.logs[s]
		p := checkpointPath(s, checkpointExt)
		if !l.checkpoint {
			for ext, has := range map[string]bool{consistencyExt: l.consistency, tokenExt: l.token} {
				if has {
					v.problem(CheckFormat, payloadPrefix+checkpointPath(s, ext), "belongs to no checkpoint of the bag")
				}
			}
			continue
		}
		raw, err := v.read(p, maxNoteSize)
		if err != nil {
			v.problem(CheckCheckpoints, payloadPrefix+p, "cannot be read: %v", err)
			continue
		}
		cp, err := translog.VerifyCheckpoint(raw, v.policy)
		if err != nil {
			v.problem(CheckCheckpoints, payloadPrefix+p, "is not a checkpoint signed by the log and cosigned as required: %v", err)
			continue
		}
		if cp.Size != s {
			v.problem(CheckCheckpoints, payloadPrefix+p, "is a checkpoint of size %d, not %d", cp.Size, s)
			continue
		}
		v.cps[string(raw)] = cp
		bySize[s] = cp
		if v.latest == nil || s > v.latest.Size {
			v.latest = cp
		}
	}
	v.r.Checkpoints = len(bySize)
	if v.latest == nil {
		v.problem(CheckCheckpoints, "data/"+checkpointsDir, "the bag holds no valid checkpoint")
		v.skip("no valid checkpoint", CheckConsistency, CheckProofs)
		return
	}
	v.r.Latest = v.latest.Size
	for _, s := range sizes {
		cp, l := bySize[s], v.logs[s]
		p := payloadPrefix + checkpointPath(s, consistencyExt)
		switch {
		case cp == nil:
			continue
		case cp == v.latest:
			if l.consistency {
				v.problem(CheckFormat, p, "the latest checkpoint needs no consistency proof")
			}
			continue
		case !l.consistency:
			v.problem(CheckConsistency, p, "is missing: nothing shows that the latest checkpoint (size %d) extends this one", v.latest.Size)
			continue
		}
		b, err := v.read(checkpointPath(s, consistencyExt), 16<<10)
		if err != nil {
			v.problem(CheckConsistency, p, "cannot be read: %v", err)
			continue
		}
		oldSize, newSize, hashes, err := parseConsistency(b)
		if err != nil {
			v.problem(CheckConsistency, p, "%v", err)
			continue
		}
		if oldSize != s || newSize != v.latest.Size {
			v.problem(CheckConsistency, p, "is a proof from %d to %d, not from %d to the latest, %d", oldSize, newSize, s, v.latest.Size)
			continue
		}
		// The merkle library's error lists the roots as bytes; the sizes
		// say what a reader needs.
		if err := translog.VerifyConsistency(cp, v.latest, hashes); err != nil {
			v.problem(CheckConsistency, p, "the proof does not hold: the latest checkpoint (size %d) does not extend checkpoint %d, so the log showed two different histories", v.latest.Size, s)
		}
	}
}

// checkTimestamps checks each token over its checkpoint's exact bytes.
func (v *verifier) checkTimestamps() {
	var sizes []uint64
	for s, l := range v.logs {
		if l.token && l.checkpoint {
			sizes = append(sizes, s)
		}
	}
	slices.Sort(sizes)
	for _, s := range sizes {
		p := payloadPrefix + checkpointPath(s, tokenExt)
		if v.roots == nil {
			v.problem(CheckTimestamps, p, "cannot be checked: the bag has no timestamp authority root certificate (%s) and none was given", tsaRootsName)
			continue
		}
		token, err := v.read(checkpointPath(s, tokenExt), maxTokenSize)
		if err != nil {
			v.problem(CheckTimestamps, p, "cannot be read: %v", err)
			continue
		}
		raw, err := v.read(checkpointPath(s, checkpointExt), maxNoteSize)
		if err != nil {
			v.problem(CheckTimestamps, p, "its checkpoint cannot be read: %v", err)
			continue
		}
		when, err := translog.VerifyTimestamp(token, raw, v.roots)
		if err != nil {
			v.problem(CheckTimestamps, p, "is not a valid timestamp of checkpoint %d: %v", s, err)
			continue
		}
		v.r.Stamps = append(v.r.Stamps, Stamp{s, when})
	}
}

// checkItems checks the items, several at a time.
func (v *verifier) checkItems() {
	ids := make([]string, 0, len(v.items))
	for id := range v.items {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	next := make(chan string)
	var wg sync.WaitGroup
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for id := range next {
				v.checkItem(id, v.items[id])
			}
		})
	}
	for _, id := range ids {
		next <- id
	}
	close(next)
	wg.Wait()
}

// itemCounts is what one item adds to the report.
type itemCounts struct{ originals, destroyed, events, proofs int }

// itemDir reads one item's files. A bag of many items has many small
// files: opening each through the bag (which checks its checksum again
// and every directory on its path) would cost several times what
// bag.Verify does. The checksums are bag.Verify's to check; an item's
// directory is opened once, and the files in it by name.
type itemDir struct{ item *os.Root }

func (v *verifier) openItem(id string) (*itemDir, error) {
	r, err := v.root.OpenRoot(payloadPrefix + itemsDir + id)
	if err != nil {
		return nil, err
	}
	return &itemDir{r}, nil
}

func (d *itemDir) close() { d.item.Close() }

// readSmall returns the regular file name in root, at most
// limit bytes.
func readSmall(root *os.Root, name string, limit int64) ([]byte, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

func (v *verifier) checkItem(id string, f *itemFiles) {
	var n itemCounts
	defer func() {
		v.mu.Lock()
		v.r.Items++
		v.r.Originals += n.originals
		v.r.Destroyed += n.destroyed
		v.r.Events += n.events
		v.r.Proofs += n.proofs
		v.mu.Unlock()
	}()
	d, err := v.openItem(id)
	if err != nil {
		v.problem(CheckItems, payloadPrefix+itemsDir+id, "cannot be read: %v", unwrapPath(err))
		return
	}
	defer d.close()
	recPath := itemPath(id, recordName)
	var rec *Record
	if !f.record {
		v.problem(CheckItems, payloadPrefix+recPath, "is missing")
	} else if b, err := readSmall(d.item, recordName, maxRecordSize); err != nil {
		v.problem(CheckItems, payloadPrefix+recPath, "cannot be read: %v", unwrapPath(err))
	} else if rec, err = parseRecord(b); err != nil {
		v.problem(CheckItems, payloadPrefix+recPath, "%v", err)
	} else if rec.ID != id {
		v.problem(CheckItems, payloadPrefix+recPath, "is the record of item %q, not of %q", rec.ID, id)
		rec = nil
	}
	if rec != nil {
		v.checkOriginal(id, d, f, rec, &n)
	}
	raw := v.checkEvents(id, d, f, rec, &n)
	v.checkProofs(id, d, raw, &n)
}

// checkOriginal checks the original against the record: present exactly
// when the item is not destroyed, with the record's SHA-256 and size, and
// the record's commitment recomputed from salt and SHA-256.
func (v *verifier) checkOriginal(id string, d *itemDir, f *itemFiles, rec *Record, n *itemCounts) {
	if rec.Destroyed {
		n.destroyed++
		for _, o := range f.originals {
			v.problem(CheckItems, payloadPrefix+itemPath(id, o), "is an original of an item the record says was destroyed")
		}
		return
	}
	o := rec.Original
	for _, name := range f.originals {
		if name != o.File {
			v.problem(CheckItems, payloadPrefix+itemPath(id, name), "is not the original the record names (%s)", o.File)
		}
	}
	p := payloadPrefix + itemPath(id, o.File)
	if !slices.Contains(f.originals, o.File) {
		v.problem(CheckItems, p, "is missing: the record says the item was not destroyed")
		return
	}
	sum, listed := v.sums[p]
	switch {
	case !listed:
		v.problem(CheckItems, p, "has no SHA-256 in manifest-sha256.txt")
		return
	case v.damaged[p]:
		v.problem(CheckItems, p, "is not the file the manifest lists (see the files check): the original has been altered or removed")
		return
	case hex.EncodeToString(sum[:]) != o.SHA256:
		v.problem(CheckItems, p, "has SHA-256 %x, but the record says %s", sum, o.SHA256)
		return
	}
	if fi, err := d.item.Lstat(o.File); err != nil || fi.Size() != o.Size {
		v.problem(CheckItems, p, "is not %d bytes long, as the record says", o.Size)
		return
	}
	salt, _ := hex.DecodeString(o.Salt)
	if c := evidence.Commitment(salt, sum); hex.EncodeToString(c[:]) != rec.Commitment {
		v.problem(CheckItems, payloadPrefix+itemPath(id, recordName), "the commitment is not SHA-256(salt ‖ SHA-256(original)): the original is not the item the log speaks of")
		return
	}
	n.originals++
}

// checkEvents checks the item's events: numbered 1 to N without gaps, each
// a canonical event of this item committing to the record's original, one
// chain, first ingested, destroyed last exactly when the item was
// destroyed, and the record's consent history. It returns the bytes of the
// events that parsed, by seq.
func (v *verifier) checkEvents(id string, d *itemDir, f *itemFiles, rec *Record, n *itemCounts) map[uint64][]byte {
	var last uint64
	for s := range f.events {
		last = max(last, s)
	}
	for s := range f.proofs {
		last = max(last, s)
	}
	dir := payloadPrefix + itemsDir + id + "/"
	if last == 0 {
		v.problem(CheckEvents, dir, "the item has no custody event")
		return nil
	}
	raw := map[uint64][]byte{}
	var events []evidence.Event
	complete := true
	for s := uint64(1); s <= last; s++ {
		p := eventPath(id, int64(s), eventSuffix)
		if !f.proofs[s] {
			v.problem(CheckProofs, payloadPrefix+eventPath(id, int64(s), proofSuffix), "is missing")
		}
		if !f.events[s] {
			v.problem(CheckEvents, payloadPrefix+p, "is missing: an item's events are numbered 1, 2, 3 … without gaps")
			complete = false
			continue
		}
		b, err := readSmall(d.item, strconv.FormatUint(s, 10)+eventSuffix, maxEventSize)
		if err != nil {
			v.problem(CheckEvents, payloadPrefix+p, "cannot be read: %v", unwrapPath(err))
			complete = false
			continue
		}
		e, err := evidence.ParseEvent(b)
		switch {
		case err != nil:
			v.problem(CheckEvents, payloadPrefix+p, "is not a custody event in the canonical encoding: %v", err)
		case uint64(e.Seq) != s:
			v.problem(CheckEvents, payloadPrefix+p, "holds event %d of its item, not event %d", e.Seq, s)
		case e.ItemID != id:
			v.problem(CheckEvents, payloadPrefix+p, "is an event of item %q", e.ItemID)
		case rec != nil && e.Commitment != hex32(rec.Commitment):
			v.problem(CheckEvents, payloadPrefix+p, "commits to another original than the record")
		default:
			raw[s] = b
			events = append(events, e)
			n.events++
			continue
		}
		complete = false
	}
	if !complete {
		return raw
	}
	if err := evidence.CheckChain(events); err != nil {
		v.problem(CheckEvents, dir, "the events do not form one chain: %v", err)
	}
	if events[0].Type != evidence.EventIngested {
		v.problem(CheckEvents, dir+"1"+eventSuffix, "the first event is %q, not %q", events[0].Type, evidence.EventIngested)
	}
	for i, e := range events {
		if e.Type == evidence.EventDestroyed && i != len(events)-1 {
			v.problem(CheckEvents, payloadPrefix+eventPath(id, e.Seq, eventSuffix), "an event follows the item's destruction")
		}
	}
	if rec == nil {
		return raw
	}
	destroyed := events[len(events)-1].Type == evidence.EventDestroyed
	switch {
	case rec.Destroyed && !destroyed:
		v.problem(CheckEvents, dir, "the record says the item was destroyed, but its trail does not end with a destroyed event")
	case !rec.Destroyed && destroyed:
		v.problem(CheckEvents, dir, "the trail ends with the item's destruction, yet the record and an original are here")
	case !rec.Destroyed && events[len(events)-1].Type != evidence.EventExported:
		v.problem(CheckEvents, dir, "the trail ends with a %q event, not with the export that made this bag: events were removed from its end", events[len(events)-1].Type)
	}
	if want := consentHistory(events); !slices.EqualFunc(want, rec.ConsentHistory, func(a, b ConsentChange) bool {
		return a.Seq == b.Seq && a.Time.Equal(b.Time) && a.Consent == b.Consent
	}) {
		v.problem(CheckEvents, payloadPrefix+itemPath(id, recordName), "the consent history is not the one the events record")
	}
	return raw
}

// checkProofs checks each event's receipt: a tlog-proof against one of the
// bag's verified checkpoints, proving the event's exact bytes are in the
// log at its index.
func (v *verifier) checkProofs(id string, d *itemDir, raw map[uint64][]byte, n *itemCounts) {
	if len(v.cps) == 0 {
		return // no checkpoint to check against: reported already
	}
	seqs := make([]uint64, 0, len(raw))
	for s := range raw {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	for _, s := range seqs {
		p := eventPath(id, int64(s), proofSuffix)
		b, err := readSmall(d.item, strconv.FormatUint(s, 10)+proofSuffix, maxProofSize)
		if errors.Is(err, fs.ErrNotExist) {
			continue // reported as missing with the events
		}
		if err != nil {
			v.problem(CheckProofs, payloadPrefix+p, "cannot be read: %v", unwrapPath(err))
			continue
		}
		ip, err := translog.ParseProof(b)
		if err != nil {
			v.problem(CheckProofs, payloadPrefix+p, "is not a tlog-proof: %v", err)
			continue
		}
		cp, ok := v.cps[string(ip.Checkpoint)]
		if !ok {
			v.problem(CheckProofs, payloadPrefix+p, "is against a checkpoint that is not one of the bag's valid checkpoints")
			continue
		}
		if err := verifyInclusion(ip, raw[s], cp); err != nil {
			v.problem(CheckProofs, payloadPrefix+p, "does not prove that event %d, as it is in this bag, is entry %d of the log under checkpoint %d", s, ip.Index, cp.Size)
			continue
		}
		n.proofs++
	}
}

// verifyInclusion checks that entry is at ip.Index in the tree cp signs.
// cp has been verified once for the whole bag, which is why this is not
// translog.VerifyProof (that verifies the checkpoint's signatures again for
// every receipt).
func verifyInclusion(ip *translog.InclusionProof, entry []byte, cp *translog.Checkpoint) error {
	if ip.Index >= cp.Size {
		return fmt.Errorf("index %d is outside the tree of %d entries", ip.Index, cp.Size)
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(entry)
	return proof.VerifyInclusion(rfc6962.DefaultHasher, ip.Index, cp.Size, leaf, ip.Hashes, cp.Hash[:])
}

// Write prints the report in plain language: one line per check, the keys
// it rests on, then every problem.
func (r *Report) Write(w io.Writer, dir string) {
	fmt.Fprintf(w, "Checking the court bag %q\n\n", dir)
	for _, c := range Checks() {
		state, detail := "OK", r.summary(c)
		if why, ok := r.Skipped[c]; ok {
			state, detail = "NOT CHECKED", why
		}
		if n := r.failed(c); n > 0 {
			state, detail = "FAILED", fmt.Sprintf("%d problem(s), listed below", n)
		}
		fmt.Fprintf(w, "  %-12s %-11s %s\n", c, state, detail)
	}
	fmt.Fprintln(w)
	from := func(fromBag bool) string {
		if fromBag {
			return "from the bag"
		}
		return "given"
	}
	fmt.Fprintf(w, "Keys checked against (compare those from the bag with the ones the organisation and the witnesses publish):\n")
	fmt.Fprintf(w, "  log      %s (%s)\n", r.LogKey, from(r.LogKeyFromBag))
	for _, k := range r.Witnesses.Keys {
		fmt.Fprintf(w, "  witness  %s (%s)\n", k, from(r.WitnessesFromBag))
	}
	fmt.Fprintf(w, "  %d witness cosignature(s) required on each checkpoint\n", r.Witnesses.Required)
	if r.Roots {
		fmt.Fprintf(w, "  timestamp authority roots %s\n", from(r.TSARootsFromBag))
	}
	if len(r.Problems) > 0 {
		fmt.Fprintf(w, "\nProblems:\n")
		for _, p := range r.Problems {
			if p.Path == "" {
				fmt.Fprintf(w, "  %s: %s\n", p.Check, printable(p.What))
			} else {
				fmt.Fprintf(w, "  %s: %q %s\n", p.Check, p.Path, printable(p.What))
			}
		}
	}
	fmt.Fprintln(w)
	switch {
	case r.OK():
		fmt.Fprintln(w, "Result: OK. Every check holds.")
	case len(r.Problems) > 0:
		fmt.Fprintf(w, "Result: FAILED. %d problem(s): do not rely on this bag as it is.\n", len(r.Problems))
	default:
		fmt.Fprintln(w, "Result: FAILED. Some checks could not run: do not rely on this bag as it is.")
	}
}

func (r *Report) summary(c Check) string {
	switch c {
	case CheckFiles:
		return fmt.Sprintf("%d payload files, %d bytes; every checksum in manifest-sha256.txt and tagmanifest-sha256.txt matches", r.Files, r.Bytes)
	case CheckFormat:
		return "a Corridor court bag (" + Format + ") with only the files its format has"
	case CheckKeys:
		if len(r.Witnesses.Keys) == 0 {
			return "the log's key; no witness: the checkpoints rest on the log's key alone"
		}
		return fmt.Sprintf("the log's key, and %d of %d witnesses' cosignatures required", r.Witnesses.Required, len(r.Witnesses.Keys))
	case CheckCheckpoints:
		return fmt.Sprintf("%d checkpoint(s), each signed by the log and cosigned as required; the latest covers %d log entries", r.Checkpoints, r.Latest)
	case CheckConsistency:
		return "the latest checkpoint extends every other one: the log showed one history"
	case CheckTimestamps:
		if len(r.Stamps) == 0 {
			return "none in the bag: it proves order and integrity, not time"
		}
		var s []string
		for _, st := range r.Stamps {
			s = append(s, fmt.Sprintf("checkpoint %d at %s", st.Size, st.Time.UTC().Format(time.RFC3339)))
		}
		return "RFC 3161 timestamps hold: " + strings.Join(s, ", ")
	case CheckItems:
		return fmt.Sprintf("%d item(s): %d original(s) match their SHA-256 and commitment; %d destroyed", r.Items, r.Originals, r.Destroyed)
	case CheckEvents:
		return fmt.Sprintf("%d custody event(s), canonical, one unbroken chain per item, consent history as recorded", r.Events)
	case CheckProofs:
		return fmt.Sprintf("%d receipt(s) prove their events are in the log", r.Proofs)
	}
	return ""
}

// unwrapPath drops the path from a *fs.PathError: the problem names the
// file already, by its path in the bag rather than on this machine.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// printable escapes what a terminal would act on rather than show: a
// problem's text may quote names and values from the bag (package bag's
// messages name files as they are in it).
func printable(s string) string {
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '\t':
			b.WriteByte(' ')
		case unicode.IsControl(r), unicode.Is(unicode.Bidi_Control, r):
			b.WriteString(strings.Trim(strconv.QuoteRune(r), "'"))
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
