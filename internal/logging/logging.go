// Package logging builds the process's logger so that nothing about a person
// can ever reach a log: no IP address, no User-Agent, no codename, no
// content. Logs outlive requests, get copied to other machines, and are the
// first thing handed over when a server is seized, so the rule is enforced
// in the handler rather than left to every call site.
//
// The handler works by allow-list. An attribute passes only if its
// group-qualified key is listed in the Policy, and only if its value is of a
// kind the Policy permits for that key; everything else is logged with its
// value replaced by "[redacted]", so that one can still see that something
// was there. Messages pass unchanged: by convention they are constant
// strings, never built from input.
package logging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// Redacted replaces every value the policy does not let through.
const Redacted = "[redacted]"

// badKey replaces a key that is not allowed and does not look like an
// identifier. Keys are meant to be constants in code; one with spaces or
// Cyrillic in it was probably built from input.
const badKey = "!badkey"

// LogSafer is implemented by errors whose author vouches that LogSafe
// returns a string free of anything about a person: a constant, or one built
// only from ids, counts and codes. Only that string is ever logged for such
// an error, never Error().
type LogSafer interface {
	LogSafe() string
}

// Policy says which attributes may be logged. Keys are group-qualified with
// ".": "status" is a top-level attribute, "http.status" one inside the
// group "http" (from Logger.WithGroup or slog.Group).
type Policy struct {
	// Numbers lists keys whose value passes if it is an integer, a float, a
	// boolean, a duration or a time. Such values cannot carry text.
	Numbers []string
	// Strings lists keys whose value passes whatever its kind, free-form
	// strings included. Only list a key whose values are always safe by
	// construction (a route pattern, never a path; a component name).
	Strings []string
	// Errors lists keys whose error values are logged in a safe form: the
	// LogSafe string of the first error in the chain that implements
	// LogSafer, or else only the type of the innermost error, as
	// "[redacted *fs.PathError]". An error's own message is never logged,
	// because error messages routinely quote their input. A string under
	// such a key is redacted, so that "err", err.Error() does not slip
	// through.
	Errors []string
}

// DefaultPolicy returns the keys the server uses.
func DefaultPolicy() Policy {
	return Policy{
		Numbers: []string{
			"status",   // HTTP status
			"duration", // time taken
			"bytes",    // sizes
			"count",    // how many
			"seq",      // audit and transparency-log sequence numbers
			// Staff user ids: staff are accountable, and their ids say
			// nothing about the people at risk.
			"user_id",
		},
		Strings: []string{
			"component", // which part of the server
			"route",     // the route PATTERN (r.Pattern), never the path
			"method",    // HTTP method
			"listener",  // "staff" or "public"
			"version",   // build version
			"event",     // a constant event name
			"setting",   // a configuration key, never its value
		},
		Errors: []string{"err"},
	}
}

// class is the set of value kinds a key may carry.
type class uint8

const (
	numbers class = 1 << iota
	strs
	errs
)

type handler struct {
	inner slog.Handler
	// allow is built once by NewRedactingHandler and only read afterwards,
	// so handlers derived by WithAttrs and WithGroup share it.
	allow map[string]class
	// prefix is the group-qualified prefix of keys: "" or "http.".
	prefix string
}

// NewRedactingHandler returns a handler that passes records to inner with
// every attribute not allowed by p redacted.
func NewRedactingHandler(inner slog.Handler, p Policy) slog.Handler {
	allow := make(map[string]class)
	for _, k := range p.Numbers {
		allow[k] |= numbers
	}
	for _, k := range p.Strings {
		allow[k] |= strs
	}
	for _, k := range p.Errors {
		allow[k] |= errs
	}
	return &handler{inner: inner, allow: allow}
}

// New returns a logger writing text (or JSON) lines at level and above to w,
// through a redacting handler with DefaultPolicy.
func New(w io.Writer, level slog.Level, json bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var inner slog.Handler
	if json {
		inner = slog.NewJSONHandler(w, opts)
	} else {
		inner = slog.NewTextHandler(w, opts)
	}
	return slog.New(NewRedactingHandler(inner, DefaultPolicy()))
}

func (h *handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.redact(h.prefix, a))
		return true
	})
	return h.inner.Handle(ctx, out)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		out[i] = h.redact(h.prefix, a)
	}
	return &handler{inner: h.inner.WithAttrs(out), allow: h.allow, prefix: h.prefix}
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h // as slog.Handler requires
	}
	name = sanitiseKey(name)
	return &handler{inner: h.inner.WithGroup(name), allow: h.allow, prefix: h.prefix + name + "."}
}

// redact returns a with its value replaced unless the policy allows it.
// prefix is the qualified name of the enclosing groups, with a trailing ".".
func (h *handler) redact(prefix string, a slog.Attr) slog.Attr {
	// Resolve first: a LogValuer can return anything, and what it returns
	// is what would be written.
	a.Value = a.Value.Resolve()
	if a.Key == "" && a.Value.Kind() == slog.KindAny && a.Value.Any() == nil {
		return a // the zero Attr, which every handler ignores
	}
	qualified := prefix + a.Key
	if a.Value.Kind() == slog.KindGroup {
		inner := prefix // a group with an empty key is inlined
		key := a.Key
		if key != "" {
			key = sanitiseKey(key)
			inner = prefix + key + "."
		}
		group := a.Value.Group()
		out := make([]slog.Attr, len(group))
		for i, ga := range group {
			out[i] = h.redact(inner, ga)
		}
		return slog.Attr{Key: key, Value: slog.GroupValue(out...)}
	}
	c, ok := h.allow[qualified]
	if !ok {
		return slog.String(sanitiseKey(a.Key), Redacted)
	}
	return slog.Attr{Key: a.Key, Value: allowedValue(c, a.Value)}
}

func allowedValue(c class, v slog.Value) slog.Value {
	switch v.Kind() {
	case slog.KindInt64, slog.KindUint64, slog.KindFloat64, slog.KindBool, slog.KindDuration, slog.KindTime:
		if c&(numbers|strs) != 0 {
			return v
		}
	case slog.KindString:
		if c&strs != 0 {
			return v
		}
	case slog.KindAny:
		// An error is never passed as itself, even under a Strings key:
		// handlers would print Error(), which may quote anything.
		if err, ok := v.Any().(error); ok {
			if c&errs != 0 {
				return slog.StringValue(safeError(err))
			}
			return slog.StringValue(Redacted)
		}
		if c&strs != 0 {
			return v
		}
	}
	return slog.StringValue(Redacted)
}

// safeError returns what may be logged about err: see Policy.Errors.
func safeError(err error) (s string) {
	defer func() {
		// A LogSafe or Unwrap method that panics (a nil receiver, say)
		// must not take the request down with it.
		if recover() != nil {
			s = Redacted
		}
	}()
	var ls LogSafer
	if errors.As(err, &ls) {
		return ls.LogSafe()
	}
	// The innermost error is usually the informative one (*fs.PathError,
	// *net.OpError, syscall.Errno); the outer ones are mostly wrappers.
	// Its type name comes from the code, not from input, so it is safe.
	for {
		next := errors.Unwrap(err)
		if next == nil {
			break
		}
		err = next
	}
	return fmt.Sprintf("[redacted %T]", err)
}

// sanitiseKey returns k if it looks like an identifier (ASCII letters,
// digits, "_", "-", ".", at most 64 bytes), else badKey.
func sanitiseKey(k string) string {
	if k == "" || len(k) > 64 {
		return badKey
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return badKey
		}
	}
	return k
}
