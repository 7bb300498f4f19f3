package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
)

// stepTimeout bounds one browser step (a navigation, a click and the page
// it loads, a query), so that a broken page fails the test rather than
// hanging it.
const stepTimeout = 30 * time.Second

// chromiumPath finds Chromium: CORRIDOR_CHROMIUM, else chromium (Debian's
// package) or a Chrome on PATH. Without one the test is skipped, or fails
// when CORRIDOR_REQUIRE_BROWSER=1 (as in CI).
func chromiumPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CORRIDOR_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CORRIDOR_REQUIRE_BROWSER") == "1" {
		t.Fatal("no Chromium found (install Debian's chromium package or set CORRIDOR_CHROMIUM), and CORRIDOR_REQUIRE_BROWSER=1")
	}
	t.Skip("no Chromium found; install Debian's chromium package or set CORRIDOR_CHROMIUM (CORRIDOR_REQUIRE_BROWSER=1 makes this a failure)")
	return ""
}

// browser is one headless Chromium process with a fresh profile.
type browser struct {
	ctx    context.Context // the browser's first tab; new tabs derive from it
	output *syncBuffer     // what Chromium printed, for failure messages
}

func startBrowser(t testing.TB) *browser {
	t.Helper()
	path := chromiumPath(t)
	b := &browser{output: &syncBuffer{}}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1024, 768),
		chromedp.CombinedOutput(b.output),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	// Registered after t.TempDir, so it runs first: Chromium exits before
	// its profile directory is removed.
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first action starts the browser and binds its life to ctx, so it
	// has no timeout of its own; the allocator gives up on a browser that
	// does not start.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium (%s): %v\n%s", path, err, b.output)
	}
	b.ctx = ctx
	return b
}

// tab is a tab in a browser context of its own (like a separate browser
// profile): its own cookies, cache and storage.
type tab struct {
	t     testing.TB
	b     *browser
	ctx   context.Context
	name  string
	js    bool
	shots string // CORRIDOR_SCREENSHOTS, or "" for none
}

// newTab opens a tab in a new browser context. With js false, the page's
// scripts are disabled (Emulation.setScriptExecutionDisabled), as in Tor
// Browser's "Safest" mode; the test still inspects the page through the
// DevTools protocol.
func (b *browser) newTab(t testing.TB, name string, js bool) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: opening a tab: %v\n%s", name, err, b.output)
	}
	tb := &tab{t: t, b: b, ctx: ctx, name: name, js: js, shots: os.Getenv("CORRIDOR_SCREENSHOTS")}
	if !js {
		tb.call(func(ctx context.Context) error {
			_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		}, "disable JavaScript")
	}
	return tb
}

func (tb *tab) call(f func(ctx context.Context) error, what string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if err := f(ctx); err != nil {
		tb.t.Fatalf("%s: %s: %v", tb.name, what, err)
	}
}

// do runs steps, failing the test on the first error.
func (tb *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	tb.call(func(ctx context.Context) error { return chromedp.Do(ctx, steps...) }, what)
}

// run runs one action on a tab and returns its value, failing the test on
// error. (A function, because methods cannot have type parameters.)
func run[T any](tb *tab, what string, a chromedp.Action[T]) T {
	tb.t.Helper()
	var v T
	tb.call(func(ctx context.Context) error {
		var err error
		v, err = chromedp.Run(ctx, a)
		return err
	}, what)
	return v
}

// open navigates and returns the HTTP status of the document.
func (tb *tab) open(url string) int64 {
	tb.t.Helper()
	return run(tb, "open "+url, chromedp.NavigateResponse(url)).Status
}

// submit clicks a form's submit button as a person would (a real mouse
// click; the browser submits the form natively, no JavaScript involved)
// and returns the HTTP status of the page it lands on.
func (tb *tab) submit(buttonSel string) int64 {
	tb.t.Helper()
	var resp *network.Response
	tb.call(func(ctx context.Context) error {
		var err error
		resp, err = chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(buttonSel)))
		return err
	}, "submit with "+buttonSel)
	return resp.Status
}

// typeInto types text into a field with key events.
func (tb *tab) typeInto(sel, text string) {
	tb.t.Helper()
	tb.do("type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), text))
}

// click clicks an element that does not navigate (a radio, a checkbox).
func (tb *tab) click(sel string) {
	tb.t.Helper()
	tb.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// text returns the rendered text of the first element matching sel.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return run(tb, "text of "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// texts returns the text content of every element matching sel (none is
// fine).
func (tb *tab) texts(sel string) []string {
	tb.t.Helper()
	return run(tb, "texts of "+sel, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll(`+jsString(sel)+`), e => e.textContent)`))
}

// location returns the tab's URL.
func (tb *tab) location() string {
	tb.t.Helper()
	return run(tb, "location", chromedp.Location())
}

// cookies returns every cookie of the tab's browser context, for any site.
func (tb *tab) cookies() []*network.Cookie {
	tb.t.Helper()
	var res storage.GetCookiesResult
	tb.call(func(ctx context.Context) error {
		var err error
		res, err = chromedp.CallBrowser(ctx, storage.GetCookies, storage.GetCookiesParams{
			BrowserContextID: chromedp.FromContext(tb.ctx).BrowserContextID,
		})
		return err
	}, "read cookies")
	return res.Cookies
}

// screenshot saves a full-page PNG as DIR/NAME.png when
// CORRIDOR_SCREENSHOTS=DIR is set.
func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	if tb.shots == "" {
		return
	}
	png := run(tb, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.MkdirAll(tb.shots, 0o755); err != nil {
		tb.t.Fatal(err)
	}
	path := filepath.Join(tb.shots, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Logf("screenshot: %s", path)
}

// jsString quotes s as a JavaScript string literal (JSON is a subset).
func jsString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}
