package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Canaries stand for what must never reach a log: a name, a message, an
// address. Latin and Cyrillic, because JSON and text handlers escape them
// differently.
const (
	canary   = "CANARY-xyzzy"
	canaryRU = "КАНАРЕЙКА-щука"
)

// fragments are the parts of the canaries to look for, so that a handler
// that escapes or quotes them differently is still caught.
var fragments = []string{"CANARY", "xyzzy", "КАНАРЕЙКА", "щука", `\u041a`, `\u0449`}

func assertClean(t *testing.T, out string) {
	t.Helper()
	for _, f := range fragments {
		if strings.Contains(out, f) {
			t.Errorf("output contains %q:\n%s", f, out)
		}
	}
}

type stringer struct{}

func (stringer) String() string { return canary }

type valuer struct{ v slog.Value }

func (v valuer) LogValue() slog.Value { return v.v }

type person struct {
	Name    string
	Address string
}

// safeErr is an error whose author vouches for LogSafe.
type safeErr struct{ input string }

func (e *safeErr) Error() string   { return "bad input " + e.input }
func (e *safeErr) LogSafe() string { return "bad input (code 7)" }

type customErr struct{ detail string }

func (e customErr) Error() string { return e.detail }

// nilSafe panics in LogSafe when nil, as careless implementations do.
type nilSafe struct{ msg string }

func (e *nilSafe) Error() string   { return e.msg }
func (e *nilSafe) LogSafe() string { return e.msg }

// leaky lists attributes of every kind with canaries in them, under keys
// the default policy does not allow, or allows for another kind.
func leaky() []any {
	return []any{
		slog.String("name", canary),
		slog.String("name_ru", canaryRU),
		slog.Any("person", person{Name: canary, Address: canaryRU}),
		slog.Any("ptr", &person{Name: canary}),
		slog.Any("bytes", []byte(canary)),
		slog.Any("map", map[string]string{canary: canaryRU}),
		slog.Any("slice", []string{canary, canaryRU}),
		slog.Any("stringer", stringer{}),
		slog.Any("valuer", valuer{slog.StringValue(canaryRU)}),
		slog.Any("valuer_group", valuer{slog.GroupValue(slog.String("inner", canary))}),
		slog.Group("g1", slog.String("a", canary), slog.Group("g2", slog.String("b", canaryRU), slog.Group("g3", slog.Any("c", person{Name: canary})))),
		slog.Group("", slog.String("inlined", canary)),
		// Allowed keys, wrong kind.
		slog.String("status", canary),         // a number key with a string
		slog.Any("count", stringer{}),         // a number key with a Stringer
		slog.Any("bytes", []byte(canaryRU)),   // a number key with bytes
		slog.Any("route", errors.New(canary)), // a string key with an error
		slog.String("err", canary),            // an error key with a string
		slog.Any("err", fmt.Sprint(canaryRU)), // an error key with a string in Any
		slog.Any("status", valuer{slog.StringValue(canary)}),
		// Errors.
		slog.Any("err", errors.New(canary)),
		slog.Any("err", fmt.Errorf("saving %s: %w", canaryRU, errors.New(canary))),
		slog.Any("err", errors.Join(errors.New(canary), errors.New(canaryRU))),
		slog.Any("err", &fs.PathError{Op: "open", Path: "/data/" + canary, Err: syscall.ENOENT}),
		slog.Any("err", customErr{canaryRU}),
		slog.Any("err", fmt.Errorf("wrapped %s: %w", canary, &safeErr{input: canaryRU})),
		slog.Any("err", (*nilSafe)(nil)),
		slog.Any("other_err", &safeErr{input: canary}),
		slog.Any("error", errors.New(canary)),
		// Bad keys.
		slog.String(canaryRU, "x"),
		slog.String("key with "+canary, "x"),
		slog.Int(canaryRU, 1),
	}
}

func handlers(buf *bytes.Buffer) map[string]slog.Handler {
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	return map[string]slog.Handler{
		"json": slog.NewJSONHandler(buf, opts),
		"text": slog.NewTextHandler(buf, opts),
	}
}

func TestCanariesNeverLogged(t *testing.T) {
	var buf bytes.Buffer
	for name, inner := range handlers(&buf) {
		t.Run(name, func(t *testing.T) {
			buf.Reset()
			l := slog.New(NewRedactingHandler(inner, DefaultPolicy()))
			l.Info("request", leaky()...)
			l.With(leaky()...).Warn("with attrs")
			l.WithGroup("grp").With(leaky()...).WithGroup(canaryRU).Error("groups", leaky()...)
			l.WithGroup("http").Info("nested group", "status", canary)
			l.LogAttrs(context.Background(), slog.LevelDebug, "attrs", slog.String("name", canary))
			// Odd argument lists, which vet would flag if written out: slog
			// turns the stray value into a !BADKEY attribute.
			odd := []any{canary}
			l.Info("odd arguments", odd...)
			odd = []any{"x", 1, canaryRU}
			l.Info("odd arguments 2", odd...)
			out := buf.String()
			assertClean(t, out)
			for _, want := range []string{"request", "with attrs", "groups", "nested group", "attrs", "odd arguments", Redacted, badKey} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q", want)
				}
			}
			if n := strings.Count(out, "\n"); n != 7 {
				t.Errorf("%d lines, want 7", n)
			}
		})
	}
}

