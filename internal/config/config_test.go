package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, args []string, env map[string]string) (*Serve, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c := Register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := Apply(fs, func(k string) string { return env[k] }); err != nil {
		return nil, err
	}
	return c, c.Check()
}

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "corridor.toml")
	os.WriteFile(file, []byte("staff_listen = \"127.0.0.1:9000\"\npublic_listen = \"127.0.0.1:9001\"\nauto_seal = \"1h\"\nsecure_cookies = true\n"), 0o600)

	c, err := parse(t, []string{"--config", file, "--public-listen", "127.0.0.1:7001"},
		map[string]string{"CORRIDOR_STAFF_LISTEN": "127.0.0.1:8000", "CORRIDOR_DATA": "/srv/corridor"})
	if err != nil {
		t.Fatal(err)
	}
	if c.PublicListen != "127.0.0.1:7001" {
		t.Errorf("flag should win: %s", c.PublicListen)
	}
	if c.StaffListen != "127.0.0.1:8000" {
		t.Errorf("env should beat file: %s", c.StaffListen)
	}
	if c.AutoSeal != time.Hour || !c.SecureCookies {
		t.Errorf("file values not applied: %v %v", c.AutoSeal, c.SecureCookies)
	}
	if c.Data != "/srv/corridor" {
		t.Errorf("env data = %s", c.Data)
	}
	if c.SessionIdle != 30*time.Minute {
		t.Errorf("default lost: %v", c.SessionIdle)
	}
}

func TestConfigFileFromEnv(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(file, []byte(`receipt = "words"`), 0o600)
	c, err := parse(t, nil, map[string]string{"CORRIDOR_CONFIG": file})
	if err != nil {
		t.Fatal(err)
	}
	if c.Receipt != "words" {
		t.Errorf("receipt = %s", c.Receipt)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	unknown := filepath.Join(dir, "u.toml")
	os.WriteFile(unknown, []byte(`staf_listen = "x"`), 0o600)
	badType := filepath.Join(dir, "b.toml")
	os.WriteFile(badType, []byte(`auto_seal = "soon"`), 0o600)
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--config", unknown}, nil, "unknown setting"},
		{[]string{"--config", badType}, nil, "auto_seal"},
		{[]string{"--config", filepath.Join(dir, "missing.toml")}, nil, "no such file"},
		{nil, map[string]string{"CORRIDOR_AUTO_SEAL": "x"}, "CORRIDOR_AUTO_SEAL"},
		{[]string{"--receipt", "emoji"}, nil, "digits or words"},
		{[]string{"--onion-location", "abc.onion"}, nil, "onion-location"},
		{[]string{"--log-level", "loud"}, nil, "log-level"},
		{[]string{"--evidence-max-size", "lots"}, nil, "not a size"},
		{[]string{"--evidence-max-size", "0"}, nil, "must be positive"},
		{[]string{"--evidence-max-size", "9999999TiB"}, nil, "not a size"},
		{[]string{"--tsa-url", "tsa.example"}, nil, "tsa-url"},
		{[]string{"--log-origin", "two words"}, nil, "log-origin"},
	} {
		_, err := parse(t, tc.args, tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: err = %v, want %q", tc.args, tc.env, err, tc.want)
		}
	}
}

func TestSize(t *testing.T) {
	for in, want := range map[string]Size{"4GiB": 4 << 30, "500MiB": 500 << 20, "64 KiB": 64 << 10, "123": 123, "7B": 7} {
		var s Size
		if err := s.Set(in); err != nil || s != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, s, err, want)
		}
	}
	c, err := parse(t, []string{"--evidence-max-size", "2GiB"}, nil)
	if err != nil || c.EvidenceMaxSize != 2<<30 {
		t.Fatalf("flag: %v %v", c, err)
	}
	if got := c.EvidenceMaxSize.String(); got != "2GiB" {
		t.Errorf("String = %q", got)
	}
	c, err = parse(t, nil, map[string]string{"CORRIDOR_EVIDENCE_MAX_SIZE": "1MiB"})
	if err != nil || c.EvidenceMaxSize != 1<<20 {
		t.Fatalf("env: %v %v", c, err)
	}
	c, err = parse(t, nil, nil)
	if err != nil || c.EvidenceMaxSize != 4<<30 || !c.EvidenceInAppView {
		t.Fatalf("defaults: %+v %v", c, err)
	}
}
