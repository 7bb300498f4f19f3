package bag

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"hash"
	"strings"
	"unicode/utf8"
)

// payloadDir is the payload directory's name, and the prefix of every path
// in a payload manifest.
const payloadDir = "data"

// Names of the tag files RFC 8493 defines.
const (
	declarationName = "bagit.txt"
	bagInfoName     = "bag-info.txt"
	fetchName       = "fetch.txt"
	manifestName    = "manifest-sha256.txt"
	tagManifestName = "tagmanifest-sha256.txt"
)

// checkPath reports whether p, a slash path from a manifest or a caller,
// names a file inside the bag without any way to climb out of it or be read
// differently on another system.
func checkPath(p string) error {
	switch {
	case p == "":
		return errors.New("empty path")
	case !utf8.ValidString(p):
		return errors.New("path is not valid UTF-8")
	case strings.IndexByte(p, 0) >= 0:
		return errors.New("path contains a NUL byte")
	case strings.HasPrefix(p, "/"):
		return errors.New("absolute path")
	case strings.IndexByte(p, '\\') >= 0:
		return errors.New(`path contains "\", a separator on Windows`)
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "":
			return errors.New("path has an empty segment")
		case ".", "..":
			return errors.New(`path has a "." or ".." segment`)
		}
	}
	return nil
}

// encodePath percent-encodes the characters RFC 8493 says must be encoded
// in a manifest or fetch.txt path: CR, LF and "%", and only those.
func encodePath(p string) string {
	if !strings.ContainsAny(p, "%\r\n") {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '%':
			b.WriteString("%25")
		case '\r':
			b.WriteString("%0D")
		case '\n':
			b.WriteString("%0A")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// decodePath undoes encodePath. A "%" not starting one of the three
// encodings RFC 8493 allows (%0D, %0A, %25, hex digits in either case) is
// an error: an unencoded "%" is not allowed either.
func decodePath(p string) (string, error) {
	if strings.IndexByte(p, '%') < 0 {
		return p, nil
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			b.WriteByte(p[i])
			continue
		}
		if i+2 >= len(p) {
			return "", errors.New(`"%" not followed by two hex digits`)
		}
		switch p[i+1 : i+3] {
		case "0D", "0d":
			b.WriteByte('\r')
		case "0A", "0a":
			b.WriteByte('\n')
		case "25":
			b.WriteByte('%')
		default:
			return "", errors.New(`"%" is only allowed as %0D, %0A or %25`)
		}
		i += 2
	}
	return b.String(), nil
}

// algorithm is a checksum algorithm a manifest may name.
type algorithm struct {
	name string // normalised as in manifest file names: "sha256"
	new  func() hash.Hash
	size int // digest size in bytes
}

// lookupAlgorithm returns the algorithm a manifest file name uses. RFC 8493
// requires SHA-256 and SHA-512 and recommends MD5 and SHA-1 for old bags;
// the SHA-2 family is all in the standard library.
func lookupAlgorithm(name string) (algorithm, bool) {
	switch name {
	case "sha256":
		return algorithm{name, sha256.New, sha256.Size}, true
	case "sha512":
		return algorithm{name, sha512.New, sha512.Size}, true
	case "sha384":
		return algorithm{name, sha512.New384, sha512.Size384}, true
	case "sha224":
		return algorithm{name, sha256.New224, sha256.Size224}, true
	case "sha1":
		return algorithm{name, sha1.New, sha1.Size}, true
	case "md5":
		return algorithm{name, md5.New, md5.Size}, true
	}
	return algorithm{}, false
}

// manifestAlgorithm splits a root-level file name of the form
// prefix-ALGORITHM.txt, returning the algorithm's name.
func manifestAlgorithm(name, prefix string) (string, bool) {
	if strings.Contains(name, "/") || !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, ".txt") {
		return "", false
	}
	alg := name[len(prefix) : len(name)-len(".txt")]
	return alg, alg != ""
}

// isTagManifest reports whether name is a tag manifest at the bag's root.
func isTagManifest(name string) bool {
	_, ok := manifestAlgorithm(name, "tagmanifest-")
	return ok
}