func TestAllowedValuesPass(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(NewRedactingHandler(slog.NewJSONHandler(&buf, nil), DefaultPolicy()))
	at := time.Date(2017, 4, 1, 12, 0, 0, 0, time.UTC)
	l.Info("served",
		slog.Int("status", 404),
		slog.Duration("duration", 1500*time.Millisecond),
		slog.Int64("bytes", 1<<40),
		slog.Uint64("count", 7),
		slog.Float64("seq", 2.5),
		slog.Bool("user_id", true),
		slog.Time("count", at),
		slog.String("route", "GET /r/{id}"),
		slog.String("component", "web"),
		slog.Int("version", 3), // a number under a string key passes
		slog.Any("err", &safeErr{input: canary}),
		slog.Any("name", 5), // not allowed at all
	)
	assertClean(t, buf.String())
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"msg":       "served",
		"status":    float64(404),
		"duration":  float64(1500 * time.Millisecond),
		"bytes":     float64(1 << 40),
		"count":     "2017-04-01T12:00:00Z", // the later "count" wins in a map
		"seq":       2.5,
		"user_id":   true,
		"route":     "GET /r/{id}",
		"component": "web",
		"version":   float64(3),
		"err":       "bad input (code 7)",
		"name":      Redacted,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
}

func TestGroupQualifiedKeys(t *testing.T) {
	p := Policy{Numbers: []string{"http.status", "a.b.c"}, Strings: []string{"http.route"}}
	tests := []struct {
		name string
		log  func(l *slog.Logger)
		want string // JSON line, without time and level
	}{
		{"WithGroup", func(l *slog.Logger) { l.WithGroup("http").Info("m", "status", 200, "other", 1) },
			`{"msg":"m","http":{"status":200,"other":"[redacted]"}}`},
		{"Group attr", func(l *slog.Logger) { l.Info("m", slog.Group("http", "status", 201, "route", "/x")) },
			`{"msg":"m","http":{"status":201,"route":"/x"}}`},
		{"top level not qualified", func(l *slog.Logger) { l.Info("m", "status", 202, "route", "/y") },
			`{"msg":"m","status":"[redacted]","route":"[redacted]"}`},
		{"nested", func(l *slog.Logger) { l.WithGroup("a").Info("m", slog.Group("b", "c", 3, "d", 4)) },
			`{"msg":"m","a":{"b":{"c":3,"d":"[redacted]"}}}`},
		{"WithAttrs in group", func(l *slog.Logger) { l.WithGroup("a").WithGroup("b").With("c", 5).Info("m") },
			`{"msg":"m","a":{"b":{"c":5}}}`},
		{"inlined group keeps prefix", func(l *slog.Logger) { l.WithGroup("http").Info("m", slog.Group("", "status", 204)) },
			`{"msg":"m","http":{"status":204}}`},
		{"wrong group", func(l *slog.Logger) { l.WithGroup("tcp").Info("m", "status", 205) },
			`{"msg":"m","tcp":{"status":"[redacted]"}}`},
		{"empty WithGroup", func(l *slog.Logger) { l.WithGroup("").Info("m", "status", 206) },
			`{"msg":"m","status":"[redacted]"}`},
		{"valuer group", func(l *slog.Logger) {
			l.Info("m", slog.Any("http", valuer{slog.GroupValue(slog.Int("status", 207), slog.String("q", canary))}))
		}, `{"msg":"m","http":{"status":207,"q":"[redacted]"}}`},
		{"bad group name", func(l *slog.Logger) { l.WithGroup("http status").Info("m", "x", 1) },
			`{"msg":"m","!badkey":{"x":"[redacted]"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			inner := slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: dropTimeLevel})
			tt.log(slog.New(NewRedactingHandler(inner, p)))
			if got := strings.TrimSpace(buf.String()); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func dropTimeLevel(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
		return slog.Attr{}
	}
	return a
}

func TestErrors(t *testing.T) {
	p := Policy{Errors: []string{"err"}}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"plain", errors.New(canary), "[redacted *errors.errorString]"},
		{"wrapped", fmt.Errorf("x %s: %w", canary, customErr{canaryRU}), "[redacted logging.customErr]"},
		{"root cause", &fs.PathError{Op: "open", Path: canary, Err: syscall.ENOENT}, "[redacted syscall.Errno]"},
		{"joined", errors.Join(errors.New(canary)), "[redacted *errors.joinError]"},
		{"log-safe", &safeErr{canary}, "bad input (code 7)"},
		{"log-safe wrapped", fmt.Errorf("%s: %w", canary, &safeErr{canary}), "bad input (code 7)"},
		{"log-safe panics", fmt.Errorf("%s: %w", canary, (*nilSafe)(nil)), Redacted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			slog.New(NewRedactingHandler(slog.NewJSONHandler(&buf, nil), p)).Error("failed", "err", tt.err, "other", tt.err)
			assertClean(t, buf.String())
			var got map[string]any
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got["err"] != tt.want {
				t.Errorf("err = %q, want %q", got["err"], tt.want)
			}
			if got["other"] != Redacted {
				t.Errorf("other = %q, want %q (key not allowed)", got["other"], Redacted)
			}
		})
	}
}

func TestMessageAndLevelKept(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, slog.LevelWarn, false)
	l.Info("hidden")
	l.Warn("shown", "name", canary)
	out := buf.String()
	assertClean(t, out)
	if strings.Contains(out, "hidden") || !strings.Contains(out, "level=WARN msg=shown name="+Redacted) {
		t.Errorf("output %q", out)
	}
	if !l.Enabled(context.Background(), slog.LevelError) || l.Enabled(context.Background(), slog.LevelInfo) {
		t.Error("Enabled does not follow the inner handler's level")
	}
}

func TestNew(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		var buf bytes.Buffer
		l := New(&buf, slog.LevelInfo, asJSON)
		l.Info("listening", "listener", "public", "status", 200, "name", canaryRU)
		out := buf.String()
		assertClean(t, out)
		if asJSON != json.Valid(buf.Bytes()) {
			t.Errorf("json=%v: output %q", asJSON, out)
		}
		for _, want := range []string{"listening", "public", "200", Redacted} {
			if !strings.Contains(out, want) {
				t.Errorf("json=%v: output %q lacks %q", asJSON, out, want)
			}
		}
	}
}

func TestDefaultPolicyIsFresh(t *testing.T) {
	p := DefaultPolicy()
	p.Strings[0] = "name"
	if DefaultPolicy().Strings[0] == "name" {
		t.Error("DefaultPolicy shares its slices between calls")
	}
	for _, k := range DefaultPolicy().Strings {
		if k == "err" || k == "error" || k == "name" || k == "path" || k == "ip" || k == "addr" {
			t.Errorf("%q must not be a free-form string key", k)
		}
	}
}

func TestSanitiseKey(t *testing.T) {
	for k, want := range map[string]string{
		"status":                "status",
		"http.status":           "http.status",
		"user-agent_2":          "user-agent_2",
		"UserID":                "UserID",
		"":                      badKey,
		"имя":                   badKey,
		"a b":                   badKey,
		"a=b":                   badKey,
		"a\"b":                  badKey,
		strings.Repeat("k", 64): strings.Repeat("k", 64),
		strings.Repeat("k", 65): badKey,
	} {
		if got := sanitiseKey(k); got != want {
			t.Errorf("sanitiseKey(%q) = %q, want %q", k, got, want)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	var buf syncBuffer
	l := New(&buf, slog.LevelInfo, true).WithGroup("g")
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 50 {
				l.With("name", canary).Info("m", "count", i*j, "x", canaryRU)
			}
		})
	}
	wg.Wait()
	assertClean(t, buf.String())
	if n := strings.Count(buf.String(), "\n"); n != 16*50 {
		t.Errorf("%d lines", n)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// No key, group or value chosen by the fuzzer reaches the output, except
// through the one key the policy allows for numbers, and then only a number.
func FuzzNoValueLeaks(f *testing.F) {
	f.Add("name", "grp", "hello")
	f.Add("count", "", "12")
	f.Add("", "", "")
	f.Add("err", "http", canaryRU)
	f.Add(canary, canaryRU, "\x00\xff")
	const marker = "Zq9Marker"
	p := Policy{Numbers: []string{"count", "grp.count"}, Errors: []string{"err", "grp.err"}}
	f.Fuzz(func(t *testing.T, key, group, value string) {
		v := marker + value + marker
		var buf bytes.Buffer
		for _, inner := range handlers(&buf) {
			l := slog.New(NewRedactingHandler(inner, p))
			if group != "" {
				l = l.WithGroup(group)
			}
			l.Info("m", slog.String(key, v), slog.Any(key, errors.New(v)), slog.Any(key, []byte(v)),
				slog.Group(key, slog.String(key, v)), slog.Any(key, valuer{slog.StringValue(v)}))
			l.With(key, v).Info("m", key, customErr{v})
		}
		if strings.Contains(buf.String(), marker) {
			t.Fatalf("value leaked:\n%s", buf.String())
		}
	})
}

func ExampleNew() {
	var buf bytes.Buffer
	l := New(&buf, slog.LevelInfo, false)
	l.Info("request", "route", "POST /intake", "status", 303, "name", "Ivan", "err", errors.New("no such file: /home/ivan"))
	// Drop the time for a stable example.
	_, line, _ := strings.Cut(buf.String(), " ")
	fmt.Print(line)
	// Output: level=INFO msg=request route="POST /intake" status=303 name=[redacted] err="[redacted *errors.errorString]"
}
