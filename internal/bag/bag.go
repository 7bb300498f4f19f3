// Package bag writes and checks BagIt bags (RFC 8493, version 1.0): a
// directory holding the payload under data/, a payload manifest of SHA-256
// checksums, bag-info.txt and a tag manifest. Corridor's court exports are
// bags so that anyone can check them years later with tools nobody here
// wrote: `sha256sum -c manifest-sha256.txt` run in the bag checks every
// payload file, `sha256sum -c tagmanifest-sha256.txt` every tag file.
//
// Writing a bag:
//
//	w, err := bag.Create(dir, bag.Info{{Label: "Source-Organization", Value: org}})
//	if err != nil { … }
//	defer w.Abort() // removes the partial bag unless Close succeeded
//	sum, n, err := w.AddPayload("items/42/original.jpg", r) // streamed, synced
//	err = w.AddTag("custody/events.jsonl", events)
//	err = w.Close() // manifests, bag-info.txt, bagit.txt, tag manifest
//
// Verify checks a bag offline and reports every problem it finds rather
// than stopping at the first, because a court needs to know exactly what
// does not hold. It is stricter than RFC 8493 where the RFC is lenient and
// a lenient reading would let a change go unnoticed:
//
//   - manifest-sha256.txt and tagmanifest-sha256.txt must both be present,
//     and the tag manifest must list every tag file (the RFC only says it
//     SHOULD), so that no file in the bag goes unchecked;
//   - a checksum may be all lowercase or all uppercase but not mixed, so
//     that flipping the case bit of one hex letter in the tag manifest
//     (which nothing else covers) is noticed;
//   - paths must not contain a backslash, which Windows reads as a
//     separator;
//   - symbolic links and other non-regular files are reported, never
//     followed;
//   - only BagIt 1.0 with UTF-8 tag files is read.
package bag

import (
	"errors"
	"strings"
)

// Sentinel errors callers branch on.
var (
	// ErrNotEmpty reports that Create was given a directory that already
	// holds files.
	ErrNotEmpty = errors.New("bag: directory is not empty")
	// ErrBadName reports a payload or tag file name that is not a clean
	// relative slash path, or that is reserved.
	ErrBadName = errors.New("bag: invalid file name")
	// ErrDuplicate reports a file name already added to the bag, or one that
	// differs from an added one only in case or Unicode normalisation (the
	// two would be one file on macOS and Windows).
	ErrDuplicate = errors.New("bag: file name already used")
	// ErrBadInfo reports a bag-info.txt field that cannot be written as
	// RFC 8493 requires, or one the writer sets itself.
	ErrBadInfo = errors.New("bag: invalid bag-info field")
	// ErrClosed reports use of a Writer after Close or Abort.
	ErrClosed = errors.New("bag: writer closed")
	// ErrInvalid reports a bag Open cannot parse. Run Verify for the full
	// list of problems.
	ErrInvalid = errors.New("bag: not a valid bag")
	// ErrNotListed reports a file that the bag's manifests do not list.
	ErrNotListed = errors.New("bag: file not listed in the bag")
	// ErrChecksum reports file content that does not match its manifest.
	ErrChecksum = errors.New("bag: checksum mismatch")
	// ErrNotRegular reports a symbolic link or other non-regular file where
	// a regular file was expected; bags are never read through links.
	ErrNotRegular = errors.New("bag: not a regular file")
	// ErrTooLarge reports a tag file larger than ReadTag will load.
	ErrTooLarge = errors.New("bag: tag file too large")
)

// Info is the ordered content of bag-info.txt. Labels may repeat.
type Info []Field

// Field is one bag-info.txt metadata element. A value may hold line feeds
// (written as RFC 8493 continuation lines), but no carriage return, and no
// line after the first may start with a space or tab (the indentation of a
// continuation line is not part of the value, so it would be lost).
type Field struct{ Label, Value string }

// Values returns the values of every field labelled label, compared without
// regard to case as RFC 8493 says for reserved labels, in order.
func (in Info) Values(label string) []string {
	var vs []string
	for _, f := range in {
		if strings.EqualFold(f.Label, label) {
			vs = append(vs, f.Value)
		}
	}
	return vs
}

// Kind classifies a Problem, for callers that count or translate them.
type Kind string

// Kinds of Problem.
const (
	// KindDeclaration: bagit.txt is missing or malformed.
	KindDeclaration Kind = "declaration"
	// KindStructure: a required part (data/, a required manifest) is
	// missing, or a manifest lists what it must not.
	KindStructure Kind = "structure"
	// KindMalformed: a line of a manifest, bag-info.txt or fetch.txt does
	// not follow RFC 8493.
	KindMalformed Kind = "malformed"
	// KindUnsupported: a BagIt version, character encoding or checksum
	// algorithm this package does not implement.
	KindUnsupported Kind = "unsupported"
	// KindPath: a listed path that is absolute, climbs out with "..", or is
	// otherwise unsafe.
	KindPath Kind = "path"
	// KindMissing: a file listed in a manifest is not in the bag.
	KindMissing Kind = "missing"
	// KindUnlisted: a file in the bag is not listed in a manifest.
	KindUnlisted Kind = "unlisted"
	// KindDuplicate: a manifest lists the same path twice.
	KindDuplicate Kind = "duplicate"
	// KindChecksum: a file's content does not match its manifest.
	KindChecksum Kind = "checksum"
	// KindOxum: bag-info.txt's Payload-Oxum is malformed, repeated or does
	// not match the payload.
	KindOxum Kind = "oxum"
	// KindIrregular: a symbolic link or other non-regular file.
	KindIrregular Kind = "irregular"
	// KindUnreadable: a file or directory could not be read.
	KindUnreadable Kind = "unreadable"
)

// Problem is one thing about a bag that does not hold. Path is slash
// separated and relative to the bag; it comes from the bag, so quote it
// (%q) before printing it to a terminal.
type Problem struct {
	Path, What string
	Kind       Kind
}

// Report is the outcome of Verify.
type Report struct {
	Problems []Problem
	// PayloadFiles and PayloadBytes count the regular files found under
	// data/, listed or not.
	PayloadFiles int
	PayloadBytes int64
}

// OK reports whether the bag is complete and valid: no problem was found.
func (r *Report) OK() bool { return len(r.Problems) == 0 }
