package staff

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
	"github.com/corridor-org/corridor/internal/store/sqlite"
)

// clock is an injectable, race-safe clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a service over a real SQLite store in a temporary directory, with
// a fake clock and cheap argon2id costs.
type env struct {
	t    *testing.T
	ctx  context.Context
	path string
	st   *sqlite.DB
	v    *keys.Vault
	s    *Service
	clk  *clock
}

func newEnv(t *testing.T, mod ...func(*Config)) *env {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "corridor.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// 5 s into a 30 s step, so a test knows which step "now" is in.
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 5, 0, time.UTC)}
	v, err := keys.Open(ctx, st, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Initialise(ctx, st, []byte("vault passphrase"), keys.TestKDF, keys.TestKDF); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.PasswordKDF = keys.TestKDF
	for _, m := range mod {
		m(&cfg)
	}
	s := New(st, v, audit.New(st, clk.Now), cfg, clk.Now)
	return &env{t: t, ctx: ctx, path: path, st: st, v: v, s: s, clk: clk}
}

// account is what a test knows about a user.
type account struct {
	id                     int64
	name, password, secret string
}

// setup creates the first admin as first-run set-up does.
func (e *env) setup() account {
	e.t.Helper()
	secret, _, err := NewTOTPSecret("admin")
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := e.s.CreateUserWithPassword(e.ctx, 0, "Root.Admin", store.RoleAdmin, "first admin password", secret)
	if err != nil {
		e.t.Fatal(err)
	}
	return account{id: c.User.ID, name: "Root.Admin", password: "first admin password", secret: secret}
}

func (e *env) create(actor int64, name, role string) account {
	e.t.Helper()
	c, err := e.s.CreateUser(e.ctx, actor, name, role)
	if err != nil {
		e.t.Fatalf("CreateUser(%q): %v", name, err)
	}
	return account{id: c.User.ID, name: name, password: c.Password, secret: c.OTPSecret}
}

func (e *env) code(a account) string { return totpCode(e.t, a.secret, e.clk.Now()) }

func (e *env) input(a account, device string) LoginInput {
	return LoginInput{Username: a.name, Password: a.password, Code: e.code(a), DeviceToken: device}
}

// login moves to the next TOTP step (a code is good once) and logs in.
func (e *env) login(a account, device string) *LoginResult {
	e.t.Helper()
	e.clk.Advance(30 * time.Second)
	r, err := e.s.Login(e.ctx, e.input(a, device))
	if err != nil {
		e.t.Fatalf("login as %s: %v", a.name, err)
	}
	return r
}

