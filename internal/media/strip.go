package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	// x/image (the Go team's) for WebP, which the standard library lacks.
	"golang.org/x/image/webp"
)

// A working copy is made by decoding the image and encoding its pixels
// afresh with the standard library's encoders, which write no metadata at
// all: JPEG gets SOI, DQT, SOF, DHT, SOS and EOI, PNG gets IHDR, PLTE, tRNS,
// IDAT and IEND, GIF gets its frames and, for animations, the loop count.
// So no EXIF, XMP, IPTC, comment or maker note can survive, whatever its
// container, and nothing of the original's byte layout either.
//
// ICC profiles are dropped too: their header carries a creation time and
// the device's maker and model. The cost is colour fidelity for photos in a
// wide gamut (an iPhone's Display P3 shows slightly less saturated); the
// original keeps the profile.
//
// EXIF orientation is applied to JPEG only, which is where cameras rely on
// it. The PNG specification says eXIf is of historical value only, and
// viewers disagree about WebP, so those pixels are kept as stored.

// jpegQuality keeps injuries legible in the working copy; the original is
// the evidence.
const jpegQuality = 92

// Strip decodes the image r of the given content type and writes to w a
// copy with every metadata block removed, returning the copy's type:
// JPEG → image/jpeg (orientation applied), PNG and APNG → image/png (first
// frame), GIF → image/gif (all frames), WebP → image/png (still images).
//
// Images over MaxPixels (all frames together for GIF) are refused with
// ErrTooLarge, from their header, before any pixel is decoded; so are JPEGs
// of more than 256 scans, when the decoder reaches the 257th. Other types
// give ErrUnsupported; a file that does not decode gives another error. On
// any error w may have received part of a copy, which the caller must
// discard. Cancelling ctx stops the work at the next read or write.
func Strip(ctx context.Context, w io.Writer, r io.Reader, contentType string) (outType string, err error) {
	// The image decoders are the standard library's and x/image's, fuzzed
	// upstream, but a panic on hostile input must not take the server down.
	defer func() {
		if recover() != nil {
			outType, err = "", fmt.Errorf("media: stripping %s failed", normType(contentType))
		}
	}()
	return strip(ctx, w, r, contentType, MaxPixels)
}

func strip(ctx context.Context, w io.Writer, r io.Reader, contentType string, maxPixels int64) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	ct := normType(contentType)
	r = ctxReader{ctx, r}
	w = ctxWriter{ctx, w}
	var out string
	var err error
	switch ct {
	case "image/jpeg":
		out, err = "image/jpeg", stripJPEG(ctx, w, r, maxPixels)
	case "image/png", "image/apng":
		out, err = "image/png", stripStill(w, r, maxPixels, png.DecodeConfig, png.Decode)
	case "image/webp":
		out, err = "image/png", stripStill(w, r, maxPixels, webp.DecodeConfig, webp.Decode)
	case "image/gif":
		out, err = "image/gif", stripGIF(w, r, maxPixels)
	default:
		return "", fmt.Errorf("%w: %q", ErrUnsupported, ct)
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return "", ctxErr
		}
		return "", err
	}
	return out, nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (w ctxWriter) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	return w.w.Write(p)
}

// maxHeader bounds the bytes a decoder may read before it knows the image
// size (JPEG APP segments, PNG chunks before PLTE): they are kept in memory
// to be read again by the full decode.
const maxHeader = 16 << 20

var errHeaderTooLarge = fmt.Errorf("%w: header over %d MiB", ErrTooLarge, maxHeader>>20)

// headerBuffer records what the config decoder read, up to maxHeader.
type headerBuffer struct {
	bytes.Buffer
	over bool
}

func (h *headerBuffer) Write(p []byte) (int, error) {
	if h.Len()+len(p) > maxHeader {
		h.over = true
		return 0, errHeaderTooLarge
	}
	return h.Buffer.Write(p)
}

