package evidence

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"

	"filippo.io/age"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/blob"
	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/intake"
	"github.com/corridor-org/corridor/internal/media"
	"github.com/corridor-org/corridor/internal/store"
)

// EvidenceClass is the sensitivity class evidence belongs to: whoever may
// read a case's testimony may see its evidence (custodians, caseworkers,
// coordinators; never logistics).
const EvidenceClass = cases.ClassTestimony

// Role rules beyond access to the case. Reading the original (not a
// working copy), recording consent and destroying are for the people who
// answer for evidence; operators triage and see working copies only.
var (
	originalRoles = []string{store.RoleAdmin, store.RoleCoordinator, store.RoleCaseworker, store.RoleCustodian}
	consentRoles  = []string{store.RoleAdmin, store.RoleCoordinator, store.RoleCaseworker, store.RoleCustodian}
	destroyRoles  = []string{store.RoleAdmin, store.RoleCoordinator, store.RoleCustodian}
	unfiledRoles  = []string{store.RoleAdmin, store.RoleCoordinator, store.RoleCustodian}
)

func active(u *store.User) bool { return u != nil && !u.Disabled }

// checkTarget decides whether actor may see (and add to) the evidence of
// a case, a request, or the unfiled items.
func (s *Service) checkTarget(ctx context.Context, actor *store.User, caseID, requestID string) error {
	if !active(actor) {
		return ErrForbidden
	}
	switch {
	case caseID != "" && requestID != "":
		return fmt.Errorf("%w: an item belongs to a case or a request, not both", ErrInvalid)
	case caseID != "":
		err := s.cases.CheckContent(ctx, actor, caseID, EvidenceClass)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, cases.ErrNotFound):
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		case errors.Is(err, cases.ErrForbidden), errors.Is(err, cases.ErrErased):
			return fmt.Errorf("%w: %w", ErrForbidden, err)
		}
		return err
	case requestID != "":
		r, err := s.st.GetRequest(ctx, requestID)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		if err != nil {
			return fmt.Errorf("evidence: %w", err)
		}
		if !intake.CanRead(actor, r) {
			s.denied(ctx, actor, "request:"+requestID)
			return ErrForbidden
		}
		return nil
	}
	if !slices.Contains(unfiledRoles, actor.Role) {
		s.denied(ctx, actor, "evidence")
		return ErrForbidden
	}
	return nil
}

// denied audits a refusal; its own failure is not reported (the caller is
// refused either way).
func (s *Service) denied(ctx context.Context, actor *store.User, obj string) {
	if actor != nil && audit.ValidObject(obj) {
		_ = s.audit.Record(ctx, actor.ID, "evidence.denied", obj)
	}
}

// item loads an item actor may see, and checks the role rule roles (nil:
// any role with access).
func (s *Service) item(ctx context.Context, actor *store.User, id string, roles []string) (*store.EvidenceItem, error) {
	it, err := s.getItem(ctx, s.st, id)
	if err != nil {
		return nil, err
	}
	if err := s.checkTarget(ctx, actor, it.CaseID, it.RequestID); err != nil {
		return nil, err
	}
	if roles != nil && !slices.Contains(roles, actor.Role) {
		s.denied(ctx, actor, object(id))
		return nil, ErrForbidden
	}
	return it, nil
}

// identity is the vault's evidence identity, when in-app viewing is on and
// the vault unsealed.
func (s *Service) identity() (age.Identity, error) {
	if s.cfg.CustodianOnly {
		return nil, ErrCustodianOnly
	}
	return s.vault.EvidenceIdentity()
}

// Item is an item as a viewer sees it.
type Item struct {
	*store.EvidenceItem
	// Record is the decrypted record; nil when it cannot be read here
	// (the vault is sealed, in-app viewing is off, or the item was
	// destroyed).
	Record *Record
}

func (s *Service) view(it *store.EvidenceItem, id age.Identity) Item {
	v := Item{EvidenceItem: it}
	if id != nil && it.Record != nil {
		v.Record, _ = OpenRecord(it.Record, id) // unreadable: shown as such (nil)
	}
	return v
}

