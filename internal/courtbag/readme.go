package courtbag

import (
	"bytes"
	"strings"
	"text/template"
	"time"
)

// readmeData fills the README template.
type readmeData struct {
	Organisation string
	Date         string
	Items        int
	Originals    int
	Destroyed    int
	Events       int
	LogKey       string
	Witnesses    []string
	Required     int
	Latest       uint64
	Checkpoints  int
	StampSize    uint64 // a timestamped checkpoint's size; 0 for none
	ExampleID    string // an item with its original
	ExampleFile  string
}

// readmeText is the README in every bag. It addresses a court clerk or an
// expert who has never heard of Corridor, and uses the bag's own names and
// numbers in its commands so that they can be run as they are.
var readmeText = template.Must(template.New("README").Parse(`EVIDENCE EXPORTED FOR A COURT: WHAT THIS FOLDER IS AND HOW TO CHECK IT
=====================================================================

Exported {{if .Organisation}}by {{.Organisation}} {{end}}on {{.Date}} (UTC) with Corridor, an evidence
vault that records everything done to each item in a public, append-only
transparency log.

This folder holds {{.Items}} evidence item(s): {{.Originals}} with the original file exactly as it
was received, and {{.Destroyed}} destroyed item(s), of which only the custody trail is left.
For each item it holds the custody trail - every event that happened to the
item: received ("ingested"), viewed, copied ("working_copy"), downloaded,
exported, consent changed, destroyed - {{.Events}} event(s) in all, and for
each event a receipt proving that it was recorded in the organisation's
public transparency log. The log's checkpoints (signed statements of what the
log holds) were {{if .Witnesses}}cosigned by independent witnesses{{else}}signed by the log's key; no
independent witness was configured to cosign them{{end}}{{if .StampSize}}, and timestamped by a
timestamp authority{{end}}.

Anyone can check all of this with standard tools (a POSIX shell, sha256sum,
openssl) without trusting Corridor or the organisation - except for the
public keys in step 0, which must be obtained independently. The command
"corridor verify <this folder>" runs every check below at once and prints a
report.

The folder is a BagIt bag (RFC 8493). In the commands below, run from this
folder, ID stands for an item's id (a directory under data/items/), N for an
event's number and S for a checkpoint's size.

  data/items/ID/record.json            the item: SHA-256, salt, commitment,
                                       size, type, capture metadata, consent
  data/items/ID/original.*             the original file (absent if destroyed)
  data/items/ID/N.event                event N of the item, exactly as logged
  data/items/ID/N.tlog-proof           its receipt from the log
  data/log/checkpoints/S.checkpoint    a checkpoint of the log, S entries
  data/log/checkpoints/S.consistency   proof that the latest checkpoint
                                       extends checkpoint S
{{- if .StampSize}}
  data/log/checkpoints/S.tst           timestamp token over S.checkpoint
{{- end}}
  keys/                                the public keys it all rests on
  tools/verify-checkpoint.sh           checks a checkpoint's signatures


0. THE KEYS EVERYTHING RESTS ON

  keys/log.vkey        the log's public key:
                       {{.LogKey}}
  keys/witnesses.txt   the witnesses' public keys, and how many of them must
                       have cosigned each checkpoint ({{.Required}} of {{len .Witnesses}})
{{- range .Witnesses}}
                       {{.}}
{{- else}}
                       (none: no witness was configured)
{{- end}}
{{- if .StampSize}}
  keys/tsa-roots.pem   the timestamp authority's root certificate(s)
{{- end}}

Compare them with the keys the organisation publishes (its log serves its key
at /log/key){{if .Witnesses}}, with those each witness publishes (witnesses are run by
other organisations){{end}}{{if .StampSize}} and with the timestamp authority's own root
certificate{{end}}. What is signed with other keys proves nothing.


1. NO FILE WAS CHANGED, ADDED OR REMOVED SINCE THE EXPORT

  sha256sum -c manifest-sha256.txt
  sha256sum -c tagmanifest-sha256.txt

Every line must end in "OK". Then check that no file was added:

  find data -type f | sort > /tmp/files
  cut -c67- manifest-sha256.txt | sort | diff - /tmp/files

must print nothing.


2. EACH ORIGINAL IS THE ITEM THE LOG SPEAKS OF

The log never holds evidence, only a salted commitment to it:
commitment = SHA-256(salt followed by SHA-256(original)). record.json gives
the original's SHA-256 ("sha256"), the salt and the commitment. Nobody can
test a guessed file against the public log without the salt; with it, anyone
can recompute the commitment.
{{- if .ExampleID}} For item {{.ExampleID}}:

  sha256sum data/items/{{.ExampleID}}/{{.ExampleFile}}
      must equal "sha256" in data/items/{{.ExampleID}}/record.json
  printf '%s%s' SALT SHA256 | xxd -r -p | sha256sum
      (SALT and SHA256 copied from record.json) must equal "commitment"
  grep '^commitment' data/items/{{.ExampleID}}/*.event
      every event must carry that same commitment
{{- end}}


3. THE CUSTODY TRAIL IS COMPLETE AND IN ORDER

data/items/ID/N.event is the item's event N, numbered from 1: nine
lines, "corridor.custody/v1" then type, item, seq, time (UTC), commitment,
prev, actor and consent. Each event names the SHA-256 of the event before it
in its "prev" line (64 zeros for the first), so no event can be removed,
added, changed or moved without breaking the chain:

  sha256sum data/items/ID/1.event    must equal "prev" in 2.event
  sha256sum data/items/ID/2.event    must equal "prev" in 3.event ...

The first event is "ingested". An item exported with its original has no
"destroyed" event, and its last event is this export; a destroyed item has no
original and its trail ends with "destroyed". "consent" is the item's consent
after the event (none, court, public_anonymised); record.json repeats the
history. "actor" is a salted commitment to who acted, which the organisation's
evidence custodians can open.


4. EACH EVENT IS IN THE PUBLIC LOG

data/items/ID/N.tlog-proof is the event's receipt in the C2SP
tlog-proof format (https://c2sp.org/tlog-proof): the event's position
("index") in the log, the hashes that connect it to the log's Merkle tree
(RFC 6962), and the checkpoint it is proven against - the same bytes as one
of the files data/log/checkpoints/S.checkpoint. Any tlog-proof verifier
checks it, for example spicy (https://github.com/FiloSottile/torchwood):

  mkdir /tmp/check
  cp data/items/ID/N.event /tmp/check/event
  tail -n +2 data/items/ID/N.tlog-proof > /tmp/check/event.spicy
  spicy -verify "$(cat keys/log.vkey)" /tmp/check/event


5. THE CHECKPOINTS ARE SIGNED BY THE LOG{{if .Witnesses}} AND COSIGNED BY THE WITNESSES{{end}}

A checkpoint (C2SP tlog-checkpoint) names the log, its size (number of
entries) and its root hash, followed by signature lines: the log's{{if .Witnesses}} and each
witness's{{end}}. tools/verify-checkpoint.sh checks them with sh and openssl 3:

  sh tools/verify-checkpoint.sh data/log/checkpoints/{{.Latest}}.checkpoint \
    "$(cat keys/log.vkey)" $(sed -n 's/^witness //p' keys/witnesses.txt)

It must say OK for the log{{if .Witnesses}} and for each witness, and prints the time each
witness saw the checkpoint{{end}}. Do the same for each of the {{.Checkpoints}} checkpoint(s).
{{- if .Witnesses}}
At least {{.Required}} witness cosignature(s) are required on each.
{{- else}}
Without witnesses, the checkpoints rest on the log's key alone: whoever held
it could have signed a different history. Ask the organisation whether others
kept copies of its checkpoints.
{{- end}}


6. THE LOG NEVER SHOWED TWO DIFFERENT HISTORIES

The latest checkpoint here is of size {{.Latest}}. For every other checkpoint S,
data/log/checkpoints/S.consistency holds an RFC 6962 consistency proof (after
three header lines, one base64 hash a line) that the log of size {{.Latest}}
extends the log of size S: nothing in between was removed or changed. A
checkpoint that forked from the history the witnesses saw fails this check.
Merkle-tree libraries check such proofs (for example
github.com/transparency-dev/merkle); "corridor verify" does.


7. WHEN
{{if .StampSize}}
data/log/checkpoints/S.tst is an RFC 3161 timestamp token over the exact
bytes of S.checkpoint. Every event proven against that checkpoint was in the
log by the time the token states:

  openssl ts -verify -token_in -in data/log/checkpoints/{{.StampSize}}.tst \
    -data data/log/checkpoints/{{.StampSize}}.checkpoint -CAfile keys/tsa-roots.pem
      must print "Verification: OK"
  openssl ts -reply -token_in -in data/log/checkpoints/{{.StampSize}}.tst -text
      shows the time ("Time stamp:")

Events proven against a checkpoint without a token (the latest ones, often
this export itself) are not timestamped here{{if .Witnesses}}; they were logged by the time
the witnesses cosigned that checkpoint{{end}}.
{{else}}
This bag holds no timestamp token: no timestamp authority had stamped the
checkpoints it uses. {{if .Witnesses}}The witnesses' cosignatures state when each witness saw
each checkpoint (step 5); the{{else}}The{{end}} times inside the events are the organisation's.
{{end}}

8. WHAT THIS DOES NOT PROVE

The log proves that each event was recorded, in this order, and not changed
afterwards, and that the original is the file the log committed to when it
was received. It cannot prove that an event was true when it was recorded or
who made the original: that rests on the organisation's procedures and on
the evidence itself. The capture metadata in record.json (time, place,
camera) was read from the original when it was received; it can be read from
the original again with any metadata tool. The file name the original had
when it was sent is not exported: it may name people.
`))