func checkPixels(w, h int, maxPixels int64) error {
	if w <= 0 || h <= 0 {
		return errors.New("media: image has no pixels")
	}
	if int64(w)*int64(h) > maxPixels {
		return fmt.Errorf("%w: %d×%d pixels, limit %d", ErrTooLarge, w, h, maxPixels)
	}
	return nil
}

// decodeBounded reads the image header with decodeConfig, refuses images
// over maxPixels, then decodes the image from the same stream (the header
// read once more from memory). It returns the header bytes too.
func decodeBounded(r io.Reader, maxPixels int64,
	decodeConfig func(io.Reader) (image.Config, error),
	decode func(io.Reader) (image.Image, error),
) (image.Image, []byte, error) {
	var hdr headerBuffer
	cfg, err := decodeConfig(io.TeeReader(r, &hdr))
	if hdr.over {
		return nil, nil, errHeaderTooLarge
	}
	if err != nil {
		return nil, nil, fmt.Errorf("media: reading image header: %w", err)
	}
	if err := checkPixels(cfg.Width, cfg.Height, maxPixels); err != nil {
		return nil, nil, err
	}
	img, err := decode(io.MultiReader(bytes.NewReader(hdr.Bytes()), r))
	if err != nil {
		return nil, nil, fmt.Errorf("media: decoding image: %w", err)
	}
	if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, nil, errors.New("media: image size differs from its header")
	}
	return img, hdr.Bytes(), nil
}

func stripJPEG(ctx context.Context, w io.Writer, r io.Reader, maxPixels int64) error {
	img, hdr, err := decodeBounded(io.TeeReader(r, &scanLimiter{}), maxPixels, jpeg.DecodeConfig, jpeg.Decode)
	if err != nil {
		return err
	}
	img, err = orient(ctx, img, jpegOrientation(hdr))
	if err != nil {
		return err
	}
	if err := jpeg.Encode(w, img, &jpeg.Options{Quality: jpegQuality}); err != nil {
		return fmt.Errorf("media: encoding jpeg: %w", err)
	}
	return nil
}

// maxJPEGScans bounds the scans of a JPEG. Each scan of a progressive JPEG
// may touch every block of the image, so a small file of many scans can keep
// a core busy for hours at the pixel limit (libjpeg-turbo's "LJT-01-003";
// its users cap scans the same way). Encoders write about ten.
const maxJPEGScans = 256

var errTooManyScans = fmt.Errorf("%w: more than %d JPEG scans", ErrTooLarge, maxJPEGScans)

// scanLimiter watches the bytes the JPEG decoder reads, following the
// marker structure (segment lengths, entropy-coded data with its stuffed
// 0xFF00 and restart markers) to count start-of-scan markers, and fails
// the read past maxJPEGScans.
type scanLimiter struct {
	state  int
	marker byte
	length int
	scans  int
}

const (
	slMarker    = iota // expecting 0xFF
	slCode             // after 0xFF, expecting a marker code
	slLen1             // first byte of a segment length
	slLen2             // second byte
	slSkip             // inside a segment's payload
	slEntropy          // inside entropy-coded data
	slEntropyFF        // inside entropy-coded data, after 0xFF
	slDone             // after EOI or damage: the decoder will stop
)

func (s *scanLimiter) Write(p []byte) (int, error) {
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch s.state {
		case slMarker:
			if c == 0xFF {
				s.state = slCode
			}
		case slEntropy:
			j := bytes.IndexByte(p[i:], 0xFF)
			if j < 0 {
				return len(p), nil
			}
			i += j
			s.state = slEntropyFF
		case slEntropyFF:
			switch {
			case c == 0x00 || (c >= 0xD0 && c <= 0xD7): // stuffed byte, restart marker
				s.state = slEntropy
			case c == 0xFF:
			default:
				s.code(c)
			}
		case slCode:
			s.code(c)
		case slLen1:
			s.length, s.state = int(c)<<8, slLen2
		case slLen2:
			s.length = (s.length | int(c)) - 2
			if s.length < 0 {
				s.state = slDone
				break
			}
			if s.marker == 0xDA {
				if s.scans++; s.scans > maxJPEGScans {
					return 0, errTooManyScans
				}
			}
			s.state = slSkip
			if s.length == 0 {
				s.endSegment()
			}
		case slSkip:
			n := min(s.length, len(p)-i)
			s.length -= n
			i += n - 1
			if s.length == 0 {
				s.endSegment()
			}
		case slDone:
			return len(p), nil
		}
	}
	return len(p), nil
}