func (e *env) user(id int64) *store.User {
	e.t.Helper()
	u, err := e.st.GetUser(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// actions returns the audit log as "actor action object" lines, oldest first.
func (e *env) actions() []string {
	e.t.Helper()
	entries, err := e.st.AuditRange(e.ctx, 1, 10000)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, a := range entries {
		out = append(out, strings.Join([]string{itoa(a.ActorID), a.Action, a.Object}, " "))
	}
	return out
}

func itoa(n int64) string { return userObject(n)[len("user:"):] }

func (e *env) lastAction() string {
	e.t.Helper()
	a := e.actions()
	if len(a) == 0 {
		return ""
	}
	return a[len(a)-1]
}

func TestCreateUser(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	if u := e.user(admin.id); u.MustChangePassword || u.Role != store.RoleAdmin || u.TOTPEnrolled {
		t.Fatalf("first admin: %+v", u)
	}
	if got := e.lastAction(); got != "0 user.create "+userObject(admin.id) {
		t.Fatalf("audit: %q", got)
	}

	c, err := e.s.CreateUser(e.ctx, admin.id, "  Olga.Operator ", store.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	if c.Username != "olga.operator" || len(c.Password) != generatedPasswordLen || c.OTPSecret == "" ||
		!strings.HasPrefix(c.OTPURI, "otpauth://totp/Corridor:olga.operator?") {
		t.Fatalf("credentials: %+v", c)
	}
	u := e.user(c.User.ID)
	if !u.MustChangePassword || u.Role != store.RoleOperator || u.Disabled || u.TOTPEnrolled || u.TOTPSecret == nil {
		t.Fatalf("stored user: %+v", u)
	}
	if bytes.Contains(u.Username, []byte("olga")) || bytes.Contains(u.TOTPSecret, []byte(c.OTPSecret)) {
		t.Fatal("username or TOTP secret stored in clear")
	}
	if !phcRE.MatchString(u.PasswordHash) || !verifyPassword(u.PasswordHash, c.Password) {
		t.Fatalf("password hash %q", u.PasswordHash)
	}
	if name, err := e.s.Username(u); err != nil || name != "olga.operator" {
		t.Fatalf("Username = %q, %v", name, err)
	}
	if got := e.lastAction(); got != itoa(admin.id)+" user.create "+userObject(u.ID) {
		t.Fatalf("audit: %q", got)
	}
	// The command line (actor 0) may add accounts after set-up.
	e.create(0, "cli-made", store.RoleLogistics)

	operator := account{id: u.ID}
	tests := []struct {
		name    string
		actor   int64
		user    string
		role    string
		wantErr error
	}{
		{"same name other case", admin.id, "OLGA.operator", store.RoleCaseworker, store.ErrConflict},
		{"same name full-width", admin.id, "ｏｌｇａ.operator", store.RoleCaseworker, store.ErrConflict},
		{"bad role", admin.id, "newbie", "superuser", ErrInvalidRole},
		{"empty role", admin.id, "newbie", "", ErrInvalidRole},
		{"bad name", admin.id, "new bie", store.RoleOperator, ErrInvalidUsername},
		{"mixed scripts", admin.id, "оlga", store.RoleOperator, ErrUsernameMixedScripts},
		{"operator as actor", operator.id, "newbie", store.RoleOperator, ErrForbidden},
		{"unknown actor", 999, "newbie", store.RoleOperator, ErrForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.actions())
			_, err := e.s.CreateUser(e.ctx, tt.actor, tt.user, tt.role)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("CreateUser = %v, want %v", err, tt.wantErr)
			}
			if len(e.actions()) != before {
				t.Fatal("a refused CreateUser was audited as done")
			}
		})
	}
	n, _ := e.st.CountUsers(e.ctx)
	if n != 3 {
		t.Fatalf("%d users, want 3", n)
	}

	// A disabled admin cannot act.
	admin2 := e.create(admin.id, "second-admin", store.RoleAdmin)
	if err := e.s.Disable(e.ctx, admin.id, admin2.id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.CreateUser(e.ctx, admin2.id, "newbie", store.RoleOperator); !errors.Is(err, ErrForbidden) {
		t.Fatalf("disabled admin: %v", err)
	}

	// Sealed: nothing can be encrypted or indexed.
	e.v.Seal()
	if _, err := e.s.CreateUser(e.ctx, admin.id, "newbie", store.RoleOperator); !errors.Is(err, keys.ErrSealed) {
		t.Fatalf("sealed: %v", err)
	}
}

func TestFirstRunSetup(t *testing.T) {
	e := newEnv(t)
	secret, _, _ := NewTOTPSecret("admin")

	if _, err := e.s.CreateUserWithPassword(e.ctx, 0, "boss", store.RoleOperator, "first admin password", secret); !errors.Is(err, ErrInvalidRole) {
		t.Fatalf("first account not admin: %v", err)
	}
	if _, err := e.s.CreateUserWithPassword(e.ctx, 7, "boss", store.RoleAdmin, "first admin password", secret); !errors.Is(err, ErrForbidden) {
		t.Fatalf("first account by a user: %v", err)
	}
	if _, err := e.s.CreateUserWithPassword(e.ctx, 0, "boss", store.RoleAdmin, "short", secret); !errors.Is(err, ErrWeakPassword) {
		t.Fatalf("weak password: %v", err)
	}
	if _, err := e.s.CreateUserWithPassword(e.ctx, 0, "boss", store.RoleAdmin, "", secret); !errors.Is(err, ErrWeakPassword) {
		t.Fatalf("empty password: %v", err)
	}
	if _, err := e.s.CreateUserWithPassword(e.ctx, 0, "boss.example", store.RoleAdmin, "Boss.Example", secret); !errors.Is(err, ErrWeakPassword) {
		t.Fatalf("password = username: %v", err)
	}
	for _, bad := range []string{"", "AAAA", "not base32!"} {
		if _, err := e.s.CreateUserWithPassword(e.ctx, 0, "boss", store.RoleAdmin, "first admin password", bad); !errors.Is(err, ErrInvalidTOTPSecret) {
			t.Fatalf("secret %q: %v", bad, err)
		}
	}
	if n, _ := e.st.CountUsers(e.ctx); n != 0 {
		t.Fatal("a refused set-up created an account")
	}

	c, err := e.s.CreateUserWithPassword(e.ctx, 0, "Boss", store.RoleAdmin, "first admin password", strings.ToLower(secret))
	if err != nil {
		t.Fatal(err)
	}
	if c.User.MustChangePassword || c.Password != "" || c.OTPSecret != secret {
		t.Fatalf("first admin: %+v", c)
	}
	// The set-up path cannot be used again by the system…
	s2, _, _ := NewTOTPSecret("x")
	if _, err := e.s.CreateUserWithPassword(e.ctx, 0, "boss2", store.RoleAdmin, "first admin password", s2); !errors.Is(err, ErrForbidden) {
		t.Fatalf("second set-up: %v", err)
	}
	// …and an admin choosing someone's password still makes them change it.
	c2, err := e.s.CreateUserWithPassword(e.ctx, c.User.ID, "boss2", store.RoleCaseworker, "chosen by the admin", s2)
	if err != nil {
		t.Fatal(err)
	}
	if !c2.User.MustChangePassword {
		t.Fatal("admin-chosen password need not be changed")
	}
	// The enrolled secret logs in.
	a := account{id: c.User.ID, name: "boss", password: "first admin password", secret: secret}
	r := e.login(a, "")
	if r.User.ID != a.id || !r.User.TOTPEnrolled {
		t.Fatalf("login: %+v", r.User)
	}
}

func TestLogin(t *testing.T) {
	// No lock-out here: every kind of failure must get its answer.
	e := newEnv(t, func(c *Config) { c.MaxFailures = 100 })
	admin := e.setup()
	bob := e.create(admin.id, "bob", store.RoleCaseworker)
	gone := e.create(admin.id, "gone", store.RoleCaseworker)
	if err := e.s.Disable(e.ctx, admin.id, gone.id); err != nil {
		t.Fatal(err)
	}

	r := e.login(bob, "")
	if r.User.ID != bob.id || !r.User.MustChangePassword || !r.User.TOTPEnrolled || r.User.FailedLogins != 0 {
		t.Fatalf("login result user: %+v", r.User)
	}
	if len(r.SessionToken) != 43 || r.DeviceToken == "" {
		t.Fatalf("tokens %q %q", r.SessionToken, r.DeviceToken)
	}
	if got := e.lastAction(); got != itoa(bob.id)+" user.login "+userObject(bob.id) {
		t.Fatalf("audit: %q", got)
	}
	if u, err := e.s.Session(e.ctx, r.SessionToken); err != nil || u.ID != bob.id {
		t.Fatalf("Session after login: %v", err)
	}

	// Every failure is the same error, whatever failed.
	e.clk.Advance(30 * time.Second)
	now := e.clk.Now()
	tests := []struct {
		name   string
		in     LoginInput
		object string // expected audit object
	}{
		{"wrong password", LoginInput{Username: "bob", Password: bob.password + "x", Code: e.code(bob)}, userObject(bob.id)},
		{"empty password", LoginInput{Username: "bob", Code: e.code(bob)}, userObject(bob.id)},
		{"wrong code", LoginInput{Username: "bob", Password: bob.password, Code: otherCode(e.code(bob))}, userObject(bob.id)},
		{"no code", LoginInput{Username: "bob", Password: bob.password}, userObject(bob.id)},
		{"code of another account", LoginInput{Username: "bob", Password: bob.password, Code: e.code(admin)}, userObject(bob.id)},
		{"code two steps old", LoginInput{Username: "bob", Password: bob.password, Code: totpCode(t, bob.secret, now.Add(-time.Minute))}, userObject(bob.id)},
		{"other user's password", LoginInput{Username: "bob", Password: admin.password, Code: e.code(bob)}, userObject(bob.id)},
		{"disabled user", e.input(gone, ""), userObject(gone.id)},
		{"unknown user", LoginInput{Username: "nobody", Password: bob.password, Code: e.code(bob)}, "user"},
		{"invalid username", LoginInput{Username: "no body", Password: bob.password, Code: e.code(bob)}, "user"},
		{"empty username", LoginInput{Password: bob.password, Code: e.code(bob)}, "user"},
	}
	var msgs []string
	bobFailures := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "code two steps old" && ValidTOTP(bob.secret, tt.in.Code, now) {
				t.Skip("code collides with one in the window")
			}
			if tt.object == userObject(bob.id) {
				bobFailures++
			}
			res, err := e.s.Login(e.ctx, tt.in)
			if !errors.Is(err, ErrBadCredentials) || res != nil {
				t.Fatalf("Login = %v, %v; want ErrBadCredentials", res, err)
			}
			msgs = append(msgs, err.Error())
			if got, want := e.lastAction(), "0 user.login_failed "+tt.object; got != want {
				t.Fatalf("audit %q, want %q", got, want)
			}
		})
	}
	slices.Sort(msgs)
	if len(slices.Compact(msgs)) != 1 {
		t.Fatalf("failures are distinguishable: %q", msgs)
	}
	// Each failure above from this untrusted client counted against bob
	// (and the disabled account); none of them said which part failed.
	if u := e.user(bob.id); u.FailedLogins != bobFailures || bobFailures < 6 {
		t.Fatalf("FailedLogins = %d, want %d", u.FailedLogins, bobFailures)
	}
}

