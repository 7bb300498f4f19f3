package bag

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// got is a Problem without its wording, for comparing.
type got struct {
	Path string
	Kind Kind
}

func problems(r *Report) []got {
	var gs []got
	for _, p := range r.Problems {
		gs = append(gs, got{p.Path, p.Kind})
	}
	return gs
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, dir, name string) {
	t.Helper()
	remove(t, dir, name)
	if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// edit rewrites a file with fn and then, so that only the change under
// test is found, updates the tag manifest's checksums (as a forger would).
func edit(t *testing.T, dir, name string, fn func(string) string) {
	t.Helper()
	write(t, dir, name, fn(readFile(t, filepath.Join(dir, name))))
	reseal(t, dir)
}

// reseal recomputes the checksum of every file the tag manifest lists.
func reseal(t *testing.T, dir string) {
	t.Helper()
	var b strings.Builder
	for l := range strings.Lines(readFile(t, filepath.Join(dir, "tagmanifest-sha256.txt"))) {
		_, p, _ := strings.Cut(strings.TrimRight(l, "\r\n"), "  ")
		content, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			b.WriteString(l)
			continue
		}
		sum := sha256.Sum256(content)
		formatManifestLine(&b, sum[:], p)
	}
	write(t, dir, "tagmanifest-sha256.txt", b.String())
}

func sumLine(content, p string) string {
	sum := sha256.Sum256([]byte(content))
	return hex.EncodeToString(sum[:]) + "  " + p + "\n"
}

const (
	jpg   = "data/items/01/original.jpg"
	notes = "data/notes with spaces.txt"
)

