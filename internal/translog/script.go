package translog

import _ "embed"

// checkpointScript checks a checkpoint's log signature and witness
// cosignatures with nothing but sh and openssl: the recipe that
// docs/transparency-log.md shows and court bags ship, so that anyone can
// check the log without trusting Corridor's code.
//
//go:embed verify-checkpoint.sh
var checkpointScript []byte

// CheckpointScript returns the text of verify-checkpoint.sh.
func CheckpointScript() []byte { return append([]byte(nil), checkpointScript...) }