// otherCode returns a valid-looking code that is not c.
func otherCode(c string) string {
	b := []byte(c)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

func TestLoginSealed(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	e.v.Seal()
	e.clk.Advance(30 * time.Second)
	if _, err := e.s.Login(e.ctx, e.input(admin, "")); !errors.Is(err, keys.ErrSealed) {
		t.Fatalf("Login while sealed = %v", err)
	}
	if _, err := e.s.Login(e.ctx, LoginInput{Username: "nobody"}); !errors.Is(err, keys.ErrSealed) {
		t.Fatalf("Login of unknown user while sealed = %v", err)
	}
	if u := e.user(admin.id); u.FailedLogins != 0 {
		t.Fatal("a sealed refusal counted as a failure")
	}
	if err := e.v.Unseal(e.ctx, []byte("vault passphrase")); err != nil {
		t.Fatal(err)
	}
	// The code is still unused: a sealed refusal did not burn it.
	if _, err := e.s.Login(e.ctx, e.input(admin, "")); err != nil {
		t.Fatal(err)
	}
}

func TestTOTPReplay(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	e.clk.Advance(30 * time.Second)
	in := e.input(admin, "")
	if _, err := e.s.Login(e.ctx, in); err != nil {
		t.Fatal(err)
	}
	// The same code again, within its validity: refused.
	if _, err := e.s.Login(e.ctx, in); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("replayed code: %v", err)
	}
	// Still refused a step later, while it would still be in the window.
	e.clk.Advance(30 * time.Second)
	if _, err := e.s.Login(e.ctx, in); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("replayed code one step later: %v", err)
	}
	// The new step's code works.
	if _, err := e.s.Login(e.ctx, e.input(admin, "")); err != nil {
		t.Fatal(err)
	}
	if got := e.lastAction(); got != itoa(admin.id)+" user.login "+userObject(admin.id) {
		t.Fatalf("audit %q", got)
	}
}

func TestTOTPAdjacentSteps(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	e.clk.Advance(5 * time.Minute)
	now := e.clk.Now()
	code := func(d time.Duration) LoginInput {
		return LoginInput{Username: admin.name, Password: admin.password, Code: totpCode(t, admin.secret, now.Add(d))}
	}
	// A phone a little behind: the previous step's code, once.
	if _, err := e.s.Login(e.ctx, code(-30*time.Second)); err != nil {
		t.Fatalf("previous step: %v", err)
	}
	if _, err := e.s.Login(e.ctx, code(-30*time.Second)); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("previous step twice: %v", err)
	}
	// A phone a little ahead: the next step's code, once.
	if _, err := e.s.Login(e.ctx, code(30*time.Second)); err != nil {
		t.Fatalf("next step: %v", err)
	}
	if _, err := e.s.Login(e.ctx, code(30*time.Second)); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("next step twice: %v", err)
	}
	// Steps only move forward: the current step's code, older than the
	// last one used, is refused too.
	if _, err := e.s.Login(e.ctx, code(0)); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("older step after a newer one: %v", err)
	}
}

