package translog

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"
)

const (
	maxTSAResponse = 1 << 20
	// maxTokenSize bounds the tokens accepted for verification.
	maxTokenSize = 1 << 20
	tsaTimeout   = 30 * time.Second
	// checkpointSuffix names the stored copy of the exact checkpoint note
	// a token covers, beside the token itself.
	checkpointSuffix = ".checkpoint"
)

// timestampLoop timestamps each newly published checkpoint size until ctx
// is done. A size whose request fails is retried while it is the latest;
// once a newer checkpoint exists only that one is timestamped, since it
// covers every earlier entry.
func (l *Log) timestampLoop(ctx context.Context) {
	interval := min(max(l.cfg.CheckpointInterval/2, 100*time.Millisecond), 5*time.Second)
	backoff := time.Duration(0)
	for {
		wait := interval
		if err := l.timestampLatest(ctx); err != nil && ctx.Err() == nil {
			l.log.WarnContext(ctx, "transparency log timestamp failed", "err", err)
			backoff = min(max(2*backoff, time.Second), 5*time.Minute)
			wait = backoff
		} else {
			backoff = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// timestampLatest requests, checks and stores a token for the published
// checkpoint if its size has none yet.
func (l *Log) timestampLatest(ctx context.Context) error {
	cp, err := l.Checkpoint(ctx)
	if errors.Is(err, ErrNotPublished) {
		return nil
	}
	if err != nil {
		return err
	}
	c, err := parseUnverified(cp)
	if err != nil {
		return err
	}
	if c.Size == 0 || l.hasStamp(c.Size) {
		return nil
	}
	token, err := l.requestTimestamp(ctx, cp)
	if err != nil {
		return err
	}
	name := strconv.FormatUint(c.Size, 10)
	dir := filepath.Join(l.dir, timestampsDir)
	// The checkpoint first: a token on disk always has its checkpoint.
	if err := writeDurable(dir, name+checkpointSuffix, cp); err != nil {
		return err
	}
	if err := writeDurable(dir, name, token); err != nil {
		return err
	}
	l.addStamp(c.Size)
	return nil
}

// requestTimestamp asks the TSA for a token over SHA-256(checkpoint) and
// checks it: status, message imprint, nonce, signature, and the chain when
// TSARoots is set.
func (l *Log) requestTimestamp(ctx context.Context, checkpoint []byte) ([]byte, error) {
	nonce, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(checkpoint)
	req := timestamp.Request{
		HashAlgorithm: crypto.SHA256,
		HashedMessage: digest[:],
		Certificates:  true, // the token must carry the TSA's certificate to be checkable offline
		Nonce:         nonce,
	}
	body, err := req.Marshal()
	if err != nil {
		return nil, fmt.Errorf("translog: timestamp request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, tsaTimeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, l.cfg.TSAURL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("translog: timestamp request: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/timestamp-query")
	hreq.Header.Set("Accept", "application/timestamp-reply")
	resp, err := l.client.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("translog: timestamp authority: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxTSAResponse+1))
	if err != nil {
		return nil, fmt.Errorf("translog: timestamp authority: %w", err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("translog: timestamp authority answered %s", resp.Status)
	}
	if len(raw) > maxTSAResponse {
		return nil, errors.New("translog: timestamp authority's answer is too large")
	}
	ts, err := guard(func() (*timestamp.Timestamp, error) { return timestamp.ParseResponse(raw) })
	if err != nil {
		return nil, fmt.Errorf("translog: timestamp response: %w", err)
	}
	if ts.Nonce == nil || ts.Nonce.Cmp(nonce) != 0 {
		return nil, errors.New("translog: timestamp response does not answer our request (nonce)")
	}
	if _, err := checkToken(ts.RawToken, checkpoint, l.cfg.TSARoots); err != nil {
		return nil, err
	}
	return ts.RawToken, nil
}

// VerifyTimestamp checks an RFC 3161 timestamp token (DER, a CMS
// SignedData) over SHA-256 of checkpoint: the TSA's signature, the message
// imprint, and the TSA's certificate chain to one of roots at the time
// stamped, for time-stamping use. It returns the time stamped.
func VerifyTimestamp(token, checkpoint []byte, roots *x509.CertPool) (time.Time, error) {
	if roots == nil {
		return time.Time{}, errors.New("translog: no trusted timestamp authority roots given")
	}
	return checkToken(token, checkpoint, roots)
}

// checkToken is VerifyTimestamp, with the chain check skipped when roots
// is nil (on receipt with no roots configured).
func checkToken(token, checkpoint []byte, roots *x509.CertPool) (time.Time, error) {
	if len(token) > maxTokenSize {
		return time.Time{}, verifyErr("timestamp token is %d bytes", len(token))
	}
	// Parse checks the CMS signature with the certificate in the token.
	ts, err := parseToken(token)
	if err != nil {
		return time.Time{}, verifyErr("timestamp token: %v", err)
	}
	if len(ts.Certificates) == 0 {
		return time.Time{}, verifyErr("timestamp token carries no certificate")
	}
	digest := sha256.Sum256(checkpoint)
	if ts.HashAlgorithm != crypto.SHA256 || !bytes.Equal(ts.HashedMessage, digest[:]) {
		return time.Time{}, verifyErr("timestamp token is not over this checkpoint")
	}
	if roots != nil {
		p7, err := guard(func() (*pkcs7.PKCS7, error) { return pkcs7.Parse(token) })
		if err != nil {
			return time.Time{}, verifyErr("timestamp token: %v", err)
		}
		inter := x509.NewCertPool()
		for _, c := range p7.Certificates {
			inter.AddCert(c)
		}
		// The chain must hold at the time stamped, not now: evidence is
		// checked years after certificates expire.
		_, err = guard(func() (struct{}, error) {
			return struct{}{}, p7.VerifyWithOpts(x509.VerifyOptions{
				Roots:         roots,
				Intermediates: inter,
				CurrentTime:   ts.Time,
				KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping},
			})
		})
		if err != nil {
			return time.Time{}, verifyErr("timestamp authority: %v", err)
		}
	}
	return ts.Time.UTC(), nil
}

// Timestamp returns the stored RFC 3161 token (DER) for the checkpoint of
// the given size; ErrNoTimestamp if there is none.
func (l *Log) Timestamp(ctx context.Context, size uint64) ([]byte, error) {
	return l.readStamp(strconv.FormatUint(size, 10))
}

// TimestampedCheckpoint returns the exact checkpoint note that the token
// for size covers (the bytes that were hashed).
func (l *Log) TimestampedCheckpoint(ctx context.Context, size uint64) ([]byte, error) {
	return l.readStamp(strconv.FormatUint(size, 10) + checkpointSuffix)
}

// TimestampCovering returns the smallest timestamped checkpoint that
// includes the entry at index — the earliest proven time by which the entry
// was logged — with its token. ErrNoTimestamp if none covers it yet.
func (l *Log) TimestampCovering(ctx context.Context, index uint64) (size uint64, checkpoint, token []byte, err error) {
	l.tsMu.Lock()
	i, _ := slices.BinarySearch(l.stamp, index+1)
	if i == len(l.stamp) {
		l.tsMu.Unlock()
		return 0, nil, nil, ErrNoTimestamp
	}
	size = l.stamp[i]
	l.tsMu.Unlock()
	if checkpoint, err = l.TimestampedCheckpoint(ctx, size); err != nil {
		return 0, nil, nil, err
	}
	if token, err = l.Timestamp(ctx, size); err != nil {
		return 0, nil, nil, err
	}
	return size, checkpoint, token, nil
}

func (l *Log) readStamp(name string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(l.dir, timestampsDir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoTimestamp
	}
	if err != nil {
		return nil, fmt.Errorf("translog: %w", err)
	}
	return b, nil
}

// loadStamps lists the stored tokens and removes temporary files a crash
// may have left.
func (l *Log) loadStamps() error {
	dir := filepath.Join(l.dir, timestampsDir)
	des, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("translog: %w", err)
	}
	var sizes []uint64
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, ".tmp-") {
			os.Remove(filepath.Join(dir, name))
			continue
		}
		if n, err := parseDecimal(name); err == nil {
			sizes = append(sizes, n)
		}
	}
	slices.Sort(sizes)
	l.stamp = sizes
	return nil
}

func (l *Log) hasStamp(size uint64) bool {
	l.tsMu.Lock()
	defer l.tsMu.Unlock()
	_, found := slices.BinarySearch(l.stamp, size)
	return found
}

func (l *Log) addStamp(size uint64) {
	l.tsMu.Lock()
	defer l.tsMu.Unlock()
	if i, found := slices.BinarySearch(l.stamp, size); !found {
		l.stamp = slices.Insert(l.stamp, i, size)
	}
}

// parseToken parses a DER timestamp token. Tokens come from court bags and
// TSAs, so they are untrusted: the outer structure must be one DER value,
// and a panic in the CMS parser (digitorus/pkcs7 panics on some malformed
// input, as FuzzVerifyTimestamp found) is an error, not a crash.
func parseToken(token []byte) (*timestamp.Timestamp, error) {
	var outer asn1.RawValue
	rest, err := asn1.Unmarshal(token, &outer)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 || outer.Tag != asn1.TagSequence || !outer.IsCompound {
		return nil, errors.New("not a single DER SEQUENCE")
	}
	return guard(func() (*timestamp.Timestamp, error) { return timestamp.Parse(token) })
}

// cmsMu serialises the CMS parsers: digitorus/pkcs7 writes a package-level
// counter (encodeIndent, in ber2der) on every parse, so two parses at once
// — the timestamp loop and an export, say — race. It guards that
// library's global, not state of ours.
var cmsMu sync.Mutex

// guard runs a third-party parser, one at a time, turning a panic into an
// error.
func guard[T any](f func() (T, error)) (v T, err error) {
	cmsMu.Lock()
	defer cmsMu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed input (%v)", r)
		}
	}()
	return f()
}
