package evidence

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"

	"filippo.io/age"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/media"
	"github.com/corridor-org/corridor/internal/store"
)

// Input describes a file being ingested. At most one of CaseID and
// RequestID is set; neither leaves the item unfiled (command-line
// imports).
type Input struct {
	CaseID       string
	RequestID    string
	Filename     string // as the uploader named it; only the last path element is kept
	DeclaredType string // the Content-Type the uploader gave, if any
	// UploadKey, if set, identifies the upload this file comes from (a
	// resumable upload's id): ingesting the same key again returns the
	// item it already became, so a client retrying after a lost answer
	// never makes a second copy.
	UploadKey string
}

// Ingested is what an ingest returns once the item is safely recorded.
type Ingested struct {
	ID         string
	Size       int64
	SHA256     [32]byte
	Commitment [32]byte
	// Repeat is set when the upload (Input.UploadKey) had already become
	// this item; Size and SHA256 are then zero.
	Repeat bool
}

// IngestStaff ingests a file a staff member uploads. Into a case, the
// staff member must be able to read its testimony; into a request, to read
// the request; unfiled, only admins, coordinators and custodians may.
func (s *Service) IngestStaff(ctx context.Context, actor *store.User, in Input, r io.Reader) (*Ingested, error) {
	if err := s.checkTarget(ctx, actor, in.CaseID, in.RequestID); err != nil {
		return nil, err
	}
	return s.ingest(ctx, SourceStaff, staffActor(actor), actor.ID, in, r)
}

// IngestPerson ingests a file the person behind a request uploads from
// their return page (the web layer has checked their receipt). It works
// while the vault is sealed.
func (s *Service) IngestPerson(ctx context.Context, requestID string, in Input, r io.Reader) (*Ingested, error) {
	if requestID == "" {
		return nil, fmt.Errorf("%w: no request", ErrInvalid)
	}
	in.CaseID, in.RequestID = "", requestID
	used, err := s.requestBytes(ctx, requestID)
	if err != nil {
		return nil, err
	}
	left := s.cfg.PersonQuota - used
	if left <= 0 {
		return nil, ErrQuota
	}
	res, err := s.ingestLimit(ctx, SourcePerson, actorPerson, 0, in, r, min(s.cfg.MaxSize, left))
	if errors.Is(err, ErrTooLarge) && left < s.cfg.MaxSize {
		return nil, fmt.Errorf("%w (%w)", ErrQuota, err)
	}
	return res, err
}