// Items lists a case's evidence, oldest first, with records decrypted when
// the vault can. It is audited as one read of the case's evidence list;
// the list is not a custody event (it opens no original).
func (s *Service) Items(ctx context.Context, actor *store.User, caseID string) ([]Item, error) {
	if caseID == "" {
		return nil, fmt.Errorf("%w: no case", ErrInvalid)
	}
	return s.list(ctx, actor, store.EvidenceFilter{CaseID: caseID}, "case:"+caseID)
}

// RequestItems lists the evidence a person sent with a request.
func (s *Service) RequestItems(ctx context.Context, actor *store.User, requestID string) ([]Item, error) {
	if requestID == "" {
		return nil, fmt.Errorf("%w: no request", ErrInvalid)
	}
	return s.list(ctx, actor, store.EvidenceFilter{RequestID: requestID}, "request:"+requestID)
}

func (s *Service) list(ctx context.Context, actor *store.User, f store.EvidenceFilter, obj string) ([]Item, error) {
	if err := s.checkTarget(ctx, actor, f.CaseID, f.RequestID); err != nil {
		return nil, err
	}
	if err := s.audit.Record(ctx, actor.ID, "evidence.list", obj); err != nil {
		return nil, err
	}
	list, err := s.st.ListEvidence(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	id, _ := s.identity()
	out := make([]Item, len(list))
	for i, it := range list {
		out[i] = s.view(it, id)
	}
	return out, nil
}

// Item returns one item with its decrypted record (file name, types,
// hash, capture metadata such as GPS). It needs in-app viewing and an
// unsealed vault; it is audited (evidence.read) but opens no original.
func (s *Service) Item(ctx context.Context, actor *store.User, id string) (*Item, error) {
	it, err := s.item(ctx, actor, id, nil)
	if err != nil {
		return nil, err
	}
	if !it.DestroyedAt.IsZero() {
		v := Item{EvidenceItem: it}
		return &v, s.audit.Record(ctx, actor.ID, "evidence.read", object(id))
	}
	ident, err := s.identity()
	if err != nil {
		return nil, err
	}
	rec, err := OpenRecord(it.Record, ident)
	if err != nil {
		return nil, err
	}
	if err := s.audit.Record(ctx, actor.ID, "evidence.read", object(id)); err != nil {
		return nil, err
	}
	return &Item{EvidenceItem: it, Record: rec}, nil
}

// LoggedEvent is a custody event with where it is in the log.
type LoggedEvent struct {
	Event
	Logged   bool
	LogIndex uint64
}

// Events returns an item's custody trail, oldest first, checked as a
// chain. It is audited (evidence.events).
func (s *Service) Events(ctx context.Context, actor *store.User, id string) ([]LoggedEvent, error) {
	if _, err := s.item(ctx, actor, id, nil); err != nil {
		return nil, err
	}
	if err := s.audit.Record(ctx, actor.ID, "evidence.events", object(id)); err != nil {
		return nil, err
	}
	return s.trail(ctx, id)
}

func (s *Service) trail(ctx context.Context, id string) ([]LoggedEvent, error) {
	stored, err := s.st.CustodyEvents(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	out := make([]LoggedEvent, len(stored))
	plain := make([]Event, len(stored))
	for i, e := range stored {
		ev, err := ParseEvent(e.Entry)
		if err != nil {
			return nil, fmt.Errorf("evidence: item %s event %d: %w", id, e.Seq, err)
		}
		out[i], plain[i] = LoggedEvent{Event: ev, Logged: e.Logged, LogIndex: e.LogIndex}, ev
	}
	if err := CheckChain(plain); err != nil {
		return nil, err
	}
	return out, nil
}

// record writes a custody event and its audit entry in one transaction.
func (s *Service) record(ctx context.Context, it *store.EvidenceItem, typ EventType, actor string, auditActor int64, action string) error {
	recips, err := s.recipients(ctx, s.st)
	if errors.Is(err, ErrNoRecipients) {
		recips = nil // the event is still recorded; its actor opening is not sealed
	} else if err != nil {
		return err
	}
	return s.tx(ctx, func(tx store.Store) error {
		cur, err := tx.GetEvidence(ctx, it.ID)
		if err != nil {
			return fmt.Errorf("evidence: %w", err)
		}
		if _, err := s.appendEvent(ctx, tx, cur, typ, actor, cur.Consent, recips); err != nil {
			return err
		}
		return audit.New(tx, s.cfg.Now).Record(ctx, auditActor, action, object(it.ID))
	})
}

// readCloser joins a decrypting reader with the file it reads.
type readCloser struct {
	io.Reader
	io.Closer
}

// OpenWorkingCopy opens an item's metadata-free working copy for viewing,
// making it first if there is none (a working_copy event). Each opening is
// a viewed event and an evidence.view audit entry, recorded before
// anything is returned. It needs in-app viewing and an unsealed vault.
// Types media.Strip cannot clean give ErrNoWorkingCopy.
func (s *Service) OpenWorkingCopy(ctx context.Context, actor *store.User, id string) (io.ReadCloser, string, error) {
	it, err := s.item(ctx, actor, id, nil)
	if err != nil {
		return nil, "", err
	}
	if !it.DestroyedAt.IsZero() {
		return nil, "", ErrDestroyed
	}
	ident, err := s.identity()
	if err != nil {
		return nil, "", err
	}
	wc, err := s.st.GetWorkingCopy(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		wc, err = s.makeWorkingCopy(ctx, actor, it, ident)
	}
	if err != nil {
		return nil, "", err
	}
	var info copyInfo
	if err := openJSON(wc.Info, &info, ident); err != nil {
		return nil, "", err
	}
	if err := s.record(ctx, it, EventViewed, staffActor(actor), actor.ID, "evidence.view"); err != nil {
		return nil, "", err
	}
	f, err := s.blobs.Open(ctx, wc.BlobID)
	if err != nil {
		return nil, "", fmt.Errorf("evidence: working copy: %w", err)
	}
	dec, err := age.Decrypt(f, ident)
	if err != nil {
		f.Close()
		return nil, "", fmt.Errorf("evidence: working copy: %w", err)
	}
	return readCloser{dec, f}, info.ContentType, nil
}

// makeWorkingCopy strips the original into a new blob sealed like it,
// and records it with a working_copy event. Two viewers racing both make
// one; the second to record it discards its own and uses the first's.
func (s *Service) makeWorkingCopy(ctx context.Context, actor *store.User, it *store.EvidenceItem, ident age.Identity) (*store.WorkingCopy, error) {
	rec, err := OpenRecord(it.Record, ident)
	if err != nil {
		return nil, err
	}
	recips, err := s.recipients(ctx, s.st)
	if err != nil {
		return nil, err
	}
	f, err := s.blobs.Open(ctx, it.BlobID)
	if err != nil {
		return nil, fmt.Errorf("evidence: original: %w", err)
	}
	defer f.Close()
	dec, err := age.Decrypt(f, ident)
	if err != nil {
		return nil, fmt.Errorf("evidence: original: %w", err)
	}
	w, err := s.blobs.Create(ctx)
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	defer w.Abort()
	enc, err := age.Encrypt(w, recips...)
	if err != nil {
		return nil, fmt.Errorf("evidence: seal: %w", err)
	}
	select {
	case s.strip <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	outType, err := media.Strip(ctx, enc, dec, rec.SniffedType)
	<-s.strip
	if errors.Is(err, media.ErrUnsupported) {
		return nil, fmt.Errorf("%w: %s", ErrNoWorkingCopy, rec.SniffedType)
	}
	if errors.Is(err, media.ErrTooLarge) {
		return nil, fmt.Errorf("%w: the image is too large to re-encode (%w)", ErrNoWorkingCopy, err)
	}
	if err != nil {
		return nil, fmt.Errorf("evidence: working copy: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("evidence: working copy: %w", err)
	}
	info, err := sealJSON(copyInfo{ContentType: outType}, recips)
	if err != nil {
		return nil, err
	}
	blobID, err := w.Commit()
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	wc := &store.WorkingCopy{ItemID: it.ID, BlobID: blobID, Info: info, CreatedAt: s.now()}
	err = s.tx(ctx, func(tx store.Store) error {
		if err := tx.AddWorkingCopy(ctx, wc); err != nil {
			return err
		}
		cur, err := tx.GetEvidence(ctx, it.ID)
		if err != nil {
			return err
		}
		if _, err := s.appendEvent(ctx, tx, cur, EventWorkingCopy, staffActor(actor), cur.Consent, recips); err != nil {
			return err
		}
		return audit.New(tx, s.cfg.Now).Record(ctx, actor.ID, "evidence.copy", object(it.ID))
	})
	if err != nil {
		_ = s.blobs.Delete(context.WithoutCancel(ctx), blobID)
		switch {
		case errors.Is(err, store.ErrConflict):
			return s.st.GetWorkingCopy(ctx, it.ID)
		case errors.Is(err, store.ErrNotFound):
			return nil, ErrDestroyed
		}
		return nil, fmt.Errorf("evidence: working copy: %w", err)
	}
	return wc, nil
}

// Download opens an item's original, decrypted, for a staff member who
// may read originals. It is a downloaded event and an evidence.download
// audit entry, recorded before anything is returned. The reader checks
// the SHA-256 taken at ingest: at the end it reports ErrIntegrity instead
// of io.EOF if the bytes differ, so a caller must not treat what it read
// as the original before the reader has returned io.EOF.
func (s *Service) Download(ctx context.Context, actor *store.User, id string) (io.ReadCloser, *Record, error) {
	it, err := s.item(ctx, actor, id, originalRoles)
	if err != nil {
		return nil, nil, err
	}
	if !it.DestroyedAt.IsZero() {
		return nil, nil, ErrDestroyed
	}
	ident, err := s.identity()
	if err != nil {
		return nil, nil, err
	}
	rec, err := OpenRecord(it.Record, ident)
	if err != nil {
		return nil, nil, err
	}
	if err := s.record(ctx, it, EventDownloaded, staffActor(actor), actor.ID, "evidence.download"); err != nil {
		return nil, nil, err
	}
	rc, err := s.openOriginal(ctx, it, rec, ident)
	if err != nil {
		return nil, nil, err
	}
	return rc, rec, nil
}

func (s *Service) openOriginal(ctx context.Context, it *store.EvidenceItem, rec *Record, ids ...age.Identity) (io.ReadCloser, error) {
	f, err := s.blobs.Open(ctx, it.BlobID)
	if err != nil {
		return nil, fmt.Errorf("evidence: original: %w", err)
	}
	dec, err := age.Decrypt(f, ids...)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("evidence: original: %w", err)
	}
	return &verifying{r: dec, c: f, h: sha256.New(), want: rec.SHA256, size: rec.Size}, nil
}

// verifying hashes what it reads and, at the end, turns io.EOF into
// ErrIntegrity if the hash or size is not what the record says.
type verifying struct {
	r    io.Reader
	c    io.Closer
	h    hash.Hash
	n    int64
	want []byte
	size int64
}

func (v *verifying) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if err == io.EOF {
		if v.n != v.size || subtle.ConstantTimeCompare(v.h.Sum(nil), v.want) != 1 {
			return n, ErrIntegrity
		}
	} else if err != nil {
		err = fmt.Errorf("evidence: original: %w", err)
	}
	return n, err
}

func (v *verifying) Close() error { return v.c.Close() }

// SetConsent records the person's consent for an item: a consent_changed
// event (which carries the new value into the log) and an
// evidence.consent audit entry. Setting the value it already has does
// nothing.
func (s *Service) SetConsent(ctx context.Context, actor *store.User, id, consent string) error {
	if !validConsent(consent) {
		return fmt.Errorf("%w: consent %q", ErrInvalid, consent)
	}
	it, err := s.item(ctx, actor, id, consentRoles)
	if err != nil {
		return err
	}
	if !it.DestroyedAt.IsZero() {
		return ErrDestroyed
	}
	if it.Consent == consent {
		return nil
	}
	recips, err := s.recipients(ctx, s.st)
	if errors.Is(err, ErrNoRecipients) {
		recips = nil
	} else if err != nil {
		return err
	}
	err = s.tx(ctx, func(tx store.Store) error {
		if err := tx.SetEvidenceConsent(ctx, id, consent); err != nil {
			return err
		}
		cur, err := tx.GetEvidence(ctx, id)
		if err != nil {
			return err
		}
		if _, err := s.appendEvent(ctx, tx, cur, EventConsentChanged, staffActor(actor), consent, recips); err != nil {
			return err
		}
		return audit.New(tx, s.cfg.Now).Record(ctx, actor.ID, "evidence.consent", object(id))
	})
	if errors.Is(err, store.ErrNotFound) {
		return ErrDestroyed
	}
	return err
}

// Destroy crypto-shreds an item: its sealed record goes from the database
// and its blobs (original and working copy) from the disk, their age
// headers overwritten first, so that nobody, custodians included, can
// open any copy of them again. The item's row stays as a tombstone, and
// its custody trail ends with a destroyed event.
func (s *Service) Destroy(ctx context.Context, actor *store.User, id string) error {
	it, err := s.item(ctx, actor, id, destroyRoles)
	if err != nil {
		return err
	}
	return s.destroy(ctx, it, staffActor(actor), actor.ID)
}

func (s *Service) destroy(ctx context.Context, it *store.EvidenceItem, actor string, auditActor int64) error {
	if !it.DestroyedAt.IsZero() {
		return ErrDestroyed
	}
	recips, err := s.recipients(ctx, s.st)
	if errors.Is(err, ErrNoRecipients) {
		recips = nil
	} else if err != nil {
		return err
	}
	var blobs []string
	err = s.tx(ctx, func(tx store.Store) error {
		var err error
		if blobs, err = tx.DestroyEvidence(ctx, it.ID, s.now()); err != nil {
			return err
		}
		cur, err := tx.GetEvidence(ctx, it.ID)
		if err != nil {
			return err
		}
		if _, err := s.appendEvent(ctx, tx, cur, EventDestroyed, actor, cur.Consent, recips); err != nil {
			return err
		}
		return audit.New(tx, s.cfg.Now).Record(ctx, auditActor, "evidence.destroy", object(it.ID))
	})
	if errors.Is(err, store.ErrNotFound) {
		return ErrDestroyed
	}
	if err != nil {
		return fmt.Errorf("evidence: destroy: %w", err)
	}
	var errs []error
	for _, b := range blobs {
		if err := s.blobs.Delete(context.WithoutCancel(ctx), b); err != nil && !errors.Is(err, blob.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		// Destroyed in the database already: the blobs are unknown now,
		// and SweepBlobs will remove them.
		return fmt.Errorf("evidence: item destroyed, but removing its files failed (the next sweep retries): %w", err)
	}
	return nil
}

// OpenWithIdentity decrypts an item's original with a custodian's
// identities (offline: no vault needed), writes it to w and checks it
// against the SHA-256 recorded at ingest (ErrIntegrity if it differs; w
// then holds bytes that are not the original). It records nothing: the
// caller records a downloaded or exported event with RecordOffline once
// the copy is safe.
func (s *Service) OpenWithIdentity(ctx context.Context, w io.Writer, id string, ids ...age.Identity) (*Record, error) {
	it, err := s.getItem(ctx, s.st, id)
	if err != nil {
		return nil, err
	}
	if !it.DestroyedAt.IsZero() {
		return nil, ErrDestroyed
	}
	rec, err := OpenRecord(it.Record, ids...)
	if err != nil {
		return nil, err
	}
	if rec.ItemID != it.ID || rec.Commitment() != [32]byte(it.Commitment) {
		return nil, fmt.Errorf("%w: the sealed record is not this item's", ErrIntegrity)
	}
	rc, err := s.openOriginal(ctx, it, rec, ids...)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf := make([]byte, bufSize)
	if _, err := io.CopyBuffer(w, rc, buf); err != nil {
		return nil, err
	}
	return rec, nil
}

// RecordOffline records that items were downloaded or exported outside
// the staff site (corridor evidence open, corridor export): one event per
// item, by the command line, audited as the system.
func (s *Service) RecordOffline(ctx context.Context, typ EventType, ids ...string) error {
	action := map[EventType]string{EventDownloaded: "evidence.download", EventExported: "evidence.export"}[typ]
	if action == "" {
		return fmt.Errorf("%w: event type %q cannot be recorded offline", ErrInvalid, typ)
	}
	for _, id := range ids {
		it, err := s.getItem(ctx, s.st, id)
		if err != nil {
			return err
		}
		if err := s.record(ctx, it, typ, actorCLI, 0, action); err != nil {
			return err
		}
	}
	return nil
}