func TestTOTPReplayConcurrent(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	e.clk.Advance(30 * time.Second)
	in := e.input(admin, "")
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, bad := 0, 0
	for range 4 {
		wg.Go(func() {
			_, err := e.s.Login(e.ctx, in)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrBadCredentials):
				bad++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || bad != 3 {
		t.Fatalf("%d logins succeeded with one code, %d refused", ok, bad)
	}
}

func TestLockout(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	bob := e.create(admin.id, "bob", store.RoleCaseworker)
	// Bob logs in once from his own browser and keeps its device token.
	device := e.login(bob, "").DeviceToken

	e.clk.Advance(30 * time.Second)
	wrong := LoginInput{Username: "bob", Password: "guess guess guess", Code: "123456"}
	for i := range 5 {
		if _, err := e.s.Login(e.ctx, wrong); !errors.Is(err, ErrBadCredentials) || errors.Is(err, ErrLocked) {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	u := e.user(bob.id)
	if u.FailedLogins != 5 || !u.LockedUntil.Equal(e.clk.Now().Add(time.Minute)) {
		t.Fatalf("after 5 failures: FailedLogins=%d LockedUntil=%v", u.FailedLogins, u.LockedUntil)
	}

	// Untrusted clients are locked out now, even with the right password.
	_, err := e.s.Login(e.ctx, e.input(bob, ""))
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) || !le.Until.Equal(u.LockedUntil) {
		t.Fatalf("locked: %v", err)
	}
	// A lock-out does not test the password: the attempt is not counted.
	if e.user(bob.id).FailedLogins != 5 {
		t.Fatal("an attempt while locked was counted")
	}

	// Bob's own browser is not: the attacker cannot lock him out.
	r, err := e.s.Login(e.ctx, e.input(bob, device))
	if err != nil {
		t.Fatalf("trusted device while the account is locked: %v", err)
	}
	u = e.user(bob.id)
	if u.FailedLogins != 0 || !u.LockedUntil.IsZero() {
		t.Fatalf("success did not reset: FailedLogins=%d LockedUntil=%v", u.FailedLogins, u.LockedUntil)
	}
	if r.DeviceToken == "" || r.DeviceToken == device {
		t.Fatal("no fresh device token")
	}

	// Exponential back-off: 1, 2, 4 … minutes.
	e.clk.Advance(30 * time.Second)
	for range 5 {
		e.s.Login(e.ctx, wrong)
	}
	want := time.Minute
	for range 4 {
		until := e.user(bob.id).LockedUntil
		if got := until.Sub(e.clk.Now()); got != want {
			t.Fatalf("lock-out %v, want %v", got, want)
		}
		e.clk.Advance(want) // lock ends
		if _, err := e.s.Login(e.ctx, wrong); !errors.Is(err, ErrBadCredentials) || errors.Is(err, ErrLocked) {
			t.Fatalf("after the lock ended: %v", err)
		}
		want *= 2
	}

	// Failures from the trusted device do not count against the account…
	e.clk.Advance(2 * time.Hour)
	before := e.user(bob.id).FailedLogins
	trustedWrong := wrong
	trustedWrong.DeviceToken = r.DeviceToken
	for i := range 10 {
		if _, err := e.s.Login(e.ctx, trustedWrong); !errors.Is(err, ErrBadCredentials) || errors.Is(err, ErrLocked) {
			t.Fatalf("trusted attempt %d: %v", i+1, err)
		}
	}
	if e.user(bob.id).FailedLogins != before {
		t.Fatal("trusted-device failures counted against the account")
	}
	// …but the device has its own small budget.
	_, err = e.s.Login(e.ctx, e.input(bob, r.DeviceToken))
	if !errors.As(err, &le) || !le.Until.Equal(e.clk.Now().Add(time.Minute)) {
		t.Fatalf("device over budget: %v", err)
	}
	// Another device of bob's is unaffected by that budget.
	e.clk.Advance(30 * time.Second)
	other := e.s.newDeviceToken(mustKey(t, e.v, keys.PurposeSession), bob.id, e.clk.Now())
	if _, err := e.s.Login(e.ctx, e.input(bob, other)); err != nil {
		t.Fatalf("other trusted device: %v", err)
	}
}

func mustKey(t *testing.T, v *keys.Vault, purpose string) []byte {
	t.Helper()
	k, err := v.Key(purpose)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestDeviceTokenChecks(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	bob := e.create(admin.id, "bob", store.RoleCaseworker)
	device := e.login(bob, "").DeviceToken
	adminDevice := e.login(admin, "").DeviceToken
	sk := mustKey(t, e.v, keys.PurposeSession)
	now := e.clk.Now()

	if _, ok := e.s.checkDeviceToken(sk, bob.id, device, now); !ok {
		t.Fatal("own token refused")
	}
	raw, _ := base64.RawURLEncoding.DecodeString(device)
	flip := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 1
		return base64.RawURLEncoding.EncodeToString(b)
	}
	tests := []struct {
		name  string
		token string
		at    time.Time
	}{
		{"other user's token", adminDevice, now},
		{"empty", "", now},
		{"garbage", "not-a-token", now},
		{"user id altered", flip(8), now},
		{"issue time altered", flip(16), now},
		{"nonce altered", flip(20), now},
		{"mac altered", flip(len(raw) - 1), now},
		{"version altered", flip(0), now},
		{"truncated", device[:len(device)-2], now},
		{"padded", device + "==", now},
		{"expired", device, now.Add(181 * 24 * time.Hour)},
		{"other key", e.s.newDeviceToken(keys.NewKey(), bob.id, now), now},
	}
	for _, tt := range tests {
		if _, ok := e.s.checkDeviceToken(sk, bob.id, tt.token, tt.at); ok {
			t.Errorf("%s: accepted", tt.name)
		}
	}
	// An invalid device token is simply an untrusted client: bob's lock
	// applies to it.
	e.clk.Advance(30 * time.Second)
	for range 5 {
		e.s.Login(e.ctx, LoginInput{Username: "bob", Password: "wrong wrong wrong", DeviceToken: adminDevice})
	}
	if _, err := e.s.Login(e.ctx, e.input(bob, adminDevice)); !errors.Is(err, ErrLocked) {
		t.Fatalf("another account's device token bypassed the lock: %v", err)
	}
	if _, err := e.s.Login(e.ctx, e.input(bob, device)); err != nil {
		t.Fatalf("own device: %v", err)
	}
}

// TestUnknownUserLooksKnown: an attacker probing names sees the same error
// and the same lock-out for a name that does not exist as for one that
// does.
func TestUnknownUserLooksKnown(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	e.create(admin.id, "bob", store.RoleCaseworker)
	e.clk.Advance(30 * time.Second)
	probe := func(name string) []string {
		var out []string
		for range 7 {
			_, err := e.s.Login(e.ctx, LoginInput{Username: name, Password: "guess guess guess", Code: "123456"})
			var le *LockedError
			if errors.As(err, &le) {
				out = append(out, "locked until "+le.Until.Sub(e.clk.Now()).String())
			} else {
				out = append(out, err.Error())
			}
		}
		return out
	}
	known, unknown := probe("bob"), probe("nobody")
	if !slices.Equal(known, unknown) {
		t.Fatalf("known and unknown names behave differently:\n%q\n%q", known, unknown)
	}
	if !strings.HasPrefix(known[5], "locked until 1m") {
		t.Fatalf("no lock-out after 5 failures: %q", known)
	}
	// The audit log names the account only for a name that exists.
	acts := e.actions()
	if !slices.Contains(acts, "0 user.login_failed user") || !slices.Contains(acts, "0 user.login_failed user:2") {
		t.Fatalf("audit: %q", acts)
	}
}

func TestSessions(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	r := e.login(admin, "")
	tok := r.SessionToken

	// Only the hash is stored.
	if _, err := e.st.GetSession(e.ctx, []byte(tok)); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("session stored under the token itself")
	}
	sess, err := e.st.GetSession(e.ctx, hashToken(tok))
	if err != nil {
		t.Fatal(err)
	}
	created := sess.CreatedAt

	// Use keeps it alive and touches LastSeen.
	e.clk.Advance(29 * time.Minute)
	if _, err := e.s.Session(e.ctx, tok); err != nil {
		t.Fatalf("after 29 min: %v", err)
	}
	sess, _ = e.st.GetSession(e.ctx, hashToken(tok))
	if !sess.LastSeen.Equal(e.clk.Now()) || !sess.CreatedAt.Equal(created) {
		t.Fatalf("LastSeen %v, CreatedAt %v", sess.LastSeen, sess.CreatedAt)
	}
	// Active all day: the maximum age ends it anyway.
	for e.clk.Now().Sub(created) < 12*time.Hour-20*time.Minute {
		e.clk.Advance(20 * time.Minute)
		if _, err := e.s.Session(e.ctx, tok); err != nil {
			t.Fatalf("active session ended at %v: %v", e.clk.Now().Sub(created), err)
		}
	}
	e.clk.Advance(20 * time.Minute)
	if _, err := e.s.Session(e.ctx, tok); !errors.Is(err, ErrNoSession) {
		t.Fatalf("session older than SessionMax: %v", err)
	}
	if _, err := e.st.GetSession(e.ctx, hashToken(tok)); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("expired session not deleted")
	}

	// Idle longer than SessionIdle.
	tok = e.login(admin, "").SessionToken
	e.clk.Advance(30*time.Minute + time.Second)
	if _, err := e.s.Session(e.ctx, tok); !errors.Is(err, ErrNoSession) {
		t.Fatalf("idle session: %v", err)
	}

	// Logout ends one session, LogoutEverywhere all.
	t1 := e.login(admin, "").SessionToken
	t2 := e.login(admin, "").SessionToken
	t3 := e.login(admin, "").SessionToken
	if err := e.s.Logout(e.ctx, t1); err != nil {
		t.Fatal(err)
	}
	if got := e.lastAction(); got != itoa(admin.id)+" user.logout "+userObject(admin.id) {
		t.Fatalf("audit %q", got)
	}
	if _, err := e.s.Session(e.ctx, t1); !errors.Is(err, ErrNoSession) {
		t.Fatalf("after Logout: %v", err)
	}
	if _, err := e.s.Session(e.ctx, t2); err != nil {
		t.Fatalf("Logout ended another session: %v", err)
	}
	if err := e.s.Logout(e.ctx, t1); err != nil {
		t.Fatalf("second Logout: %v", err)
	}
	if err := e.s.LogoutEverywhere(e.ctx, admin.id); err != nil {
		t.Fatal(err)
	}
	if got := e.lastAction(); got != itoa(admin.id)+" user.logout_all "+userObject(admin.id) {
		t.Fatalf("audit %q", got)
	}
	for _, tok := range []string{t2, t3} {
		if _, err := e.s.Session(e.ctx, tok); !errors.Is(err, ErrNoSession) {
			t.Fatalf("after LogoutEverywhere: %v", err)
		}
	}

	for _, bad := range []string{"", "x", strings.Repeat("A", 43), strings.Repeat("A", 44), t1 + "A", "🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂"} {
		if _, err := e.s.Session(e.ctx, bad); !errors.Is(err, ErrNoSession) {
			t.Errorf("Session(%q) = %v", bad, err)
		}
	}

	// PurgeSessions removes idle ones.
	e.login(admin, "")
	live := e.login(admin, "").SessionToken
	e.clk.Advance(31 * time.Minute)
	if _, err := e.s.Session(e.ctx, live); !errors.Is(err, ErrNoSession) {
		t.Fatal(err)
	}
	live = e.login(admin, "").SessionToken
	e.clk.Advance(31 * time.Minute)
	live2 := e.login(admin, "").SessionToken
	n, err := e.s.PurgeSessions(e.ctx)
	if err != nil || n != 2 {
		t.Fatalf("PurgeSessions = %d, %v; want 2", n, err)
	}
	if _, err := e.s.Session(e.ctx, live2); err != nil {
		t.Fatal(err)
	}
	_ = live
}

func TestSessionEndsWhenRightsChange(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	bob := e.create(admin.id, "bob", store.RoleOperator)
	tests := []struct {
		name   string
		action func() error
	}{
		{"disable", func() error { return e.s.Disable(e.ctx, admin.id, bob.id) }},
		{"set role", func() error { return e.s.SetRole(e.ctx, admin.id, bob.id, store.RoleLogistics) }},
		{"reset password", func() error {
			pw, err := e.s.ResetPassword(e.ctx, admin.id, bob.id)
			bob.password = pw
			return err
		}},
		{"reset totp", func() error {
			uri, err := e.s.ResetTOTP(e.ctx, admin.id, bob.id)
			bob.secret = secretOf(t, uri)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := e.s.Enable(e.ctx, admin.id, bob.id); err != nil {
				t.Fatal(err)
			}
			tok := e.login(bob, "").SessionToken
			adminTok := e.login(admin, "").SessionToken
			if err := tt.action(); err != nil {
				t.Fatal(err)
			}
			if _, err := e.s.Session(e.ctx, tok); !errors.Is(err, ErrNoSession) {
				t.Fatalf("bob's session survived: %v", err)
			}
			if _, err := e.s.Session(e.ctx, adminTok); err != nil {
				t.Fatalf("the admin's session ended: %v", err)
			}
		})
	}

	// Disabled is checked on every request too, not only by deleting
	// sessions: a store that missed the delete still refuses.
	if err := e.s.Enable(e.ctx, admin.id, bob.id); err != nil {
		t.Fatal(err)
	}
	tok := e.login(bob, "").SessionToken
	u := e.user(bob.id)
	u.Disabled = true
	if err := e.st.UpdateUser(e.ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Session(e.ctx, tok); !errors.Is(err, ErrNoSession) {
		t.Fatalf("disabled user's session: %v", err)
	}
}

func secretOf(t *testing.T, uri string) string {
	t.Helper()
	i := strings.Index(uri, "secret=")
	if i < 0 {
		t.Fatalf("no secret in %q", uri)
	}
	s := uri[i+len("secret="):]
	if j := strings.IndexByte(s, '&'); j >= 0 {
		s = s[:j]
	}
	return s
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	t1 := e.login(admin, "").SessionToken
	t2 := e.login(admin, "").SessionToken
	c1, err := e.s.CSRFToken(t1)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := e.s.CSRFToken(t1); again != c1 {
		t.Fatal("CSRF token not stable within a session")
	}
	c2, _ := e.s.CSRFToken(t2)
	if c1 == c2 {
		t.Fatal("two sessions share a CSRF token")
	}
	if strings.Contains(c1, t1) || len(c1) != 43 {
		t.Fatalf("token %q", c1)
	}
	tests := []struct {
		name        string
		session, in string
		ok          bool
	}{
		{"right", t1, c1, true},
		{"other session's", t1, c2, false},
		{"empty", t1, "", false},
		{"truncated", t1, c1[:42], false},
		{"extended", t1, c1 + "A", false},
		{"altered", t1, otherChar(c1), false},
		{"session token itself", t1, t1, false},
		{"no session", "", c1, false},
		{"no session no token", "", "", false},
	}
	for _, tt := range tests {
		if got := e.s.CheckCSRF(tt.session, tt.in); got != tt.ok {
			t.Errorf("%s: CheckCSRF = %v", tt.name, got)
		}
	}
	e.v.Seal()
	if _, err := e.s.CSRFToken(t1); !errors.Is(err, keys.ErrSealed) {
		t.Fatalf("CSRFToken while sealed: %v", err)
	}
	if e.s.CheckCSRF(t1, c1) {
		t.Fatal("CheckCSRF passed while sealed")
	}
	// The token survives seal and unseal (derived, not random per boot).
	if err := e.v.Unseal(e.ctx, []byte("vault passphrase")); err != nil {
		t.Fatal(err)
	}
	if !e.s.CheckCSRF(t1, c1) {
		t.Fatal("CSRF token changed across seal/unseal")
	}
}

func otherChar(s string) string {
	b := []byte(s)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}

func TestLastAdmin(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	op := e.create(admin.id, "op", store.RoleOperator)

	if err := e.s.Disable(e.ctx, admin.id, admin.id); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("disable the last admin: %v", err)
	}
	if err := e.s.SetRole(e.ctx, admin.id, admin.id, store.RoleCoordinator); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("demote the last admin: %v", err)
	}
	if err := e.s.SetRole(e.ctx, admin.id, admin.id, store.RoleAdmin); err != nil {
		t.Fatalf("admin to admin: %v", err)
	}
	if u := e.user(admin.id); u.Disabled || u.Role != store.RoleAdmin {
		t.Fatalf("last admin changed: %+v", u)
	}
	// Non-admins cannot manage accounts at all.
	for name, err := range map[string]error{
		"disable":  e.s.Disable(e.ctx, op.id, admin.id),
		"enable":   e.s.Enable(e.ctx, op.id, op.id),
		"set role": e.s.SetRole(e.ctx, op.id, op.id, store.RoleAdmin),
	} {
		if !errors.Is(err, ErrForbidden) {
			t.Errorf("operator %s: %v", name, err)
		}
	}
	if _, err := e.s.ResetPassword(e.ctx, op.id, admin.id); !errors.Is(err, ErrForbidden) {
		t.Errorf("operator reset password: %v", err)
	}
	if _, err := e.s.ResetTOTP(e.ctx, op.id, admin.id); !errors.Is(err, ErrForbidden) {
		t.Errorf("operator reset totp: %v", err)
	}
	if u := e.user(op.id); u.Role != store.RoleOperator {
		t.Fatal("operator promoted itself")
	}

	// With a second admin, one may go; then the other is the last.
	if err := e.s.SetRole(e.ctx, admin.id, op.id, store.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Disable(e.ctx, op.id, admin.id); err != nil {
		t.Fatalf("disable one of two admins: %v", err)
	}
	if err := e.s.SetRole(e.ctx, op.id, op.id, store.RoleCaseworker); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("demote the remaining admin: %v", err)
	}
	// A disabled admin does not count and may be demoted.
	if err := e.s.SetRole(e.ctx, op.id, admin.id, store.RoleCaseworker); err != nil {
		t.Fatalf("demote a disabled admin: %v", err)
	}
	if err := e.s.SetRole(e.ctx, op.id, 999, store.RoleCaseworker); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown target: %v", err)
	}
	if err := e.s.SetRole(e.ctx, op.id, admin.id, "root"); !errors.Is(err, ErrInvalidRole) {
		t.Fatalf("bad role: %v", err)
	}
}