func TestVerifyDetects(t *testing.T) {
	outside := t.TempDir()
	write(t, outside, "original.jpg", testPayload[0].content)
	write(t, outside, "01/original.jpg", testPayload[0].content)

	for _, tc := range []struct {
		name   string
		mutate func(t *testing.T, dir string)
		want   []got
	}{
		{"nothing", func(t *testing.T, dir string) {}, nil},

		// Flipped bits.
		{"bit in payload", func(t *testing.T, dir string) { flipBit(t, filepath.Join(dir, jpg), 0, 0) },
			[]got{{jpg, KindChecksum}}},
		{"bit in empty-named payload", func(t *testing.T, dir string) { flipBit(t, filepath.Join(dir, notes), 5, 6) },
			[]got{{notes, KindChecksum}}},
		{"bit in tag file", func(t *testing.T, dir string) { flipBit(t, filepath.Join(dir, "custody/events.jsonl"), 3, 1) },
			[]got{{"custody/events.jsonl", KindChecksum}}},
		{"bit in bagit.txt", func(t *testing.T, dir string) { flipBit(t, filepath.Join(dir, "bagit.txt"), 15, 0) },
			[]got{{"bagit.txt", KindChecksum}, {"bagit.txt", KindUnsupported}}},
		{"bit in bag-info.txt", func(t *testing.T, dir string) { flipBit(t, filepath.Join(dir, "bag-info.txt"), 30, 2) },
			[]got{{"bag-info.txt", KindChecksum}}},
		{"bit in manifest checksum", func(t *testing.T, dir string) {
			// A digit, so that the flip leaves a hex digit.
			i := strings.IndexAny(readFile(t, filepath.Join(dir, "manifest-sha256.txt")), "0123456789")
			flipBit(t, filepath.Join(dir, "manifest-sha256.txt"), i, 0)
		}, nil}, // filled in below: which payload file is first depends on sorting
		{"case of a tag manifest checksum", func(t *testing.T, dir string) {
			s := readFile(t, filepath.Join(dir, "tagmanifest-sha256.txt"))
			i := strings.IndexAny(s, "abcdef")
			write(t, dir, "tagmanifest-sha256.txt", s[:i]+strings.ToUpper(s[i:i+1])+s[i+1:])
		}, []got{{"tagmanifest-sha256.txt", KindMalformed}, {"README.txt", KindUnlisted}}},

		// Removed files.
		{"removed payload", func(t *testing.T, dir string) { remove(t, dir, jpg) },
			[]got{{"bag-info.txt", KindOxum}, {jpg, KindMissing}}},
		{"removed empty payload", func(t *testing.T, dir string) { remove(t, dir, "data/items/03/empty") },
			[]got{{"bag-info.txt", KindOxum}, {"data/items/03/empty", KindMissing}}},
		{"removed tag file", func(t *testing.T, dir string) { remove(t, dir, "README.txt") },
			[]got{{"README.txt", KindMissing}}},
		{"removed bagit.txt", func(t *testing.T, dir string) { remove(t, dir, "bagit.txt") },
			[]got{{"bagit.txt", KindDeclaration}, {"bagit.txt", KindMissing}}},
		{"removed bag-info.txt", func(t *testing.T, dir string) { remove(t, dir, "bag-info.txt") },
			[]got{{"bag-info.txt", KindMissing}}},
		{"removed payload manifest", func(t *testing.T, dir string) { remove(t, dir, "manifest-sha256.txt") },
			[]got{{"manifest-sha256.txt", KindMissing}, {"manifest-sha256.txt", KindStructure}}},
		{"removed tag manifest", func(t *testing.T, dir string) { remove(t, dir, "tagmanifest-sha256.txt") },
			[]got{{"tagmanifest-sha256.txt", KindStructure}}},
		{"removed data/", func(t *testing.T, dir string) { remove(t, dir, "data") },
			[]got{{"bag-info.txt", KindOxum}, {"data", KindStructure}, {"data/items/01/original.jpg", KindMissing},
				{"data/items/02/показания.txt", KindMissing}, {"data/items/03/empty", KindMissing}, {notes, KindMissing}}},
		{"renamed in case", func(t *testing.T, dir string) {
			if err := os.Rename(filepath.Join(dir, jpg), filepath.Join(dir, "data/items/01/ORIGINAL.jpg")); err != nil {
				t.Fatal(err)
			}
		}, []got{{"data/items/01/ORIGINAL.jpg", KindUnlisted}, {jpg, KindMissing}}},

		// Added files.
		{"added payload", func(t *testing.T, dir string) { write(t, dir, "data/items/01/extra.jpg", "x") },
			[]got{{"bag-info.txt", KindOxum}, {"data/items/01/extra.jpg", KindUnlisted}}},
		{"added empty payload", func(t *testing.T, dir string) { write(t, dir, "data/.keep", "") },
			[]got{{"bag-info.txt", KindOxum}, {"data/.keep", KindUnlisted}}},
		{"added root file", func(t *testing.T, dir string) { write(t, dir, "extra.txt", "x") },
			[]got{{"extra.txt", KindUnlisted}}},
		{"added tag directory file", func(t *testing.T, dir string) { write(t, dir, "custody/more.jsonl", "x") },
			[]got{{"custody/more.jsonl", KindUnlisted}}},
		{"added payload, manifests forged, Oxum not", func(t *testing.T, dir string) {
			write(t, dir, "data/planted.jpg", "planted")
			edit(t, dir, "manifest-sha256.txt", func(s string) string { return s + sumLine("planted", "data/planted.jpg") })
		}, []got{{"bag-info.txt", KindOxum}}},

		// Payload-Oxum.
		{"wrong Oxum", func(t *testing.T, dir string) {
			edit(t, dir, "bag-info.txt", func(s string) string { return strings.Replace(s, "Payload-Oxum: 51.4", "Payload-Oxum: 52.4", 1) })
		}, []got{{"bag-info.txt", KindOxum}}},
		{"wrong Oxum count", func(t *testing.T, dir string) {
			edit(t, dir, "bag-info.txt", func(s string) string { return strings.Replace(s, "Payload-Oxum: 51.4", "Payload-Oxum: 51.3", 1) })
		}, []got{{"bag-info.txt", KindOxum}}},
		{"malformed Oxum", func(t *testing.T, dir string) {
			edit(t, dir, "bag-info.txt", func(s string) string { return strings.Replace(s, "Payload-Oxum: 51.4", "Payload-Oxum: 51", 1) })
		}, []got{{"bag-info.txt", KindOxum}}},
		{"repeated Oxum", func(t *testing.T, dir string) {
			edit(t, dir, "bag-info.txt", func(s string) string { return s + "payload-oxum: 51.4\n" })
		}, []got{{"bag-info.txt", KindOxum}}},
		{"no Oxum", func(t *testing.T, dir string) {
			edit(t, dir, "bag-info.txt", func(s string) string { return strings.Replace(s, "Payload-Oxum: 51.4\n", "", 1) })
		}, nil},
		{"malformed bag-info.txt", func(t *testing.T, dir string) {
			edit(t, dir, "bag-info.txt", func(s string) string { return " continuation first\n" + s + "Label:no space\n" })
		}, []got{{"bag-info.txt", KindMalformed}, {"bag-info.txt", KindMalformed}}},

		// bagit.txt.
		{"bagit.txt without space", func(t *testing.T, dir string) {
			edit(t, dir, "bagit.txt", func(s string) string { return strings.Replace(s, ": ", ":", 1) })
		}, []got{{"bagit.txt", KindDeclaration}}},
		{"bagit.txt with a third line", func(t *testing.T, dir string) {
			edit(t, dir, "bagit.txt", func(s string) string { return s + "Extra: x\n" })
		}, []got{{"bagit.txt", KindDeclaration}}},
		{"bagit.txt with one line", func(t *testing.T, dir string) {
			edit(t, dir, "bagit.txt", func(string) string { return "BagIt-Version: 1.0\n" })
		}, []got{{"bagit.txt", KindDeclaration}}},
		{"bagit.txt lines swapped", func(t *testing.T, dir string) {
			edit(t, dir, "bagit.txt", func(string) string { return "Tag-File-Character-Encoding: UTF-8\nBagIt-Version: 1.0\n" })
		}, []got{{"bagit.txt", KindDeclaration}}},
		{"bagit.txt with a BOM", func(t *testing.T, dir string) {
			edit(t, dir, "bagit.txt", func(s string) string { return "\uFEFF" + s })
		}, []got{{"bagit.txt", KindDeclaration}}},
		{"bagit.txt version 0.97", func(t *testing.T, dir string) {
			edit(t, dir, "bagit.txt", func(s string) string { return strings.Replace(s, "1.0", "0.97", 1) })
		}, []got{{"bagit.txt", KindUnsupported}}},
		{"bagit.txt Latin-1", func(t *testing.T, dir string) {
			edit(t, dir, "bagit.txt", func(s string) string { return strings.Replace(s, "UTF-8", "ISO-8859-1", 1) })
		}, []got{{"bagit.txt", KindUnsupported}}},
		{"bagit.txt as RFC 8493's example writes it, CRLF, no final newline", func(t *testing.T, dir string) {
			edit(t, dir, "bagit.txt", func(string) string { return "BagIt-version: 1.0\r\nTag-File-Character-Encoding: utf-8" })
		}, nil},

		// Paths.
		{"traversal", func(t *testing.T, dir string) {
			edit(t, dir, "manifest-sha256.txt", func(s string) string { return s + sumLine("x", "data/../../../etc/passwd") })
		}, []got{{"manifest-sha256.txt", KindPath}}},
		{"traversal in tag manifest", func(t *testing.T, dir string) {
			write(t, dir, "tagmanifest-sha256.txt", readFile(t, filepath.Join(dir, "tagmanifest-sha256.txt"))+sumLine("x", "../outside"))
		}, []got{{"tagmanifest-sha256.txt", KindPath}}},
		{"absolute path", func(t *testing.T, dir string) {
			edit(t, dir, "manifest-sha256.txt", func(s string) string { return s + sumLine("x", "/etc/passwd") })
		}, []got{{"manifest-sha256.txt", KindPath}}},
		{"backslash", func(t *testing.T, dir string) {
			edit(t, dir, "manifest-sha256.txt", func(s string) string { return s + sumLine("x", `data\..\..\x`) })
		}, []got{{"manifest-sha256.txt", KindPath}}},
		{"payload manifest lists a tag file", func(t *testing.T, dir string) {
			edit(t, dir, "manifest-sha256.txt", func(s string) string { return s + sumLine("x", "README.txt") })
		}, []got{{"manifest-sha256.txt", KindPath}}},
		{"tag manifest lists a payload file", func(t *testing.T, dir string) {
			write(t, dir, "tagmanifest-sha256.txt", readFile(t, filepath.Join(dir, "tagmanifest-sha256.txt"))+
				sumLine(testPayload[0].content, jpg))
		}, []got{{"tagmanifest-sha256.txt", KindStructure}}},
		{"tag manifest lists itself", func(t *testing.T, dir string) {
			write(t, dir, "tagmanifest-sha256.txt", readFile(t, filepath.Join(dir, "tagmanifest-sha256.txt"))+
				sumLine("x", "tagmanifest-sha256.txt"))
		}, []got{{"tagmanifest-sha256.txt", KindStructure}}},
		{"bad percent-encoding", func(t *testing.T, dir string) {
			edit(t, dir, "manifest-sha256.txt", func(s string) string { return s + sumLine("x", "data/100%.txt") })
		}, []got{{"manifest-sha256.txt", KindMalformed}}},

		// Links and special files.
		{"payload symlink to outside", func(t *testing.T, dir string) {
			symlink(t, filepath.Join(outside, "original.jpg"), dir, jpg)
		}, []got{{jpg, KindIrregular}, {"bag-info.txt", KindOxum}}},
		{"payload directory symlink to outside", func(t *testing.T, dir string) {
			symlink(t, outside, dir, "data/items")
		}, []got{{"data/items", KindIrregular}, {"bag-info.txt", KindOxum},
			{"data/items/01/original.jpg", KindMissing}, {"data/items/02/показания.txt", KindMissing}, {"data/items/03/empty", KindMissing}}},
		{"relative symlink inside the bag", func(t *testing.T, dir string) {
			symlink(t, "../bagit.txt", dir, "custody/events.jsonl")
		}, []got{{"custody/events.jsonl", KindIrregular}}},
		{"bagit.txt symlink", func(t *testing.T, dir string) {
			write(t, outside, "bagit.txt", declaration)
			symlink(t, filepath.Join(outside, "bagit.txt"), dir, "bagit.txt")
		}, []got{{"bagit.txt", KindIrregular}}},
		{"tag manifest symlink", func(t *testing.T, dir string) {
			symlink(t, "manifest-sha256.txt", dir, "tagmanifest-sha256.txt")
		}, []got{{"tagmanifest-sha256.txt", KindIrregular}}},
		{"dangling symlink added", func(t *testing.T, dir string) {
			symlink(t, "/nonexistent", dir, "data/dangling")
		}, []got{{"data/dangling", KindIrregular}}},

		// Manifest lines.
		{"duplicate payload entry", func(t *testing.T, dir string) {
			edit(t, dir, "manifest-sha256.txt", func(s string) string { return s + sumLine(testPayload[0].content, jpg) })
		}, []got{{jpg, KindDuplicate}}},
		{"duplicate payload entry, other checksum", func(t *testing.T, dir string) {
			edit(t, dir, "manifest-sha256.txt", func(s string) string { return sumLine("other", jpg) + s })
		}, []got{{jpg, KindChecksum}, {jpg, KindDuplicate}}},
		{"duplicate tag entry", func(t *testing.T, dir string) {
			write(t, dir, "tagmanifest-sha256.txt", readFile(t, filepath.Join(dir, "tagmanifest-sha256.txt"))+
				sumLine(testTags[0].content, "README.txt"))
		}, []got{{"README.txt", KindDuplicate}}},
		{"short checksum", func(t *testing.T, dir string) {
			edit(t, dir, "manifest-sha256.txt", func(s string) string { return s + "abcd  data/x\n" })
		}, []got{{"manifest-sha256.txt", KindMalformed}}},
		{"mixed-case checksum", func(t *testing.T, dir string) {
			edit(t, dir, "manifest-sha256.txt", func(s string) string {
				i := strings.IndexAny(s, "abcdef")
				return s[:i] + strings.ToUpper(s[i:i+1]) + s[i+1:]
			})
		}, nil}, // filled in below
		{"line without path", func(t *testing.T, dir string) {
			edit(t, dir, "manifest-sha256.txt", func(s string) string { return s + strings.Repeat("0", 64) + "  \n" })
		}, []got{{"manifest-sha256.txt", KindMalformed}}},
		{"empty line", func(t *testing.T, dir string) {
			edit(t, dir, "manifest-sha256.txt", func(s string) string { return "\n" + s })
		}, []got{{"manifest-sha256.txt", KindMalformed}}},
		{"not UTF-8", func(t *testing.T, dir string) {
			edit(t, dir, "manifest-sha256.txt", func(s string) string { return s + strings.Repeat("0", 64) + "  data/\xff\n" })
		}, []got{{"manifest-sha256.txt", KindMalformed}}},
		{"uppercase checksums, tabs, CRLF", func(t *testing.T, dir string) {
			edit(t, dir, "manifest-sha256.txt", func(s string) string {
				var b strings.Builder
				for l := range strings.Lines(s) {
					sum, p, _ := strings.Cut(strings.TrimSuffix(l, "\n"), "  ")
					b.WriteString(strings.ToUpper(sum) + " \t " + p + "\r\n")
				}
				return b.String()
			})
		}, nil},

		// Other manifests.
		{"correct MD5 manifest", func(t *testing.T, dir string) {
			var b strings.Builder
			for _, p := range testPayload {
				sum := md5.Sum([]byte(p.content))
				formatManifestLine(&b, sum[:], "data/"+p.name)
			}
			write(t, dir, "manifest-md5.txt", b.String())
			edit(t, dir, "tagmanifest-sha256.txt", func(s string) string { return s + sumLine(b.String(), "manifest-md5.txt") })
		}, nil},
		{"wrong MD5 manifest", func(t *testing.T, dir string) {
			var b strings.Builder
			for _, p := range testPayload {
				sum := md5.Sum([]byte(p.content + "x"))
				formatManifestLine(&b, sum[:], "data/"+p.name)
			}
			write(t, dir, "manifest-md5.txt", b.String())
			edit(t, dir, "tagmanifest-sha256.txt", func(s string) string { return s + sumLine(b.String(), "manifest-md5.txt") })
		}, []got{{"data/items/01/original.jpg", KindChecksum}, {"data/items/02/показания.txt", KindChecksum},
			{"data/items/03/empty", KindChecksum}, {notes, KindChecksum}}},
		{"incomplete MD5 manifest", func(t *testing.T, dir string) {
			var b strings.Builder
			sum := md5.Sum([]byte(testPayload[0].content))
			formatManifestLine(&b, sum[:], jpg)
			write(t, dir, "manifest-md5.txt", b.String())
			edit(t, dir, "tagmanifest-sha256.txt", func(s string) string { return s + sumLine(b.String(), "manifest-md5.txt") })
		}, []got{{"data/items/02/показания.txt", KindUnlisted}, {"data/items/03/empty", KindUnlisted}, {notes, KindUnlisted}}},
		{"unknown algorithm", func(t *testing.T, dir string) {
			m := readFile(t, filepath.Join(dir, "manifest-sha256.txt"))
			write(t, dir, "manifest-blake3.txt", m)
			edit(t, dir, "tagmanifest-sha256.txt", func(s string) string { return s + sumLine(m, "manifest-blake3.txt") })
		}, []got{{"manifest-blake3.txt", KindUnsupported}}},
		{"second tag manifest, unlisted file", func(t *testing.T, dir string) {
			write(t, dir, "tagmanifest-sha512.txt", "")
		}, []got{{"README.txt", KindUnlisted}, {"bag-info.txt", KindUnlisted}, {"bagit.txt", KindUnlisted},
			{"custody/events.jsonl", KindUnlisted}, {"manifest-sha256.txt", KindUnlisted}}},

		// fetch.txt.
		{"fetch.txt for a listed file", func(t *testing.T, dir string) {
			f := "https://example.org/x.jpg 23 " + jpg + "\n"
			write(t, dir, "fetch.txt", f)
			edit(t, dir, "tagmanifest-sha256.txt", func(s string) string { return s + sumLine(f, "fetch.txt") })
		}, nil},
		{"fetch.txt for an unlisted file", func(t *testing.T, dir string) {
			f := "https://example.org/x.jpg - data/other.jpg\nhttps://example.org/y 1 README.txt\nnot-a-url 1 data/x\n"
			write(t, dir, "fetch.txt", f)
			edit(t, dir, "tagmanifest-sha256.txt", func(s string) string { return s + sumLine(f, "fetch.txt") })
		}, []got{{"fetch.txt", KindMalformed}, {"fetch.txt", KindStructure}, {"fetch.txt", KindStructure}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := makeBag(t)
			tc.mutate(t, dir)
			want := tc.want
			switch tc.name {
			case "bit in manifest checksum", "mixed-case checksum":
				// The first line is the first payload file in sort order.
				first := "data/" + slices.Sorted(slices.Values(payloadNames()))[0]
				kind := KindChecksum
				if tc.name == "mixed-case checksum" {
					kind = KindMalformed
					want = []got{{"manifest-sha256.txt", kind}, {first, KindUnlisted}}
					break
				}
				want = []got{{first, kind}, {"manifest-sha256.txt", KindChecksum}}
			}
			r, err := Verify(dir)
			if err != nil {
				t.Fatal(err)
			}
			gotP := problems(r)
			cmpGot := func(a, b got) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) }
			slices.SortFunc(gotP, cmpGot)
			want = slices.Clone(want)
			slices.SortFunc(want, cmpGot)
			if !slices.Equal(gotP, want) {
				t.Errorf("problems:\n%s\nwant %v", describe(r), want)
			}
			if r.OK() != (len(want) == 0) {
				t.Errorf("OK() = %v", r.OK())
			}
			for _, p := range r.Problems {
				if p.What == "" || strings.Contains(p.What, dir) {
					t.Errorf("problem %+v has no wording, or names the bag's location", p)
				}
			}
		})
	}
}

