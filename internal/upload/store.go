package upload

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/corridor-org/corridor/internal/keys"
)

// Sentinel errors.
var (
	// ErrNotFound: no such upload, or it expired.
	ErrNotFound = errors.New("upload: not found")
	// ErrNotFinished: Reader was asked for an upload whose bytes have not
	// all arrived (or that was already ingested).
	ErrNotFinished = errors.New("upload: not finished")
	// ErrTooLarge: the declared length exceeds the size limit.
	ErrTooLarge = errors.New("upload: too large")
	// ErrEmpty: an upload of zero bytes, which cannot be evidence.
	ErrEmpty = errors.New("upload: empty")
	// ErrMetadataTooLarge: the client's Upload-Metadata is too large.
	ErrMetadataTooLarge = errors.New("upload: metadata too large")
	// ErrKeyUnavailable: the Keyring refused to wrap or unwrap a data key,
	// typically because the vault is sealed. Uploads pause until it is not.
	ErrKeyUnavailable = errors.New("upload: key unavailable")
	// ErrCorrupt: stored data failed authentication: altered, or written
	// under another key.
	ErrCorrupt = errors.New("upload: staged data is corrupt or under another key")
	// ErrForbidden: the upload belongs to another staff member.
	ErrForbidden = errors.New("upload: belongs to someone else")
	// errOffset: a write at an offset other than the upload's.
	errOffset = errors.New("upload: mismatched offset")
)

// Keyring wraps the per-upload data keys. The lead backs it with the vault;
// while the vault is sealed Unwrap fails and uploads pause (HTTP 503).
type Keyring interface {
	Wrap(uploadID string, dk []byte) ([]byte, error)
	Unwrap(uploadID string, w []byte) ([]byte, error)
}

// Options tune a Store. Zero values take the defaults.
type Options struct {
	// MaxSize is the largest upload accepted, in bytes (default 4 GiB).
	MaxSize int64
	// Expiry is how long an upload may go untouched before it is
	// abandoned: refused, then deleted by Sweep (default 24h). An ingested
	// upload's marker is kept as long, then swept too.
	Expiry time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultMaxSize is the default size limit.
const DefaultMaxSize = 4 << 30

// DefaultExpiry is the default time after which an untouched upload is
// abandoned.
const DefaultExpiry = 24 * time.Hour

// Info describes an upload. Metadata (the tus Upload-Metadata, with the
// file name) and Owner are sensitive: they are stored only encrypted.
type Info struct {
	ID       string
	Size     int64
	Metadata map[string]string
	Owner    string
	Created  time.Time
}

// Store keeps uploads in progress in one directory, every byte of them
// encrypted. It implements tusd's DataStore, TerminaterDataStore and
// LengthDeferrerDataStore.
//
// Files, per upload id (32 hex digits, random):
//
//	ID.info  the wrapped data key and the sealed record (see info.go)
//	ID.data  the sealed frames (see frame.go)
//
// File modification times are the only clear metadata, and sizes.
type Store struct {
	dir     string
	kr      Keyring
	maxSize int64
	expiry  time.Duration
	now     func() time.Time
	locker  *memorylocker.MemoryLocker

	// tails caches the scan of each data file, so that a request does not
	// read a multi-gigabyte file to learn its offset. Entries carry the
	// sequence number of the write that made them, so that a scan that
	// raced a write cannot overwrite what the write recorded.
	mu    sync.Mutex
	seq   uint64
	tails map[string]tailEntry
}

type tailEntry struct {
	t   tail
	seq uint64
}

// New opens (creating it if needed, mode 0700) the upload directory.
func New(dir string, kr Keyring, opt Options) (*Store, error) {
	if kr == nil {
		return nil, errors.New("upload: no keyring")
	}
	if opt.MaxSize <= 0 {
		opt.MaxSize = DefaultMaxSize
	}
	if opt.Expiry <= 0 {
		opt.Expiry = DefaultExpiry
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	// MkdirAll keeps the mode of a directory that exists already.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	return &Store{
		dir:     dir,
		kr:      kr,
		maxSize: opt.MaxSize,
		expiry:  opt.Expiry,
		now:     opt.Now,
		locker:  memorylocker.New(),
		tails:   map[string]tailEntry{},
	}, nil
}

// UseIn registers the store, and its locker, with a tusd composer.
func (s *Store) UseIn(c *handler.StoreComposer) {
	c.UseCore(s)
	c.UseTerminater(s)
	c.UseLengthDeferrer(s)
	c.UseLocker(s.locker)
}

// MaxSize returns the size limit.
func (s *Store) MaxSize() int64 { return s.maxSize }

func (s *Store) infoPath(id string) string { return filepath.Join(s.dir, id+".info") }
func (s *Store) dataPath(id string) string { return filepath.Join(s.dir, id+".data") }

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validID accepts only ids this store makes: the id comes from the URL, and
// is used in file names.
func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

type ctxOwner struct{}

// withOwner tells NewUpload who creates the upload.
func withOwner(ctx context.Context, owner string) context.Context {
	return context.WithValue(ctx, ctxOwner{}, owner)
}

func ownerFrom(ctx context.Context) string {
	o, _ := ctx.Value(ctxOwner{}).(string)
	return o
}

// NewUpload creates an upload (tusd DataStore). The owner is the one the
// handler put in ctx; the id is always the store's own, random.
func (s *Store) NewUpload(ctx context.Context, fi handler.FileInfo) (handler.Upload, error) {
	u, err := s.create(ctx, fi)
	if err != nil {
		return nil, tusError(err)
	}
	return u, nil
}

func (s *Store) create(ctx context.Context, fi handler.FileInfo) (*upload, error) {
	if fi.IsPartial || fi.IsFinal {
		return nil, errors.New("upload: concatenation is not supported")
	}
	switch {
	case fi.SizeIsDeferred:
	case fi.Size <= 0:
		return nil, ErrEmpty
	case fi.Size > s.maxSize:
		return nil, ErrTooLarge
	}
	id := newID()
	dk := keys.NewKey()
	defer keys.Wipe(dk)
	wrapped, err := s.kr.Wrap(id, dk)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyUnavailable, err)
	}
	rec := record{V: recordVersion, Meta: fi.MetaData, Owner: ownerFrom(ctx), Created: s.now().Unix()}
	if fi.SizeIsDeferred {
		rec.Deferred = true
	} else {
		rec.Size = fi.Size
	}
	info, err := encodeInfoFile(id, wrapped, dk, rec)
	if err != nil {
		return nil, err
	}
	// The data file first: an info file is what makes an upload exist, and
	// a data file left alone by a crash is swept when it expires.
	f, err := os.OpenFile(s.dataPath(id), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("upload: create: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("upload: create: %w", err)
	}
	if err := writeFileAtomic(s.dir, s.infoPath(id), info); err != nil {
		os.Remove(s.dataPath(id))
		return nil, err
	}
	u, err := newUpload(s, id, dk, rec)
	if err != nil {
		return nil, err
	}
	s.setTail(id, tail{lastStart: -1}, true)
	return u, nil
}

