package upload

import (
	"bufio"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// The data file of an upload is a sequence of frames, each one sealed on
// its own so that an upload can be resumed after the last frame that
// reached the disk whole:
//
//	u32 n (big-endian, 1..frameSize)   plaintext length
//	[24]byte                            random XChaCha20 nonce
//	[n+16]byte                          ciphertext and Poly1305 tag
//
// The associated data binds the frame to its upload and its plaintext
// offset, so frames cannot be reordered, dropped from the middle, or moved
// between uploads without failing authentication. Nonces are random (not
// derived from the offset) because a torn last frame is rewritten at the
// same offset, possibly with other bytes, and remnants of the torn one may
// survive on the disk.
const (
	frameSize     = 64 << 10
	frameHeader   = 4 + chacha20poly1305.NonceSizeX
	frameOverhead = frameHeader + chacha20poly1305.Overhead
	frameADLabel  = "corridor/upload/frame/v1"
)

// errFrame marks a frame that is not whole and authentic: torn by a crash,
// or altered. Scanning stops before it; reading fails on it.
var errFrame = errors.New("upload: bad frame")

// frameAD appends the associated data of the frame of n bytes at offset.
func frameAD(dst []byte, id string, offset int64, n int) []byte {
	dst = append(dst, frameADLabel...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(id)))
	dst = append(dst, id...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(offset))
	return binary.BigEndian.AppendUint32(dst, uint32(n))
}

// frameSealer seals the frames of one upload, reusing its buffer for the
// associated data.
type frameSealer struct {
	aead cipher.AEAD
	id   string
	ad   []byte
}

// seal appends to dst the frame holding p at plaintext offset.
func (s *frameSealer) seal(dst []byte, offset int64, p []byte) []byte {
	if len(p) == 0 || len(p) > frameSize {
		panic("upload: frame of impossible size")
	}
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(p)))
	dst = append(dst, make([]byte, chacha20poly1305.NonceSizeX)...)
	nonce := dst[start+4 : start+frameHeader]
	rand.Read(nonce) // never fails (crypto/rand, Go 1.24+)
	s.ad = frameAD(s.ad[:0], s.id, offset, len(p))
	return s.aead.Seal(dst, nonce, p, s.ad)
}

// sealFrame appends to dst the frame holding p at plaintext offset.
func sealFrame(dst []byte, aead cipher.AEAD, id string, offset int64, p []byte) []byte {
	s := frameSealer{aead: aead, id: id}
	return s.seal(dst, offset, p)
}

// parseFrameHeader returns the plaintext length a frame header announces.
func parseFrameHeader(h []byte) (int, error) {
	if len(h) < frameHeader {
		return 0, fmt.Errorf("%w: short header", errFrame)
	}
	n := binary.BigEndian.Uint32(h)
	if n == 0 || n > frameSize {
		return 0, fmt.Errorf("%w: length %d", errFrame, n)
	}
	return int(n), nil
}

// frameDecoder reads and authenticates frames one after the other.
type frameDecoder struct {
	r      io.Reader
	aead   cipher.AEAD
	id     string
	limit  int64 // no frame may reach past this plaintext length
	offset int64 // plaintext offset of the next frame
	pos    int64 // file position of the next frame
	buf    []byte
	ad     []byte
}

func newFrameDecoder(r io.Reader, aead cipher.AEAD, id string, limit int64) *frameDecoder {
	return &frameDecoder{
		r:     bufio.NewReaderSize(r, 256<<10),
		aead:  aead,
		id:    id,
		limit: limit,
		buf:   make([]byte, frameOverhead+frameSize),
	}
}

// next returns the plaintext of the next frame, valid until the following
// call. It returns io.EOF at a clean end, an error wrapping errFrame for a
// torn, altered or misplaced frame, and any other error for a failed read.
func (d *frameDecoder) next() ([]byte, error) {
	h := d.buf[:frameHeader]
	if k, err := io.ReadFull(d.r, h); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		if err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%w: torn header (%d bytes)", errFrame, k)
		}
		return nil, err
	}
	n, err := parseFrameHeader(h)
	if err != nil {
		return nil, err
	}
	if d.offset+int64(n) > d.limit {
		return nil, fmt.Errorf("%w: beyond the upload's length", errFrame)
	}
	ct := d.buf[frameHeader : frameOverhead+n]
	if _, err := io.ReadFull(d.r, ct); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%w: torn body", errFrame)
		}
		return nil, err
	}
	d.ad = frameAD(d.ad[:0], d.id, d.offset, n)
	p, err := d.aead.Open(ct[:0], h[4:frameHeader], ct, d.ad)
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed", errFrame)
	}
	d.offset += int64(n)
	d.pos += int64(frameOverhead + n)
	return p, nil
}

// tail describes the whole, authentic frames at the start of a data file.
type tail struct {
	end       int64 // file bytes they occupy
	plain     int64 // plaintext bytes they hold
	lastStart int64 // file position of the last one, -1 if unknown
	lastPlain int64 // its plaintext length
}

// scanFrames finds the whole, authentic frames at the start of r. It stops
// quietly at the first frame that is not (a crash tore it, and it was never
// acknowledged); only a failed read is an error.
func scanFrames(r io.Reader, aead cipher.AEAD, id string, limit int64) (tail, error) {
	t := tail{lastStart: -1}
	d := newFrameDecoder(r, aead, id, limit)
	for {
		start := d.pos
		p, err := d.next()
		switch {
		case err == nil:
			t.end, t.plain = d.pos, d.offset
			t.lastStart, t.lastPlain = start, int64(len(p))
		case err == io.EOF, errors.Is(err, errFrame):
			return t, nil
		default:
			return t, err
		}
	}
}

// plainReader streams the plaintext of the first size bytes of an upload.
type plainReader struct {
	d       *frameDecoder
	size    int64
	pending []byte
	err     error
	closer  io.Closer
}

func (r *plainReader) Read(b []byte) (int, error) {
	for len(r.pending) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.d.offset == r.size {
			r.err = io.EOF
			return 0, io.EOF
		}
		p, err := r.d.next()
		switch {
		case err == io.EOF:
			r.err = fmt.Errorf("%w: data ends at %d of %d bytes", ErrCorrupt, r.d.offset, r.size)
		case errors.Is(err, errFrame):
			r.err = fmt.Errorf("%w: at %d: %w", ErrCorrupt, r.d.offset, err)
		case err != nil:
			r.err = fmt.Errorf("upload: read: %w", err)
		default:
			r.pending = p
		}
	}
	n := copy(b, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

func (r *plainReader) Close() error {
	if r.closer == nil {
		return nil
	}
	err := r.closer.Close()
	r.closer = nil
	return err
}