func TestLastAdminConcurrent(t *testing.T) {
	e := newEnv(t)
	a := e.setup()
	b := e.create(a.id, "second-admin", store.RoleAdmin)
	// Each demotes the other at once: exactly one may succeed.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = e.s.SetRole(e.ctx, a.id, b.id, store.RoleOperator) })
	wg.Go(func() { errs[1] = e.s.SetRole(e.ctx, b.id, a.id, store.RoleOperator) })
	wg.Wait()
	n, err := enabledAdmins(e.ctx, e.st)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d enabled admins left (errors %v)", n, errs)
	}
}

func TestAdminResets(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	bob := e.create(admin.id, "bob", store.RoleCaseworker)
	e.login(bob, "")

	// Lock bob out, then reset his password: the lock lifts.
	e.clk.Advance(30 * time.Second)
	for range 5 {
		e.s.Login(e.ctx, LoginInput{Username: "bob", Password: "wrong wrong wrong"})
	}
	old := bob.password
	pw, err := e.s.ResetPassword(e.ctx, admin.id, bob.id)
	if err != nil {
		t.Fatal(err)
	}
	if len(pw) != generatedPasswordLen || pw == old {
		t.Fatalf("new password %q", pw)
	}
	u := e.user(bob.id)
	if !u.MustChangePassword || u.FailedLogins != 0 || !u.LockedUntil.IsZero() {
		t.Fatalf("after reset: %+v", u)
	}
	if got := e.lastAction(); got != itoa(admin.id)+" user.reset_password "+userObject(bob.id) {
		t.Fatalf("audit %q", got)
	}
	e.clk.Advance(30 * time.Second)
	if _, err := e.s.Login(e.ctx, e.input(bob, "")); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("old password after reset: %v", err)
	}
	bob.password = pw
	e.login(bob, "")

	// Reset TOTP: the old secret stops, the new one works.
	oldSecret := bob.secret
	uri, err := e.s.ResetTOTP(e.ctx, admin.id, bob.id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(uri, "otpauth://totp/Corridor:bob?") {
		t.Fatalf("uri %q", uri)
	}
	if u := e.user(bob.id); u.TOTPEnrolled {
		t.Fatal("still enrolled after reset")
	}
	if got := e.lastAction(); got != itoa(admin.id)+" user.reset_totp "+userObject(bob.id) {
		t.Fatalf("audit %q", got)
	}
	e.clk.Advance(30 * time.Second)
	if _, err := e.s.Login(e.ctx, e.input(bob, "")); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("old TOTP secret after reset: %v", err)
	}
	bob.secret = secretOf(t, uri)
	if bob.secret == oldSecret {
		t.Fatal("same secret")
	}
	if r := e.login(bob, ""); !r.User.TOTPEnrolled {
		t.Fatal("not enrolled after logging in with the new secret")
	}

	// Enable / Disable are audited.
	if err := e.s.Disable(e.ctx, admin.id, bob.id); err != nil {
		t.Fatal(err)
	}
	if got := e.lastAction(); got != itoa(admin.id)+" user.disable "+userObject(bob.id) {
		t.Fatalf("audit %q", got)
	}
	e.clk.Advance(30 * time.Second)
	if _, err := e.s.Login(e.ctx, e.input(bob, "")); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("disabled login: %v", err)
	}
	if err := e.s.Enable(e.ctx, admin.id, bob.id); err != nil {
		t.Fatal(err)
	}
	if got := e.lastAction(); got != itoa(admin.id)+" user.enable "+userObject(bob.id) {
		t.Fatalf("audit %q", got)
	}
	if err := e.s.SetRole(e.ctx, admin.id, bob.id, store.RoleCustodian); err != nil {
		t.Fatal(err)
	}
	if got := e.lastAction(); got != itoa(admin.id)+" user.set_role "+userObject(bob.id) {
		t.Fatalf("audit %q", got)
	}
	if u := e.user(bob.id); u.Role != store.RoleCustodian {
		t.Fatalf("role %q", u.Role)
	}
	if _, err := e.s.ResetPassword(e.ctx, admin.id, 999); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("reset unknown user: %v", err)
	}
}