// GetUpload loads an upload (tusd DataStore).
func (s *Store) GetUpload(ctx context.Context, id string) (handler.Upload, error) {
	u, err := s.load(ctx, id)
	if err != nil {
		return nil, tusError(err)
	}
	return u, nil
}

// load reads and decrypts an upload's record.
func (s *Store) load(_ context.Context, id string) (*upload, error) {
	if !validID(id) {
		return nil, ErrNotFound
	}
	b, err := readFileLimit(s.infoPath(id), int64(maxInfoFile))
	if errors.Is(err, fs.ErrNotExist) {
		s.dropTail(id)
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if s.expired(id) {
		return nil, ErrNotFound
	}
	wrapped, sealed, err := parseInfoFile(b)
	if err != nil {
		return nil, err
	}
	dk, err := s.kr.Unwrap(id, wrapped)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyUnavailable, err)
	}
	defer keys.Wipe(dk)
	rec, err := openRecord(id, dk, sealed)
	if err != nil {
		return nil, err
	}
	return newUpload(s, id, dk, rec)
}

// lastActivity is the latest modification of any of an upload's files.
func (s *Store) lastActivity(id string) (time.Time, bool) {
	var last time.Time
	found := false
	for _, p := range []string{s.infoPath(id), s.dataPath(id)} {
		if fi, err := os.Stat(p); err == nil {
			found = true
			if fi.ModTime().After(last) {
				last = fi.ModTime()
			}
		}
	}
	return last, found
}

func (s *Store) expired(id string) bool {
	last, ok := s.lastActivity(id)
	return ok && s.now().Sub(last) > s.expiry
}

// tailOf returns the frames of an upload's data file, scanning (and
// authenticating) the file once per process.
func (s *Store) tailOf(u *upload) (tail, error) {
	s.mu.Lock()
	e, ok := s.tails[u.id]
	s.mu.Unlock()
	if ok {
		return e.t, nil
	}
	f, err := os.Open(s.dataPath(u.id))
	if errors.Is(err, fs.ErrNotExist) {
		// Only an ingest whose marker could not be written removes it
		// while the record stays: nothing to resume from.
		return tail{lastStart: -1}, nil
	}
	if err != nil {
		return tail{}, fmt.Errorf("upload: %w", err)
	}
	defer f.Close()
	t, err := scanFrames(f, u.aead, u.id, u.limit())
	if err != nil {
		return tail{}, fmt.Errorf("upload: scan: %w", err)
	}
	s.putTail(u.id, t, e.seq)
	return t, nil
}