func payloadNames() []string {
	var ns []string
	for _, p := range testPayload {
		ns = append(ns, p.name)
	}
	return ns
}

func describe(r *Report) string {
	var b strings.Builder
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  %q %s: %s\n", p.Path, p.Kind, p.What)
	}
	return b.String()
}

// TestVerifyEveryBitFlip flips, one at a time, every bit of every file of a
// small bag, tag manifest included, and checks that Verify notices each.
// With -short it flips the bits of every seventh byte only.
func TestVerifyEveryBitFlip(t *testing.T) {
	dir := makeBag(t)
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	flips := 0
	for _, name := range files {
		orig, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		b := slices.Clone(orig)
		for i := range b {
			if testing.Short() && i%7 != 0 {
				continue
			}
			for bit := range 8 {
				b[i] ^= 1 << bit
				if err := os.WriteFile(name, b, 0o600); err != nil {
					t.Fatal(err)
				}
				r, err := Verify(dir)
				if err != nil {
					t.Fatal(err)
				}
				if r.OK() {
					rel, _ := filepath.Rel(dir, name)
					t.Errorf("flipping bit %d of byte %d of %s went unnoticed", bit, i, rel)
				}
				b[i] ^= 1 << bit
				flips++
			}
		}
		if err := os.WriteFile(name, orig, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := Verify(dir); err != nil || !r.OK() {
		t.Fatalf("restored bag: %+v, %v", r, err)
	}
	t.Logf("%d files, %d flips, all noticed", len(files), flips)
}

func TestVerifyNotADirectory(t *testing.T) {
	if _, err := Verify(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Verify(missing directory) succeeded")
	}
	r, err := Verify(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want := []got{{"bagit.txt", KindDeclaration}, {"data", KindStructure}, {"manifest-sha256.txt", KindStructure}, {"tagmanifest-sha256.txt", KindStructure}}
	if !slices.Equal(problems(r), want) {
		t.Errorf("Verify(empty directory):\n%s", describe(r))
	}
}

// TestVerifyManyDirectories: a bag with more directories than a process
// may hold open at once verifies (directories are not all kept open).
func TestVerifyManyDirectories(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip(err)
	}
	saved := lim
	lim.Cur = 256
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &saved)
	dir := filepath.Join(t.TempDir(), "bag")
	w, err := Create(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 600 {
		if _, _, err := w.AddPayload(fmt.Sprintf("items/%04d/f", i), strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.PayloadFiles != 600 {
		t.Fatalf("report: %+v", rep)
	}
}
