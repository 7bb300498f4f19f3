package courtbag

import (
	"bytes"
	"cmp"
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"filippo.io/age"

	"github.com/corridor-org/corridor/internal/bag"
	"github.com/corridor-org/corridor/internal/evidence"
	"github.com/corridor-org/corridor/internal/translog"
)

// Vault is what an export needs from the evidence vault;
// *evidence.Service implements it.
type Vault interface {
	OpenOriginal(ctx context.Context, id string, ids ...age.Identity) (*evidence.Record, io.ReadCloser, error)
	RecordExported(ctx context.Context, id string) (evidence.Event, error)
	Trail(ctx context.Context, id string) ([]evidence.LoggedEvent, error)
}

// Log is the transparency log as an export reads it: *translog.Log when
// the exporter sequences the log itself, *translog.Reader while another
// process (a running `corridor serve`) does.
type Log interface {
	AwaitCheckpoint(ctx context.Context, size uint64) ([]byte, error)
	ProofAt(ctx context.Context, index uint64, checkpoint []byte) ([]byte, error)
	Consistency(ctx context.Context, oldSize, newSize uint64) ([][]byte, error)
	TimestampCovering(ctx context.Context, index uint64) (size uint64, checkpoint, token []byte, err error)
}

var (
	_ Vault = (*evidence.Service)(nil)
	_ Log   = (*translog.Log)(nil)
	_ Log   = (*translog.Reader)(nil)
)

// Keys are the keys a bag tells a court to trust (and to compare with
// those the organisation, the witnesses and the timestamp authority
// publish).
type Keys struct {
	LogKey    string // the log's verifier key, as served at /log/key
	Witnesses Witnesses
	// TSARoots holds the timestamp authority's root certificates (PEM).
	// Without them no timestamp token is put in the bag, since none could
	// be checked.
	TSARoots []byte
}

// Options configure Export.
type Options struct {
	Dir        string // the bag's directory: new, or empty
	Items      []evidence.ExportItem
	Identities []age.Identity // a custodian's, to open the originals
	Vault      Vault
	Log        Log
	// Sync, if set, is called until the export's events are logged: the
	// exporter's own sequencer (Integrate). Nil when another process
	// sequences the log, which the export then waits for.
	Sync func(ctx context.Context) error
	Keys Keys
	// Organisation goes in bag-info.txt as Source-Organization ("" for
	// none).
	Organisation string
	// Wait bounds the wait for the events to be logged and for a
	// checkpoint covering them (0: two minutes).
	Wait time.Duration
}

// Summary says what a bag holds.
type Summary struct {
	Items, Originals, Destroyed, Events int
	Bytes                               int64 // of the originals
	Checkpoints, Timestamps             int
	Latest                              uint64 // the latest checkpoint's tree size
	// Notes say what was left out and why, in plain language.
	Notes []string
}

// checkpoint is one checkpoint the bag holds.
type checkpoint struct {
	raw   []byte
	cp    *translog.Checkpoint
	token []byte // nil without a timestamp
}

type exporter struct {
	o       Options
	w       *bag.Writer
	policy  translog.Policy
	roots   *x509.CertPool
	sum     Summary
	records map[string]*evidence.Record // by item, for items with an original
	trails  map[string][]evidence.LoggedEvent
	latest  *checkpoint
	cps     map[uint64]*checkpoint
	// proofCP says which checkpoint each event is proven against, by log
	// index.
	proofCP map[uint64]*checkpoint
}