// putTail records a scan, unless a write changed the file since it began.
func (s *Store) putTail(id string, t tail, seenSeq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tails[id].seq != seenSeq {
		return
	}
	s.seq++
	s.tails[id] = tailEntry{t: t, seq: s.seq}
}

// setTail records what a write left; unknown drops the entry so that the
// next use scans the file again.
func (s *Store) setTail(id string, t tail, known bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	if known {
		s.tails[id] = tailEntry{t: t, seq: s.seq}
	} else {
		delete(s.tails, id)
	}
}

func (s *Store) dropTail(id string) { s.setTail(id, tail{}, false) }

// Reader streams the plaintext of an upload whose bytes have all arrived,
// authenticating every frame, in constant memory. It fails with
// ErrNotFinished if some are missing; a read fails with ErrCorrupt if the
// data was altered. It takes no lock: it is meant for the completion
// callback, or for an upload no client is sending to.
func (s *Store) Reader(ctx context.Context, id string) (io.ReadCloser, Info, error) {
	u, err := s.load(ctx, id)
	if err != nil {
		return nil, Info{}, err
	}
	if u.rec.Done || u.rec.Deferred {
		return nil, Info{}, ErrNotFinished
	}
	t, err := s.tailOf(u)
	if err != nil {
		return nil, Info{}, err
	}
	if t.plain != u.rec.Size {
		return nil, Info{}, ErrNotFinished
	}
	f, err := os.Open(s.dataPath(id))
	if err != nil {
		return nil, Info{}, fmt.Errorf("upload: %w", err)
	}
	r := &plainReader{d: newFrameDecoder(f, u.aead, id, u.rec.Size), size: u.rec.Size, closer: f}
	return r, u.rec.info(id), nil
}

// owner returns who created an upload.
func (s *Store) owner(ctx context.Context, id string) (string, error) {
	u, err := s.load(ctx, id)
	if err != nil {
		return "", err
	}
	return u.rec.Owner, nil
}

// Remove deletes an upload's files. Like Reader it takes no lock.
func (s *Store) Remove(_ context.Context, id string) error {
	if !validID(id) {
		return ErrNotFound
	}
	return s.remove(id)
}

func (s *Store) remove(id string) error {
	defer s.dropTail(id)
	var errs []error
	found := false
	// The info file first: without it the upload no longer exists, even
	// if removing the data file then fails.
	for _, p := range []string{s.infoPath(id), s.dataPath(id)} {
		err := os.Remove(p)
		switch {
		case err == nil:
			found = true
		case !errors.Is(err, fs.ErrNotExist):
			errs = append(errs, err)
		}
	}
	if err := syncDir(s.dir); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("upload: remove: %w", err)
	}
	if !found {
		return ErrNotFound
	}
	return nil
}

// markDone replaces an ingested upload by its marker: the record without
// its metadata, then the data file goes.
func (s *Store) markDone(ctx context.Context, id string) error {
	b, err := readFileLimit(s.infoPath(id), int64(maxInfoFile))
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	wrapped, sealed, err := parseInfoFile(b)
	if err != nil {
		return err
	}
	dk, err := s.kr.Unwrap(id, wrapped)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeyUnavailable, err)
	}
	defer keys.Wipe(dk)
	rec, err := openRecord(id, dk, sealed)
	if err != nil {
		return err
	}
	rec.Done, rec.Meta = true, nil
	info, err := encodeInfoFile(id, wrapped, dk, rec)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.dir, s.infoPath(id), info); err != nil {
		return err
	}
	s.dropTail(id)
	if err := os.Remove(s.dataPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("upload: %w", err)
	}
	return syncDir(s.dir)
}

// Sweep deletes the uploads nobody touched for longer than the expiry:
// abandoned ones, the markers of ingested ones, and files a crash left
// behind. It returns how many uploads it deleted.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, fmt.Errorf("upload: sweep: %w", err)
	}
	ids := map[string]bool{}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		id, ext, _ := strings.Cut(name, ".")
		if validID(id) && (ext == "info" || ext == "data") {
			ids[id] = true
			continue
		}
		// Temporary files of writes a crash interrupted.
		if fi, err := e.Info(); err == nil && strings.HasPrefix(name, tmpPrefix) && s.now().Sub(fi.ModTime()) > s.expiry {
			if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	n := 0
	for id := range ids {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if !s.expired(id) {
			continue
		}
		removed, err := s.sweepOne(ctx, id)
		if err != nil {
			errs = append(errs, err)
		}
		if removed {
			n++
		}
	}
	if err := errors.Join(errs...); err != nil {
		return n, fmt.Errorf("upload: sweep: %w", err)
	}
	return n, nil
}