func TestChangePassword(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	bob := e.create(admin.id, "bob.builder", store.RoleCaseworker)
	other := e.login(bob, "").SessionToken
	current := e.login(bob, "").SessionToken

	tests := []struct {
		name     string
		old, new string
		wantErr  error
	}{
		{"wrong old", "wrong wrong wrong", "a fine new password", ErrBadCredentials},
		{"too short", bob.password, "short", ErrWeakPassword},
		{"equal to username", bob.password, "Bob.Builder", ErrWeakPassword},
		{"same as old", bob.password, bob.password, ErrWeakPassword},
	}
	for _, tt := range tests {
		if err := e.s.ChangePasswordKeepSession(e.ctx, current, tt.old, tt.new); !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.wantErr)
		}
	}
	if got := e.lastAction(); !strings.Contains(strings.Join(e.actions(), "\n"), "user.change_password_failed") {
		t.Fatalf("failed change not audited: %q", got)
	}
	if err := e.s.ChangePasswordKeepSession(e.ctx, current, bob.password, "a fine new password"); err != nil {
		t.Fatal(err)
	}
	if got := e.lastAction(); got != itoa(bob.id)+" user.change_password "+userObject(bob.id) {
		t.Fatalf("audit %q", got)
	}
	if u := e.user(bob.id); u.MustChangePassword {
		t.Fatal("MustChangePassword still set")
	}
	if _, err := e.s.Session(e.ctx, current); err != nil {
		t.Fatalf("current session ended: %v", err)
	}
	if _, err := e.s.Session(e.ctx, other); !errors.Is(err, ErrNoSession) {
		t.Fatalf("other session survived: %v", err)
	}
	e.clk.Advance(30 * time.Second)
	if _, err := e.s.Login(e.ctx, e.input(bob, "")); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("old password: %v", err)
	}
	bob.password = "a fine new password"
	e.login(bob, "")

	// ChangePassword by id ends every session.
	tok := e.login(bob, "").SessionToken
	if err := e.s.ChangePassword(e.ctx, bob.id, bob.password, "another new password"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Session(e.ctx, tok); !errors.Is(err, ErrNoSession) {
		t.Fatalf("session survived ChangePassword: %v", err)
	}
	bob.password = "another new password"

	// Guessing the old password through a stolen session is throttled,
	// without locking the owner's login.
	tok = e.login(bob, "").SessionToken
	for range 10 {
		e.s.ChangePasswordKeepSession(e.ctx, tok, "guess guess guess", "whatever new password")
	}
	err := e.s.ChangePasswordKeepSession(e.ctx, tok, bob.password, "yet another password")
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("11th attempt: %v", err)
	}
	e.login(bob, "") // login unaffected
	if err := e.s.ChangePasswordKeepSession(e.ctx, "bogus", bob.password, "yet another password"); !errors.Is(err, ErrNoSession) {
		t.Fatalf("no session: %v", err)
	}
}