// readme writes the bag's README.
func (x *exporter) readme() []byte {
	d := readmeData{
		Organisation: x.o.Organisation, Date: time.Now().UTC().Format(time.DateOnly),
		Items: x.sum.Items, Originals: x.sum.Originals, Destroyed: x.sum.Destroyed, Events: x.sum.Events,
		LogKey: x.o.Keys.LogKey, Witnesses: x.o.Keys.Witnesses.Keys, Required: x.o.Keys.Witnesses.Required,
		Latest: x.sum.Latest, Checkpoints: x.sum.Checkpoints,
	}
	for s, c := range x.cps {
		if c.token != nil && (d.StampSize == 0 || s < d.StampSize) {
			d.StampSize = s
		}
	}
	for _, it := range x.o.Items {
		if rec := x.records[it.ID]; rec != nil {
			d.ExampleID, d.ExampleFile = it.ID, originalBase+extension(rec.SniffedType)
			break
		}
	}
	return renderReadme(d)
}

func renderReadme(d readmeData) []byte {
	var b bytes.Buffer
	if err := readmeText.Execute(&b, d); err != nil {
		panic("courtbag: README template: " + err.Error()) // the template and its data are fixed
	}
	// Organisation names come from the command line: keep the text plain.
	return []byte(strings.ToValidUTF8(b.String(), "\uFFFD"))
}

// exampleReadme is the README docs/export-format.md shows.
var exampleReadme = readmeData{
	Organisation: "Example Organisation", Date: "2026-03-01",
	Items: 3, Originals: 2, Destroyed: 1, Events: 9,
	LogKey:      "evidence.example.org/log+7c2a9f31+AR5tbG1m9H8NCRs4SRbBf3tgZQ0Xo4ZXuNp6FpsIi6DR",
	Witnesses:   []string{"witness.partner.example/w1+0c0d1522+BCBedEPFRSK20KX87d3lLGzW92msJuV6IXVFPwkHIZx6"},
	Required:    1,
	Latest:      1301,
	Checkpoints: 2,
	StampSize:   1281,
	ExampleID:   "v3l7xq2k4c5m6n7p8r9s2t3u4",
	ExampleFile: "original.jpg",
}