// sweepOne removes an expired upload under its lock, so that it never
// pulls the files from under a request.
func (s *Store) sweepOne(ctx context.Context, id string) (bool, error) {
	lock, err := s.locker.NewLock(id)
	if err != nil {
		return false, err
	}
	if err := lock.Lock(ctx, func() {}); err != nil {
		return false, err
	}
	defer lock.Unlock()
	if !s.expired(id) { // touched while we waited
		return false, nil
	}
	if err := s.remove(id); err != nil && !errors.Is(err, ErrNotFound) {
		return false, err
	}
	return true, nil
}

// upload is one upload as loaded for a request.
type upload struct {
	s    *Store
	id   string
	rec  record
	aead cipher.AEAD
}

func newUpload(s *Store, id string, dk []byte, rec record) (*upload, error) {
	aead, err := chacha20poly1305.NewX(keys.Subkey(dk, purposeFrames))
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	return &upload{s: s, id: id, rec: rec, aead: aead}, nil
}

// limit is the most plaintext the data file may hold.
func (u *upload) limit() int64 {
	if u.rec.Deferred {
		return u.s.maxSize
	}
	return u.rec.Size
}

// position returns the offset a client is told to continue from and the
// file position the next frame goes to.
//
// An upload whose bytes have all arrived but that is not marked done was
// not ingested: the completion callback failed, or the process died
// during it. Its last frame is then presented as missing, so that the
// client sends those bytes again and the callback runs again; that frame
// is overwritten by the retry. Without this the client would see a
// complete upload and believe it delivered.
func (u *upload) position(t tail) (offset, pos int64) {
	if !u.rec.Deferred && t.plain == u.rec.Size && t.lastStart >= 0 {
		return t.plain - t.lastPlain, t.lastStart
	}
	return t.plain, t.end
}

// GetInfo reports the upload's length and offset (tusd Upload).
func (u *upload) GetInfo(context.Context) (handler.FileInfo, error) {
	fi := handler.FileInfo{
		ID:             u.id,
		Size:           u.rec.Size,
		SizeIsDeferred: u.rec.Deferred,
		MetaData:       handler.MetaData{},
	}
	if u.rec.Done {
		fi.Offset = u.rec.Size
		return fi, nil
	}
	for k, v := range u.rec.Meta {
		fi.MetaData[k] = v
	}
	t, err := u.s.tailOf(u)
	if err != nil {
		return handler.FileInfo{}, tusError(err)
	}
	fi.Offset, _ = u.position(t)
	return fi, nil
}

// WriteChunk seals what src yields into frames appended at offset, and
// returns once they are on the disk (tusd Upload). A body cut short
// (tusd's reader then just ends) keeps every byte that arrived.
func (u *upload) WriteChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	n, err := u.writeChunk(offset, src)
	if err != nil {
		return n, tusError(err)
	}
	return n, nil
}

func (u *upload) writeChunk(offset int64, src io.Reader) (int64, error) {
	if u.rec.Done {
		return 0, errOffset
	}
	t, err := u.s.tailOf(u)
	if err != nil {
		return 0, err
	}
	at, pos := u.position(t)
	if offset == t.plain && t.plain == u.rec.Size && !u.rec.Deferred {
		// Everything is there already: the length was just declared
		// equal to what arrived, and tusd goes on to complete it.
		return 0, nil
	}
	if offset != at {
		return 0, errOffset
	}
	f, err := os.OpenFile(u.s.dataPath(u.id), os.O_WRONLY, 0)
	if err != nil {
		return 0, fmt.Errorf("upload: %w", err)
	}
	defer f.Close()
	// Cut what follows the last whole frame: a torn frame, or the last
	// frame of an upload whose ingest is being retried.
	if err := f.Truncate(pos); err != nil {
		return 0, fmt.Errorf("upload: %w", err)
	}
	if _, err := f.Seek(pos, io.SeekStart); err != nil {
		return 0, fmt.Errorf("upload: %w", err)
	}
	body := &io.LimitedReader{R: src, N: u.limit() - offset}
	nt, werr := writeFrames(f, u.aead, u.id, offset, pos, body)
	if werr == nil {
		werr = f.Sync()
	}
	if werr != nil {
		// What reached the disk is unknown: scan again next time.
		u.s.setTail(u.id, tail{}, false)
		return 0, fmt.Errorf("upload: write: %w", werr)
	}
	if nt.lastStart < 0 { // nothing written: keep what the truncation left
		nt = tail{end: pos, plain: offset, lastStart: -1}
		if pos == t.end {
			nt = t
		}
	}
	u.s.setTail(u.id, nt, true)
	if body.N == 0 {
		// tusd bounds a body by the Content-Length alone when the
		// length is deferred: a body reaching past the size limit is
		// refused here, after keeping what fits.
		var one [1]byte
		if k, _ := io.ReadFull(src, one[:]); k > 0 {
			return nt.plain - offset, ErrTooLarge
		}
	}
	return nt.plain - offset, nil
}

