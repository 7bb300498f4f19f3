// Package config reads Corridor's settings from, in rising precedence:
// built-in defaults, an optional TOML file, CORRIDOR_* environment
// variables, and command-line flags. docs/configuration.md lists them.
package config

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
)

// Serve holds the settings of `corridor serve`.
type Serve struct {
	Data           string
	StaffListen    string
	PublicListen   string
	Form           string
	Workflow       string
	Receipt        string
	AutoSeal       time.Duration
	SessionIdle    time.Duration
	PersonIdle     time.Duration
	OnionLocation  string
	SecureCookies  bool
	QuickExitURL   string
	LogLevel       string
	LogFormat      string
	PassphraseFile string
	Config         string
	DatabaseURL    string
	TOTPIssuer     string
	AlertNoContact time.Duration
	AlertResponse  time.Duration

	// Evidence vault and transparency log.
	EvidenceMaxSize   Size
	PersonQuota       Size
	EvidenceInAppView bool
	UploadExpiry      time.Duration
	LogOrigin         string
	Witnesses         string
	TSAURL            string
	TSARoots          string

	// Public statistics.
	Stats string
}

// Register declares every setting on fs and returns the struct they fill.
func Register(fs *flag.FlagSet) *Serve {
	c := &Serve{}
	fs.StringVar(&c.Config, "config", "", "TOML configuration `file` (env CORRIDOR_CONFIG)")
	fs.StringVar(&c.Data, "data", "corridor-data", "data `directory` (database, keys, blobs)")
	fs.StringVar(&c.StaffListen, "staff-listen", "127.0.0.1:8080", "staff site listen `address` (keep private: VPN or authenticated onion service)")
	fs.StringVar(&c.PublicListen, "public-listen", "127.0.0.1:8081", "public site listen `address` (intake; put an onion service in front)")
	fs.StringVar(&c.Form, "form", "", "request form definition `file` (TOML); empty uses the built-in form")
	fs.StringVar(&c.Workflow, "workflow", "", "case workflow definition `file` (TOML: stages, moves, requirements, close reasons); empty uses the built-in workflow")
	fs.StringVar(&c.Receipt, "receipt", "digits", "receipt style: digits (16 digits, looks like a phone number) or words (6 diceware words)")
	fs.DurationVar(&c.AutoSeal, "auto-seal", 8*time.Hour, "seal the server after this much staff inactivity (0 disables)")
	fs.DurationVar(&c.SessionIdle, "session-idle", 30*time.Minute, "log staff out after this much inactivity")
	fs.DurationVar(&c.PersonIdle, "person-idle", 15*time.Minute, "forget a person's return-page session after this much inactivity")
	fs.DurationVar(&c.AlertNoContact, "alert-no-contact", 7*24*time.Hour, "alert on an open case nobody has been in contact with for this long")
	fs.DurationVar(&c.AlertResponse, "alert-response", time.Hour, "alert on an immediate-danger case or request without contact or reply for this long")
	fs.StringVar(&c.OnionLocation, "onion-location", "", "advertise this onion `origin` (http://….onion) in an Onion-Location header on public pages")
	fs.BoolVar(&c.SecureCookies, "secure-cookies", false, "mark cookies Secure (set when served over HTTPS)")
	fs.StringVar(&c.QuickExitURL, "quick-exit-url", "https://www.wikipedia.org/", "where the public site's quick-exit button leads")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "text or json")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL `URL` (postgres://…); empty uses SQLite in the data directory")
	fs.StringVar(&c.TOTPIssuer, "totp-issuer", "Corridor", "name authenticator apps show for staff accounts (pick something innocuous where staff phones may be searched)")
	c.EvidenceMaxSize = 4 << 30
	fs.Var(&c.EvidenceMaxSize, "evidence-max-size", "largest evidence file accepted (`size`, e.g. 4GiB, 500MiB)")
	fs.Var(&c.PersonQuota, "evidence-person-quota", "most a person may upload to one request, all files together (`size`; 0 = twice --evidence-max-size)")
	fs.BoolVar(&c.EvidenceInAppView, "evidence-in-app-view", true, "also seal evidence to the vault's own key so staff can view working copies in the staff site (false: only custodians' offline keys open items)")
	fs.DurationVar(&c.UploadExpiry, "upload-expiry", 24*time.Hour, "delete unfinished resumable uploads after this long")
	fs.StringVar(&c.LogOrigin, "log-origin", "", "origin line of the transparency log's checkpoints, e.g. evidence.example.org/log (empty: corridor.invalid/ followed by this installation's log key hash)")
	fs.StringVar(&c.Witnesses, "witnesses", "", "TOML `file` listing the transparency log's witnesses and how many must cosign")
	fs.StringVar(&c.TSAURL, "tsa-url", "", "RFC 3161 timestamp authority `URL` that timestamps each checkpoint (empty: no timestamps)")
	fs.StringVar(&c.TSARoots, "tsa-roots", "", "PEM `file` of the timestamp authority's root certificates, to check each token on receipt")
	fs.StringVar(&c.Stats, "stats", "", "statistics definition `file` (TOML: violation types, perpetrators, regions, threshold, noise); empty uses the built-in one")
	fs.StringVar(&c.PassphraseFile, "passphrase-file", "", "read the unseal passphrase from this `file` and unseal at start (env CORRIDOR_PASSPHRASE_FILE)")
	return c
}

