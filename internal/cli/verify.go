package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/corridor-org/corridor/internal/courtbag"
)

// errNotVerified makes verify exit 1 after printing its report.
var errNotVerified = errors.New("the bag does not verify: see the problems above")

// verifyCmd checks a court bag offline: no data directory, no network. It
// prints the report and exits 0 only if every check holds. The keys come
// from the bag unless given: a court should give the ones the
// organisation, the witnesses and the timestamp authority publish.
func verifyCmd(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "verify", "[--log-key VKEY] [--witnesses FILE] [--tsa-roots FILE] BAG")
	logKey := fs.String("log-key", "", "the log's verifier `key` as the organisation publishes it (default: the bag's keys/log.vkey)")
	witFile := fs.String("witnesses", "", "`file` of the witnesses' keys, in the form of the bag's keys/witnesses.txt (default: that file)")
	rootsFile := fs.String("tsa-roots", "", "PEM `file` of the timestamp authority's root certificates (default: the bag's keys/tsa-roots.pem)")
	rest, err := parseArgs(fs, args, 1)
	if err != nil {
		return err
	}
	trust := courtbag.Trust{LogKey: *logKey}
	if *witFile != "" {
		b, err := os.ReadFile(*witFile)
		if err != nil {
			return err
		}
		w, err := courtbag.ParseWitnesses(b)
		if err != nil {
			return fmt.Errorf("%s: %w", *witFile, err)
		}
		trust.Witnesses = &w
	}
	if *rootsFile != "" {
		if trust.TSARoots, err = os.ReadFile(*rootsFile); err != nil {
			return err
		}
	}
	r, err := courtbag.Verify(rest[0], trust)
	if err != nil {
		return err
	}
	r.Write(env.Stdout, rest[0])
	if !r.OK() {
		return errNotVerified
	}
	return nil
}