// writeFrames seals src into frames written at file position pos (plain
// offset offset) and returns the resulting tail (lastStart -1 if src was
// empty). A read error from src ends the chunk after what was read.
func writeFrames(w io.Writer, aead cipher.AEAD, id string, offset, pos int64, src io.Reader) (tail, error) {
	t := tail{end: pos, plain: offset, lastStart: -1}
	sealer := frameSealer{aead: aead, id: id}
	buf := make([]byte, frameSize)
	out := make([]byte, 0, 16*(frameOverhead+frameSize))
	flush := func() error {
		if len(out) == 0 {
			return nil
		}
		_, err := w.Write(out)
		out = out[:0]
		return err
	}
	for {
		k, rerr := io.ReadFull(src, buf)
		if k > 0 {
			if cap(out)-len(out) < frameOverhead+k {
				if err := flush(); err != nil {
					return t, err
				}
			}
			out = sealer.seal(out, t.plain, buf[:k])
			t.lastStart, t.lastPlain = t.end, int64(k)
			t.end += int64(frameOverhead + k)
			t.plain += int64(k)
		}
		if rerr != nil {
			if err := flush(); err != nil {
				return t, err
			}
			if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
				return t, nil
			}
			return t, rerr
		}
	}
}

// GetReader is not offered: tusd's download route is disabled, and staff
// get the file through ingest only.
func (u *upload) GetReader(context.Context) (io.ReadCloser, error) {
	return nil, handler.ErrNotImplemented
}

// FinishUpload has nothing to do: completion is the handler's callback.
func (u *upload) FinishUpload(context.Context) error { return nil }

// AsTerminatableUpload (tusd TerminaterDataStore).
func (s *Store) AsTerminatableUpload(up handler.Upload) handler.TerminatableUpload {
	return up.(*upload)
}

// Terminate deletes the upload (a tus DELETE).
func (u *upload) Terminate(context.Context) error {
	if err := u.s.remove(u.id); err != nil {
		return tusError(err)
	}
	return nil
}

// AsLengthDeclarableUpload (tusd LengthDeferrerDataStore).
func (s *Store) AsLengthDeclarableUpload(up handler.Upload) handler.LengthDeclarableUpload {
	return up.(*upload)
}

// DeclareLength fixes the length of an upload created without one.
func (u *upload) DeclareLength(ctx context.Context, length int64) error {
	if err := u.declareLength(length); err != nil {
		return tusError(err)
	}
	return nil
}

func (u *upload) declareLength(length int64) error {
	if !u.rec.Deferred {
		return handler.ErrInvalidUploadLength
	}
	switch {
	case length <= 0:
		return ErrEmpty
	case length > u.s.maxSize:
		return ErrTooLarge
	}
	t, err := u.s.tailOf(u)
	if err != nil {
		return err
	}
	if length < t.plain {
		return handler.ErrInvalidUploadLength
	}
	b, err := readFileLimit(u.s.infoPath(u.id), int64(maxInfoFile))
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	wrapped, _, err := parseInfoFile(b)
	if err != nil {
		return err
	}
	dk, err := u.s.kr.Unwrap(u.id, wrapped)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeyUnavailable, err)
	}
	defer keys.Wipe(dk)
	rec := u.rec
	rec.Size, rec.Deferred = length, false
	info, err := encodeInfoFile(u.id, wrapped, dk, rec)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(u.s.dir, u.s.infoPath(u.id), info); err != nil {
		return err
	}
	u.rec = rec
	return nil
}

var (
	_ handler.DataStore               = (*Store)(nil)
	_ handler.TerminaterDataStore     = (*Store)(nil)
	_ handler.LengthDeferrerDataStore = (*Store)(nil)
	_ handler.Upload                  = (*upload)(nil)
)