func TestList(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	e.create(admin.id, "ЩУКА", store.RoleOperator)
	e.create(admin.id, "zed", store.RoleLogistics)
	list, err := e.s.List(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range list {
		names = append(names, v.Username)
		if v.User.PasswordHash != "" || v.User.TOTPSecret != nil {
			t.Fatalf("secrets in the view: %+v", v.User)
		}
		if name, err := e.s.Username(v.User); err != nil || name != v.Username {
			t.Fatalf("Username(view.User) = %q, %v", name, err)
		}
	}
	if !slices.Equal(names, []string{"root.admin", "щука", "zed"}) {
		t.Fatalf("names %q", names)
	}
	// The store's copy is untouched.
	if e.user(admin.id).PasswordHash == "" {
		t.Fatal("List scrubbed the stored user")
	}
	u, err := e.s.UserByName(e.ctx, " щука ")
	if err != nil || u.Role != store.RoleOperator || u.PasswordHash == "" {
		t.Fatalf("UserByName = %+v, %v", u, err)
	}
	if _, err := e.s.UserByName(e.ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UserByName(nobody) = %v", err)
	}
	if _, err := e.s.UserByName(e.ctx, "no body"); !errors.Is(err, ErrInvalidUsername) {
		t.Fatalf("UserByName(no body) = %v", err)
	}
	e.v.Seal()
	if _, err := e.s.UserByName(e.ctx, "zed"); !errors.Is(err, keys.ErrSealed) {
		t.Fatalf("UserByName while sealed: %v", err)
	}
	if _, err := e.s.List(e.ctx); !errors.Is(err, keys.ErrSealed) {
		t.Fatalf("List while sealed: %v", err)
	}
}

// TestCiphertextBinding: a username or TOTP ciphertext moved to another
// account's row does not decrypt.
func TestCiphertextBinding(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	bob := e.create(admin.id, "bob", store.RoleCaseworker)
	mallory := e.create(admin.id, "mallory", store.RoleCaseworker)
	ub, um := e.user(bob.id), e.user(mallory.id)
	um.Username, um.TOTPSecret = ub.Username, ub.TOTPSecret
	if err := e.st.UpdateUser(e.ctx, um); err != nil {
		t.Fatal(err)
	}
	um = e.user(mallory.id)
	if _, err := e.s.Username(um); !errors.Is(err, keys.ErrDecrypt) {
		t.Fatalf("swapped username decrypted: %v", err)
	}
	// Mallory's row now carries bob's TOTP secret: bob's codes must not
	// log in as mallory.
	e.clk.Advance(30 * time.Second)
	in := LoginInput{Username: "mallory", Password: mallory.password, Code: e.code(bob)}
	if _, err := e.s.Login(e.ctx, in); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("swapped TOTP secret accepted: %v", err)
	}
}