// EnvName is the environment variable for a flag name.
func EnvName(flagName string) string {
	return "CORRIDOR_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Apply fills every flag not given on the command line from the
// environment, then from the configuration file. It must run after
// fs.Parse. getenv is os.Getenv outside tests.
func Apply(fs *flag.FlagSet, getenv func(string) string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, name := range names(fs) {
		if set[name] {
			continue
		}
		if v := getenv(EnvName(name)); v != "" {
			if err := fs.Set(name, v); err != nil {
				return fmt.Errorf("config: %s: %w", EnvName(name), err)
			}
			set[name] = true
		}
	}
	cf := fs.Lookup("config")
	if cf == nil || cf.Value.String() == "" {
		return nil
	}
	file, err := readFile(cf.Value.String())
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(file))
	for k := range file {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := strings.ReplaceAll(k, "_", "-")
		if fs.Lookup(name) == nil || name == "config" {
			return fmt.Errorf("config: %s: unknown setting %q", cf.Value.String(), k)
		}
		if set[name] {
			continue
		}
		if err := fs.Set(name, file[k]); err != nil {
			return fmt.Errorf("config: %s: %s: %w", cf.Value.String(), k, err)
		}
	}
	return nil
}

func names(fs *flag.FlagSet) []string {
	var out []string
	fs.VisitAll(func(f *flag.Flag) { out = append(out, f.Name) })
	return out
}

func readFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	out := map[string]string{}
	for k, v := range raw {
		switch v := v.(type) {
		case string:
			out[k] = v
		case bool, int64, float64:
			out[k] = fmt.Sprint(v)
		default:
			return nil, fmt.Errorf("config: %s: %s: expected a string, number or boolean", path, k)
		}
	}
	return out, nil
}

// Check validates values that flag parsing cannot.
func (c *Serve) Check() error {
	var errs []error
	if c.Data == "" {
		errs = append(errs, errors.New("--data must not be empty"))
	}
	if c.Receipt != "digits" && c.Receipt != "words" {
		errs = append(errs, fmt.Errorf("--receipt must be digits or words, not %q", c.Receipt))
	}
	if c.AutoSeal < 0 || c.SessionIdle <= 0 || c.PersonIdle <= 0 {
		errs = append(errs, errors.New("durations must be positive (auto-seal may be 0)"))
	}
	if c.AlertNoContact <= 0 || c.AlertResponse <= 0 {
		errs = append(errs, errors.New("--alert-no-contact and --alert-response must be positive"))
	}
	if c.OnionLocation != "" && !strings.HasPrefix(c.OnionLocation, "http://") && !strings.HasPrefix(c.OnionLocation, "https://") {
		errs = append(errs, errors.New("--onion-location must start with http:// or https://"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q is not one of debug, info, warn, error", c.LogLevel))
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		errs = append(errs, errors.New("--database-url must be a postgres:// URL"))
	}
	if strings.TrimSpace(c.TOTPIssuer) == "" || strings.Contains(c.TOTPIssuer, ":") {
		errs = append(errs, errors.New("--totp-issuer must be non-empty and contain no colon"))
	}
	if c.PersonQuota < 0 {
		errs = append(errs, errors.New("--evidence-person-quota must not be negative"))
	}
	if c.EvidenceMaxSize <= 0 {
		errs = append(errs, errors.New("--evidence-max-size must be positive"))
	}
	if c.UploadExpiry <= 0 {
		errs = append(errs, errors.New("--upload-expiry must be positive"))
	}
	if c.TSAURL != "" && !strings.HasPrefix(c.TSAURL, "http://") && !strings.HasPrefix(c.TSAURL, "https://") {
		errs = append(errs, errors.New("--tsa-url must be an http:// or https:// URL"))
	}
	if c.LogOrigin != "" && (strings.ContainsAny(c.LogOrigin, " \n\t+") || !utf8.ValidString(c.LogOrigin)) {
		errs = append(errs, errors.New("--log-origin must be one word with no spaces or '+'"))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format must be text or json"))
	}
	return errors.Join(errs...)
}

// Size is a byte count written with an optional binary unit: 4GiB,
// 500MiB, 64KiB or a plain number of bytes.
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

func (s *Size) String() string {
	for _, u := range sizeUnits {
		if *s != 0 && int64(*s)%u.mult == 0 {
			return strconv.FormatInt(int64(*s)/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(*s), 10)
}

func (s *Size) Set(v string) error {
	v = strings.TrimSpace(v)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return fmt.Errorf("%q is not a size (use e.g. 4GiB, 500MiB or a number of bytes)", v)
	}
	*s = Size(n * mult)
	return nil
}