// uploaded returns the item an upload already became, or nil.
func (s *Service) uploaded(ctx context.Context, key string) (*Ingested, error) {
	id, err := s.st.UploadItem(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	it, err := s.st.GetEvidence(ctx, id)
	if err != nil {
		return nil, err
	}
	return &Ingested{ID: id, Commitment: [32]byte(it.Commitment), Repeat: true}, nil
}

// requestBytes is what is stored for a request's items (sealed sizes;
// destroyed items no longer count).
func (s *Service) requestBytes(ctx context.Context, requestID string) (int64, error) {
	items, err := s.st.ListEvidence(ctx, store.EvidenceFilter{RequestID: requestID})
	if err != nil {
		return 0, fmt.Errorf("evidence: %w", err)
	}
	var n int64
	for _, it := range items {
		if it.BlobID == "" {
			continue
		}
		size, err := s.blobs.Size(ctx, it.BlobID)
		if err != nil {
			return 0, fmt.Errorf("evidence: %w", err)
		}
		n += size
	}
	return n, nil
}

// Import ingests a file from the command line (material brought on a USB
// stick). Whoever runs it has the data directory, so there is no access
// check; it works while the vault is sealed.
func (s *Service) Import(ctx context.Context, in Input, r io.Reader) (*Ingested, error) {
	return s.ingest(ctx, SourceCLI, actorCLI, 0, in, r)
}

// ingest is the one streaming pass: r → size limit → SHA-256 and the first
// media.HeadSize bytes → age (to every recipient) → a blob. Then the
// sealed record, the blob's commit, and one transaction with the item, its
// ingested event (and outbox entry) and the audit entry. Until that
// transaction commits nothing is visible; on any error before it, the blob
// (temporary or committed) is removed, and if the process dies instead,
// Sweep removes it later.
func (s *Service) ingest(ctx context.Context, source, actor string, auditActor int64, in Input, r io.Reader) (*Ingested, error) {
	return s.ingestLimit(ctx, source, actor, auditActor, in, r, s.cfg.MaxSize)
}

// ingestLimit is ingest with a size limit of its own.
func (s *Service) ingestLimit(ctx context.Context, source, actor string, auditActor int64, in Input, r io.Reader, limit int64) (*Ingested, error) {
	if in.CaseID != "" && in.RequestID != "" {
		return nil, fmt.Errorf("%w: an item belongs to a case or a request, not both", ErrInvalid)
	}
	if in.UploadKey != "" {
		if done, err := s.uploaded(ctx, in.UploadKey); done != nil || err != nil {
			if err == nil {
				// The caller's stream must still be read to its end.
				_, err = io.Copy(io.Discard, r)
			}
			if err != nil {
				return nil, fmt.Errorf("evidence: %w", err)
			}
			return done, nil
		}
	}
	recips, err := s.recipients(ctx, s.st)
	if err != nil {
		return nil, err
	}
	w, err := s.blobs.Create(ctx)
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	defer w.Abort()
	res, err := seal(ctx, w, r, recips, limit)
	if err != nil {
		return nil, err
	}

	id := newID("v")
	salt := random32()
	commitment := Commitment(salt, res.sum)
	sniffed := media.Sniff(res.head)
	md, _ := media.Extract(sniffed, res.head) // best effort: no metadata is not an error
	now := s.now()
	rec := Record{
		Version: recordVersion, ItemID: id, Filename: cleanFilename(in.Filename), DeclaredType: cleanType(in.DeclaredType),
		SniffedType: sniffed, Size: res.size, SHA256: res.sum[:], Salt: salt, Metadata: md,
		Source: source, Actor: actor, IngestedAt: now,
	}
	sealed, err := sealJSON(rec, recips)
	clear(res.head)
	if err != nil {
		return nil, err
	}
	blobID, err := w.Commit()
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	it := &store.EvidenceItem{ID: id, CaseID: in.CaseID, RequestID: in.RequestID, BlobID: blobID, Record: sealed,
		Commitment: commitment[:], Consent: store.ConsentNone, CreatedAt: now}
	err = s.tx(ctx, func(tx store.Store) error {
		if err := tx.CreateEvidence(ctx, it); err != nil {
			return err
		}
		if in.UploadKey != "" {
			if err := tx.RecordUpload(ctx, in.UploadKey, id); err != nil {
				return err
			}
		}
		if _, err := s.appendEvent(ctx, tx, it, EventIngested, actor, it.Consent, recips); err != nil {
			return err
		}
		return audit.New(tx, s.cfg.Now).Record(ctx, auditActor, "evidence.ingest", object(id))
	})
	if err != nil {
		// Not recorded: the blob must not outlive the attempt. If this
		// delete fails too, Sweep will find the blob unknown.
		_ = s.blobs.Delete(context.WithoutCancel(ctx), blobID)
		if in.UploadKey != "" && errors.Is(err, store.ErrConflict) {
			// The same upload finished twice at once; the other won.
			if done, lerr := s.uploaded(ctx, in.UploadKey); done != nil && lerr == nil {
				return done, nil
			}
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return nil, fmt.Errorf("evidence: record item: %w", err)
	}
	return &Ingested{ID: id, Size: res.size, SHA256: res.sum, Commitment: commitment}, nil
}

// Streaming parameters. Reads are large so that the per-call costs (a
// system call, a channel hand-off) vanish next to the work per byte; a
// few buffers in flight let hashing run on another core while this one
// encrypts and writes. Memory is nbuf × bufSize + media.HeadSize + age's
// 64 KiB chunk, whatever the file's size.
const (
	bufSize = 1 << 20
	nbuf    = 4
)

type sealed struct {
	size int64
	sum  [32]byte
	head []byte
}

// seal streams r, encrypted with age to recips, into w, and returns the
// plaintext's size, SHA-256 and first media.HeadSize bytes. More than
// limit bytes is ErrTooLarge.
func seal(ctx context.Context, w io.Writer, r io.Reader, recips []age.Recipient, limit int64) (res sealed, err error) {
	enc, err := age.Encrypt(w, recips...)
	if err != nil {
		return res, fmt.Errorf("evidence: seal: %w", err)
	}
	free := make(chan []byte, nbuf)
	for range nbuf {
		free <- make([]byte, bufSize)
	}
	full := make(chan []byte, nbuf)
	done := make(chan [32]byte, 1)
	go func() {
		h := sha256.New()
		for b := range full {
			h.Write(b)
			free <- b[:cap(b)]
		}
		done <- [32]byte(h.Sum(nil))
	}()
	// The hasher must be stopped whatever happens; after this the sum is
	// in res.
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			close(full)
			res.sum = <-done
		}
	}
	defer stop()

	res.head = make([]byte, 0, media.HeadSize)
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		buf := <-free
		n, rerr := fill(r, buf)
		if n > 0 {
			res.size += int64(n)
			if res.size > limit {
				return res, fmt.Errorf("%w: the limit is %d bytes", ErrTooLarge, limit)
			}
			if room := media.HeadSize - len(res.head); room > 0 {
				res.head = append(res.head, buf[:min(n, room)]...)
			}
			if _, err := enc.Write(buf[:n]); err != nil {
				return res, fmt.Errorf("evidence: write: %w", err)
			}
			full <- buf[:n]
		} else {
			free <- buf
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return res, fmt.Errorf("evidence: reading the upload: %w", rerr)
		}
	}
	if err := enc.Close(); err != nil {
		return res, fmt.Errorf("evidence: write: %w", err)
	}
	stop()
	return res, nil
}

// fill reads into buf until it is full or r fails. Unlike io.ReadFull it
// returns io.EOF only for a clean end of r: a source that itself reports
// io.ErrUnexpectedEOF (a multipart part or request body cut short) is a
// truncated upload, never a complete item.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// SweepBlobs removes blobs last written before olderThan that no item or
// working copy refers to (left by a crash between writing a blob and
// recording it, or by a destruction whose deletes failed), and forgotten
// temporary files. Run it now and then with olderThan well in the past
// (an hour), so that no ingest still in flight loses its blob.
func (s *Service) SweepBlobs(ctx context.Context, olderThan time.Time) (int, error) {
	return s.blobs.Sweep(ctx, olderThan, func(id string) (bool, error) {
		return s.st.EvidenceBlobKnown(ctx, id)
	})
}