func (s *scanLimiter) code(c byte) {
	switch {
	case c == 0xFF: // fill byte
		s.state = slCode
	case c == 0xD8 || c == 0x01 || (c >= 0xD0 && c <= 0xD7):
		s.state = slMarker
	case c == 0xD9 || c == 0x00:
		s.state = slDone
	default:
		s.marker, s.state = c, slLen1
	}
}

func (s *scanLimiter) endSegment() {
	if s.marker == 0xDA {
		s.state = slEntropy
	} else {
		s.state = slMarker
	}
}

// jpegOrientation reads the EXIF orientation from a JPEG's header, which
// holds every segment up to the frame header.
func jpegOrientation(hdr []byte) int {
	o := 1
	_ = jpegSegments(hdr, func(m byte, p []byte) bool {
		if m == 0xE1 && bytes.HasPrefix(p, []byte(exifPrefix)) {
			o = exifOrientation(p[len(exifPrefix):])
			return false
		}
		return !isSOF(m)
	})
	return o
}

func stripStill(w io.Writer, r io.Reader, maxPixels int64,
	decodeConfig func(io.Reader) (image.Config, error),
	decode func(io.Reader) (image.Image, error),
) error {
	img, _, err := decodeBounded(r, maxPixels, decodeConfig, decode)
	if err != nil {
		return err
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("media: encoding png: %w", err)
	}
	return nil
}

// GIF frames are each within the logical screen, but their number is not
// bounded, and LZW packs thousands of pixels into a byte, so a small file
// can decode into any number of screens. The block structure is walked
// first and the frames' pixels added up; the whole file is needed for that,
// so it is read into memory, up to a size no honest GIF within MaxPixels
// reaches (LZW never costs more than 12 bits a pixel).
const (
	maxGIFFrames = 10_000
	maxGIFBytes  = 2*MaxPixels + 16<<20
)

func stripGIF(w io.Writer, r io.Reader, maxPixels int64) error {
	data, err := io.ReadAll(io.LimitReader(r, maxGIFBytes+1))
	if err != nil {
		return fmt.Errorf("media: reading gif: %w", err)
	}
	if len(data) > maxGIFBytes {
		return fmt.Errorf("%w: gif over %d MiB", ErrTooLarge, maxGIFBytes>>20)
	}
	cfg, err := gif.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("media: reading image header: %w", err)
	}
	if err := checkPixels(cfg.Width, cfg.Height, maxPixels); err != nil {
		return err
	}
	if err := gifFrames(data, maxPixels); err != nil {
		return err
	}
	g, err := gif.DecodeAll(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("media: decoding image: %w", err)
	}
	if err := gif.EncodeAll(w, g); err != nil {
		return fmt.Errorf("media: encoding gif: %w", err)
	}
	return nil
}

// gifFrames refuses a GIF of more than maxGIFFrames frames or maxPixels
// pixels in all frames.
func gifFrames(b []byte, maxPixels int64) error {
	frames, pixels := gifCount(b)
	if frames > maxGIFFrames {
		return fmt.Errorf("%w: more than %d frames", ErrTooLarge, maxGIFFrames)
	}
	if pixels > maxPixels {
		return fmt.Errorf("%w: frames add up to over %d pixels", ErrTooLarge, maxPixels)
	}
	return nil
}