func TestRehashOnLogin(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	u := e.user(admin.id)
	stronger := keys.KDFParams{Time: 2, MemoryKiB: 8 * 1024, Threads: 1}
	h, _ := hashPassword(admin.password, stronger)
	u.PasswordHash = h
	if err := e.st.UpdateUser(e.ctx, u); err != nil {
		t.Fatal(err)
	}
	e.login(admin, "")
	got := e.user(admin.id).PasswordHash
	if got == h || !strings.HasPrefix(got, "$argon2id$v=19$m=8192,t=1,p=1$") || !verifyPassword(got, admin.password) {
		t.Fatalf("hash not upgraded to the configured costs: %q", got)
	}
}

func TestAuditNeverHoldsSecrets(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	bob := e.create(admin.id, "canary-Щука", store.RoleCaseworker)
	e.login(bob, "")
	e.clk.Advance(30 * time.Second)
	e.s.Login(e.ctx, LoginInput{Username: "canary-Щука", Password: "canary-password", Code: "123456"})
	e.s.Login(e.ctx, LoginInput{Username: "canary-nobody", Password: "canary-password", Code: "123456"})
	for _, a := range e.actions() {
		low := strings.ToLower(a)
		for _, s := range []string{"canary", "щука", strings.ToLower(bob.password), "123456", strings.ToLower(bob.secret)} {
			if strings.Contains(low, s) {
				t.Fatalf("audit entry %q contains %q", a, s)
			}
		}
	}
	rep, err := audit.Verify(e.ctx, e.st)
	if err != nil {
		t.Fatalf("audit chain: %v (%+v)", err, rep)
	}
}

// TestCanaryDatabase scans the database file and its WAL for a username,
// its password and TOTP secret in any common encoding: a seized disk must
// not reveal who works here.
func TestCanaryDatabase(t *testing.T) {
	e := newEnv(t)
	admin := e.setup()
	c, err := e.s.CreateUser(e.ctx, admin.id, "canary-Щука", store.RoleCaseworker)
	if err != nil {
		t.Fatal(err)
	}
	bob := account{id: c.User.ID, name: "canary-Щука", password: c.Password, secret: c.OTPSecret}
	r := e.login(bob, "")
	if err := e.s.ChangePasswordKeepSession(e.ctx, r.SessionToken, bob.password, "canary-new-password-Щ"); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(30 * time.Second)
	e.s.Login(e.ctx, LoginInput{Username: "canary-Щука", Password: "wrong", Code: "000000"})
	raw, _ := decodeTOTPSecret(bob.secret)

	needles := map[string][]byte{}
	for _, s := range []string{"canary-Щука", "canary-щука", "Щука", "щука", "canary", "CANARY"} {
		needles[s] = []byte(s)
		needles[s+" (hex)"] = []byte(hex.EncodeToString([]byte(s)))
		needles[s+" (base64)"] = []byte(base64.StdEncoding.EncodeToString([]byte(s))[:len(s)*4/3])
	}
	needles["password"] = []byte(bob.password)
	needles["new password"] = []byte("canary-new-password")
	needles["totp secret"] = []byte(bob.secret)
	needles["totp secret raw"] = raw
	needles["totp secret hex"] = []byte(hex.EncodeToString(raw))
	needles["session token"] = []byte(r.SessionToken)
	needles["device token"] = []byte(r.DeviceToken)

	scan := func(when string) {
		found := false
		for _, suffix := range []string{"", "-wal", "-shm"} {
			b, err := os.ReadFile(e.path + suffix)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			found = found || len(b) > 0
			for name, n := range needles {
				if bytes.Contains(b, n) {
					t.Errorf("%s: %s%s contains the %s", when, filepath.Base(e.path), suffix, name)
				}
			}
		}
		if !found {
			t.Fatalf("%s: nothing to scan", when)
		}
	}
	scan("open")
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}
	scan("closed")
}