// Export writes a court bag of o.Items into o.Dir: each original,
// decrypted with o.Identities as a stream and checked against its SHA-256;
// then an exported custody event per item (not for destroyed items, whose
// trail ends with their destruction), logged before the bag is finished so
// that its receipt is in the bag too; then the trails, receipts,
// checkpoints, consistency proofs, timestamps, keys and README. Everything
// from the log is checked before it is written, so Export never writes a
// bag that Verify would refuse. On error nothing is left in o.Dir; events
// recorded before the error stay in the trails (an export was attempted).
func Export(ctx context.Context, o Options) (*Summary, error) {
	switch {
	case o.Dir == "" || o.Vault == nil || o.Log == nil:
		return nil, errors.New("courtbag: Options need Dir, Vault and Log")
	case len(o.Items) == 0:
		return nil, errors.New("courtbag: no items to export")
	case len(o.Identities) == 0:
		return nil, errors.New("courtbag: no identity to open the originals with")
	case !utf8.ValidString(o.Organisation) || strings.ContainsFunc(o.Organisation, unicode.IsControl):
		return nil, errors.New("courtbag: the organisation's name must be one line of text")
	}
	if o.Wait <= 0 {
		o.Wait = 2 * time.Minute
	}
	policy, err := translog.NewPolicy(o.Keys.LogKey, o.Keys.Witnesses.Keys, o.Keys.Witnesses.Required)
	if err != nil {
		return nil, err
	}
	x := &exporter{o: o, policy: policy, records: map[string]*evidence.Record{},
		cps: map[uint64]*checkpoint{}, proofCP: map[uint64]*checkpoint{}}
	if len(o.Keys.TSARoots) > 0 {
		x.roots = x509.NewCertPool()
		if !x.roots.AppendCertsFromPEM(o.Keys.TSARoots) {
			return nil, errors.New("courtbag: the timestamp authority roots hold no PEM certificate")
		}
	}
	info := bag.Info{}
	if o.Organisation != "" {
		info = append(info, bag.Field{Label: "Source-Organization", Value: o.Organisation})
	}
	info = append(info,
		bag.Field{Label: "External-Description", Value: "Court export of evidence from Corridor: originals, custody trails and transparency-log receipts. Read README.txt."},
		bag.Field{Label: infoFormatLabel, Value: Format})
	if x.w, err = bag.Create(o.Dir, info); err != nil {
		return nil, err
	}
	defer x.w.Abort() // does nothing once Close has succeeded

	if err := x.originals(ctx); err != nil {
		return nil, err
	}
	exported := map[string]evidence.Event{}
	for _, it := range o.Items {
		if it.Destroyed {
			continue
		}
		ev, err := o.Vault.RecordExported(ctx, it.ID)
		if err != nil {
			return nil, fmt.Errorf("courtbag: recording the export of %s: %w", it.ID, err)
		}
		exported[it.ID] = ev
	}
	wctx, cancel := context.WithTimeout(ctx, o.Wait)
	defer cancel()
	if err := x.awaitLogged(wctx, exported); err != nil {
		return nil, x.timeout(ctx, err)
	}
	if err := x.checkpoints(wctx); err != nil {
		return nil, x.timeout(ctx, err)
	}
	for _, it := range o.Items {
		if err := x.item(ctx, it); err != nil {
			return nil, err
		}
	}
	if err := x.logFiles(ctx); err != nil {
		return nil, err
	}
	if err := x.tags(); err != nil {
		return nil, err
	}
	if err := x.w.Close(); err != nil {
		return nil, err
	}
	return &x.sum, nil
}

// timeout turns the wait's deadline into ErrNotLogged.
func (x *exporter) timeout(ctx context.Context, err error) error {
	if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w (waited %v)", ErrNotLogged, x.o.Wait)
	}
	return err
}

// originals streams each original into the bag.
func (x *exporter) originals(ctx context.Context) error {
	for _, it := range x.o.Items {
		if it.Destroyed {
			x.sum.Destroyed++
			continue
		}
		rec, rc, err := x.o.Vault.OpenOriginal(ctx, it.ID, x.o.Identities...)
		if err != nil {
			return fmt.Errorf("courtbag: item %s: %w", it.ID, err)
		}
		sum, n, err := x.w.AddPayload(itemPath(it.ID, originalBase+extension(rec.SniffedType)), rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("courtbag: item %s: %w", it.ID, err)
		}
		if !bytes.Equal(sum[:], rec.SHA256) || n != rec.Size || rec.Commitment() != it.Commitment {
			return fmt.Errorf("courtbag: item %s: %w", it.ID, evidence.ErrIntegrity)
		}
		x.records[it.ID] = rec
		x.sum.Originals++
		x.sum.Bytes += n
	}
	x.sum.Items = len(x.o.Items)
	return nil
}

