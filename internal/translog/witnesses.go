package translog

import (
	"errors"
	"fmt"

	"github.com/BurntSushi/toml"
)

// witnessFile is the TOML witnesses file (--witnesses): how many must
// cosign, then one [[witness]] table per witness.
type witnessFile struct {
	Required *int `toml:"required"`
	Witness  []struct {
		Name string `toml:"name"`
		Key  string `toml:"key"`
		URL  string `toml:"url"`
	} `toml:"witness"`
}

// ParseWitnesses reads a witnesses file:
//
//	required = 1  # how many of the witnesses below must cosign
//
//	[[witness]]
//	name = "witness.partner.example/w1"              # the key's name
//	key  = "witness.partner.example/w1+1a2b3c4d+B…"  # its vkey
//	url  = "https://witness.partner.example/"        # submission prefix
//
// It checks every entry as Open would and returns the witnesses and the
// number required, ready for Config.Witnesses and WitnessesRequired.
func ParseWitnesses(data []byte) ([]Witness, int, error) {
	var f witnessFile
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return nil, 0, fmt.Errorf("translog: witnesses file: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, 0, fmt.Errorf("translog: witnesses file: unknown setting %q", und[0].String())
	}
	if f.Required == nil {
		return nil, 0, errors.New("translog: witnesses file: set required (0 to publish checkpoints whatever the witnesses answer)")
	}
	ws := make([]Witness, 0, len(f.Witness))
	seen := map[string]bool{}
	for i, w := range f.Witness {
		if w.Name == "" || w.Key == "" || w.URL == "" {
			return nil, 0, fmt.Errorf("translog: witnesses file: witness %d needs name, key and url", i+1)
		}
		if seen[w.Name] {
			return nil, 0, fmt.Errorf("translog: witnesses file: witness %q listed twice", w.Name)
		}
		seen[w.Name] = true
		ws = append(ws, Witness{Name: w.Name, VerifierKey: w.Key, URL: w.URL})
	}
	if *f.Required < 0 || *f.Required > len(ws) {
		return nil, 0, fmt.Errorf("translog: witnesses file: %d required of %d witnesses", *f.Required, len(ws))
	}
	if len(ws) > 0 {
		// The same checks as Open, so that a bad file fails when read.
		if _, err := witnessGroup(ws, *f.Required); err != nil {
			return nil, 0, err
		}
	}
	return ws, *f.Required, nil
}