// gifCount walks a GIF's blocks (GIF89a §§17–27) without decoding them and
// returns the number of frames and their pixels. It must see every frame
// that image/gif's decoder will allocate, so it steps over each block
// exactly as that decoder does (a plain text extension is 13 bytes before
// its sub-blocks whatever its size byte says; a graphic control extension is
// 6 bytes); FuzzGIFCount holds the two together. It stops at the trailer or
// at anything the decoder rejects.
func gifCount(b []byte) (frames int, pixels int64) {
	if len(b) < 13 {
		return 0, 0
	}
	i := 13
	if b[10]&0x80 != 0 {
		i += 3 << (b[10]&7 + 1)
	}
	for i+1 < len(b) {
		switch b[i] {
		case 0x21: // extension
			switch b[i+1] {
			case 0x01: // plain text
				i = skipSubBlocks(b, i+2+13)
			case 0xF9: // graphic control
				i += 2 + 6
			case 0xFE: // comment
				i = skipSubBlocks(b, i+2)
			case 0xFF: // application
				if i+2 >= len(b) {
					return frames, pixels
				}
				i = skipSubBlocks(b, i+3+int(b[i+2]))
			default:
				return frames, pixels
			}
		case 0x2C: // image descriptor
			if i+10 > len(b) {
				return frames, pixels
			}
			fw, fh := binary.LittleEndian.Uint16(b[i+5:]), binary.LittleEndian.Uint16(b[i+7:])
			flags := b[i+9]
			i += 10
			if flags&0x80 != 0 {
				i += 3 << (flags&7 + 1)
			}
			i = skipSubBlocks(b, i+1) // after the LZW minimum code size
			frames++
			pixels += int64(fw) * int64(fh)
		default: // trailer, or damage
			return frames, pixels
		}
	}
	return frames, pixels
}

// skipSubBlocks returns the index after the sequence of data sub-blocks
// starting at i and its terminator.
func skipSubBlocks(b []byte, i int) int {
	for i < len(b) {
		n := int(b[i])
		i += 1 + n
		if n == 0 {
			break
		}
	}
	return i
}

// orient returns img as it is meant to be seen, given its EXIF orientation
// (CIPA DC-008 §4.6.4, tag 0x0112): 1 as stored, 2 mirrored, 3 turned half
// round, 4 flipped, 5 transposed, 6 turned a quarter clockwise, 7
// transversed, 8 turned a quarter anticlockwise.
func orient(ctx context.Context, img image.Image, o int) (image.Image, error) {
	if o < 2 || o > 8 {
		return img, nil
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	// src maps a pixel of the result to the pixel of img it shows.
	src := func(x, y int) (int, int) {
		switch o {
		case 2:
			return w - 1 - x, y
		case 3:
			return w - 1 - x, h - 1 - y
		case 4:
			return x, h - 1 - y
		case 5:
			return y, x
		case 6:
			return y, h - 1 - x
		case 7:
			return w - 1 - y, h - 1 - x
		default: // 8
			return w - 1 - y, x
		}
	}
	if g, ok := img.(*image.Gray); ok {
		dst := image.NewGray(image.Rect(0, 0, dw, dh))
		for y := 0; y < dh; y++ {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			for x := 0; x < dw; x++ {
				sx, sy := src(x, y)
				dst.Pix[y*dst.Stride+x] = g.Pix[g.PixOffset(b.Min.X+sx, b.Min.Y+sy)]
			}
		}
		return dst, nil
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	yc, isYCbCr := img.(*image.YCbCr)
	for y := 0; y < dh; y++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for x := 0; x < dw; x++ {
			sx, sy := src(x, y)
			sx, sy = b.Min.X+sx, b.Min.Y+sy
			var c color.RGBA
			if isYCbCr {
				// Reading the planes directly saves an allocation a pixel.
				yi, ci := yc.YOffset(sx, sy), yc.COffset(sx, sy)
				c.R, c.G, c.B = color.YCbCrToRGB(yc.Y[yi], yc.Cb[ci], yc.Cr[ci])
				c.A = 0xFF
			} else {
				c = color.RGBAModel.Convert(img.At(sx, sy)).(color.RGBA)
			}
			i := dst.PixOffset(x, y)
			dst.Pix[i], dst.Pix[i+1], dst.Pix[i+2], dst.Pix[i+3] = c.R, c.G, c.B, c.A
		}
	}
	return dst, nil
}