// awaitLogged waits until every event of every item, up to its exported
// event, has a log index, calling Sync first each round.
func (x *exporter) awaitLogged(ctx context.Context, exported map[string]evidence.Event) error {
	x.trails = make(map[string][]evidence.LoggedEvent, len(x.o.Items))
	pending := make([]evidence.ExportItem, len(x.o.Items))
	copy(pending, x.o.Items)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		if x.o.Sync != nil {
			if err := x.o.Sync(ctx); err != nil {
				return fmt.Errorf("courtbag: logging the export's events: %w", err)
			}
		}
		var still []evidence.ExportItem
		for _, it := range pending {
			tr, err := x.o.Vault.Trail(ctx, it.ID)
			if err != nil {
				return fmt.Errorf("courtbag: item %s: %w", it.ID, err)
			}
			if ev, ok := exported[it.ID]; ok {
				if len(tr) < int(ev.Seq) || tr[ev.Seq-1].Event != ev {
					return fmt.Errorf("courtbag: item %s: the trail does not hold the export's event: %w", it.ID, evidence.ErrIntegrity)
				}
				tr = tr[:ev.Seq]
			}
			if len(tr) == 0 || tr[0].Commitment != it.Commitment {
				return fmt.Errorf("courtbag: item %s: the trail does not commit to the item: %w", it.ID, evidence.ErrIntegrity)
			}
			if !slices.ContainsFunc(tr, func(e evidence.LoggedEvent) bool { return !e.Logged }) {
				x.trails[it.ID] = tr
				continue
			}
			still = append(still, it)
		}
		if pending = still; len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// checkpoints gets the latest checkpoint covering every event, and
// chooses the checkpoint each event is proven against: the smallest
// timestamped one covering it (it proves the earliest time by which the
// event was logged), or the latest.
func (x *exporter) checkpoints(ctx context.Context) error {
	var indices []uint64
	for _, tr := range x.trails {
		for _, e := range tr {
			indices = append(indices, e.LogIndex)
		}
	}
	slices.Sort(indices)
	x.sum.Events = len(indices)
	raw, err := x.o.Log.AwaitCheckpoint(ctx, indices[len(indices)-1]+1)
	if err != nil {
		return fmt.Errorf("courtbag: waiting for a checkpoint: %w", err)
	}
	cp, err := translog.VerifyCheckpoint(raw, x.policy)
	if err != nil {
		return fmt.Errorf("courtbag: the log's checkpoint does not satisfy the keys and witness policy: %w", err)
	}
	x.latest = &checkpoint{raw: raw, cp: cp}
	x.cps[cp.Size] = x.latest

	// stamped is the timestamped checkpoint covering the indices below
	// its size; nil (with end set) when it could not be used.
	var stamped *checkpoint
	var end uint64
	noMore := x.roots == nil
	for _, i := range indices {
		if !noMore && (end == 0 || i >= end) {
			size, tcp, token, err := x.o.Log.TimestampCovering(ctx, i)
			switch {
			case errors.Is(err, translog.ErrNoTimestamp):
				noMore, stamped = true, nil
			case err != nil:
				return fmt.Errorf("courtbag: timestamps: %w", err)
			case size > x.latest.cp.Size:
				// Stamped after the checkpoint this export waited for.
				noMore, stamped = true, nil
			default:
				stamped, end = x.stamp(size, tcp, token), size
			}
		}
		c := x.latest
		if stamped != nil && i < end {
			c = stamped
		}
		x.proofCP[i] = c
	}
	for _, c := range x.cps {
		if c.token != nil {
			x.sum.Timestamps++
		}
	}
	x.sum.Checkpoints = len(x.cps)
	x.sum.Latest = x.latest.cp.Size
	return nil
}

// stamp checks a timestamped checkpoint and its token and adds it to the
// bag's checkpoints; nil if it does not verify (a note says why). At the
// latest checkpoint's size it replaces the latest: both are signed notes
// of the same tree.
func (x *exporter) stamp(size uint64, raw, token []byte) *checkpoint {
	cp, err := translog.VerifyCheckpoint(raw, x.policy)
	if err == nil && cp.Size != size {
		err = fmt.Errorf("it is of size %d", cp.Size)
	}
	if err == nil {
		_, err = translog.VerifyTimestamp(token, raw, x.roots)
	}
	if err != nil {
		x.sum.Notes = append(x.sum.Notes, fmt.Sprintf("the timestamp of checkpoint %d was left out: %v", size, err))
		return nil
	}
	c := &checkpoint{raw: raw, cp: cp, token: token}
	if size == x.latest.cp.Size {
		*x.latest = *c
		return x.latest
	}
	if have, ok := x.cps[size]; ok {
		return have
	}
	x.cps[size] = c
	return c
}

// item writes an item's record, events and receipts.
func (x *exporter) item(ctx context.Context, it evidence.ExportItem) error {
	tr := x.trails[it.ID]
	events := make([]evidence.Event, len(tr))
	for i, e := range tr {
		events[i] = e.Event
	}
	r := &Record{Format: itemFormat, ID: it.ID, Commitment: hex.EncodeToString(it.Commitment[:]),
		Destroyed: it.Destroyed, ConsentHistory: consentHistory(events)}
	if rec := x.records[it.ID]; rec != nil {
		r.Original = &Original{
			File: originalBase + extension(rec.SniffedType), SHA256: hex.EncodeToString(rec.SHA256),
			Salt: hex.EncodeToString(rec.Salt), Size: rec.Size, ContentType: rec.SniffedType,
			DeclaredType: rec.DeclaredType, Source: rec.Source, IngestedAt: rec.IngestedAt.UTC(),
			Capture: captureOf(rec.Metadata),
		}
	}
	b, err := marshalRecord(r)
	if err != nil {
		return err
	}
	if _, err := parseRecord(b); err != nil {
		return fmt.Errorf("courtbag: item %s: %w", it.ID, err)
	}
	if err := x.payload(itemPath(it.ID, recordName), b); err != nil {
		return err
	}
	for _, e := range tr {
		entry := e.Encode()
		c := x.proofCP[e.LogIndex]
		proof, err := x.o.Log.ProofAt(ctx, e.LogIndex, c.raw)
		if err != nil {
			return fmt.Errorf("courtbag: item %s event %d: %w", it.ID, e.Seq, err)
		}
		if err := checkProof(proof, entry, e.LogIndex, c); err != nil {
			return fmt.Errorf("courtbag: item %s event %d: the log's receipt does not verify: %w", it.ID, e.Seq, err)
		}
		if err := x.payload(eventPath(it.ID, e.Seq, eventSuffix), entry); err != nil {
			return err
		}
		if err := x.payload(eventPath(it.ID, e.Seq, proofSuffix), proof); err != nil {
			return err
		}
	}
	return nil
}

// checkProof checks a receipt for entry against the checkpoint c it must
// be against.
func checkProof(proof, entry []byte, index uint64, c *checkpoint) error {
	ip, err := translog.ParseProof(proof)
	if err != nil {
		return err
	}
	if !bytes.Equal(ip.Checkpoint, c.raw) {
		return errors.New("it is against another checkpoint")
	}
	if ip.Index != index {
		return fmt.Errorf("it is for index %d, not %d", ip.Index, index)
	}
	return verifyInclusion(ip, entry, c.cp)
}

// logFiles writes the checkpoints, the consistency proofs from each to
// the latest, and the timestamp tokens.
func (x *exporter) logFiles(ctx context.Context) error {
	sizes := make([]uint64, 0, len(x.cps))
	for s := range x.cps {
		sizes = append(sizes, s)
	}
	slices.SortFunc(sizes, cmp.Compare)
	for _, s := range sizes {
		c := x.cps[s]
		if err := x.payload(checkpointPath(s, checkpointExt), c.raw); err != nil {
			return err
		}
		if c != x.latest {
			hashes, err := x.o.Log.Consistency(ctx, s, x.latest.cp.Size)
			if err != nil {
				return fmt.Errorf("courtbag: consistency %d → %d: %w", s, x.latest.cp.Size, err)
			}
			if err := translog.VerifyConsistency(c.cp, x.latest.cp, hashes); err != nil {
				return fmt.Errorf("courtbag: the log's checkpoints are not consistent: %w", err)
			}
			if err := x.payload(checkpointPath(s, consistencyExt), formatConsistency(s, x.latest.cp.Size, hashes)); err != nil {
				return err
			}
		}
		if c.token != nil {
			if err := x.payload(checkpointPath(s, tokenExt), c.token); err != nil {
				return err
			}
		}
	}
	return nil
}

func (x *exporter) tags() error {
	tags := []struct {
		name    string
		content []byte
	}{
		{logKeyName, []byte(x.o.Keys.LogKey + "\n")},
		{witnessesName, x.o.Keys.Witnesses.Format()},
		{scriptName, translog.CheckpointScript()}, // so a court has it years later
	}
	if x.sum.Timestamps > 0 {
		tags = append(tags, struct {
			name    string
			content []byte
		}{tsaRootsName, x.o.Keys.TSARoots})
	}
	tags = append(tags, struct {
		name    string
		content []byte
	}{readmeName, x.readme()})
	for _, t := range tags {
		if err := x.w.AddTag(t.name, t.content); err != nil {
			return err
		}
	}
	return nil
}

func (x *exporter) payload(name string, content []byte) error {
	_, _, err := x.w.AddPayload(name, bytes.NewReader(content))
	return err
}
