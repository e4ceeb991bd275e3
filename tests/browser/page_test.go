package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/spellcoven/gateway/event"
)

// artifactsDir receives the screenshots (git-ignored).
const artifactsDir = "artifacts"

// page is one tab of a fresh headless Chromium, and what the page wrote to its console.
type page struct {
	t   *testing.T
	ctx context.Context

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

// openPage starts Chromium with a fresh profile and opens a tab. Chromium stops when the test ends.
// The flags keep it from reaching for the network (there is none) and accept the sandbox's local
// certificate authority, which this throwaway profile does not trust.
func openPage(t *testing.T, extra ...chromedp.ExecAllocatorOption) *page {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("ignore-certificate-errors", true),
		// Table view plays the room's voices as the watch button is clicked; headless Chromium
		// gets no user gesture from a test's click otherwise.
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	}
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	p := &page{t: t, ctx: ctx}
	messages := chromedp.Console(ctx)
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for m, err := range messages {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.console = append(p.console, m)
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		<-collected
	})
	// The first action starts the browser; it gets no deadline of its own, which would end the
	// browser with it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return p
}

// do runs actions within d; what names them in the failure.
func (p *page) do(what string, d time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v%s", what, err, p.debug())
	}
}

// eval evaluates a JavaScript expression and decodes its JSON value into v.
func (p *page) eval(expr string, v any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr))
	if err != nil {
		p.t.Fatalf("evaluating %s: %v", expr, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		p.t.Fatalf("evaluating %s: %v (%s)", expr, err, raw)
	}
}

// evalAwait evaluates a JavaScript expression whose value is a promise, and decodes what it
// resolves to into v.
func (p *page) evalAwait(expr string, v any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("evaluating %.200s: %v%s", expr, err, p.debug())
	}
	if err := json.Unmarshal(raw, v); err != nil {
		p.t.Fatalf("evaluating %.200s: %v (%s)", expr, err, raw)
	}
}

// waitJS waits until the JavaScript expression is true in the page, at most d.
func (p *page) waitJS(what, expr string, d time.Duration) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, d+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		p.t.Fatalf("%s, within %v: %v%s", what, d, err, p.debug())
	}
}

// waitUntil polls check every 100 ms until it returns nil, at most d, and fails with its last error.
func (p *page) waitUntil(what string, d time.Duration, check func() error) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s, within %v: %v%s", what, d, err, p.debug())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pageDebug is window.covenDebug as the demo page exposes it.
type pageDebug struct {
	State *struct {
		Status   string            `json:"status"`
		Discord  string            `json:"discord"`
		Position *event.Position   `json:"position"`
		Rooms    []event.RoomState `json:"rooms"`
	} `json:"state"`
	Statuses []string `json:"statuses"`
	Errors   []string `json:"errors"`
}

func (p *page) covenDebug() pageDebug {
	p.t.Helper()
	var d pageDebug
	p.eval(`({state: window.covenDebug.state, statuses: window.covenDebug.statuses, errors: window.covenDebug.errors})`, &d)
	return d
}

// debug describes the page for a failure message: the client's status, its history, the errors
// shown and the console's exceptions. It never fails the test itself.
func (p *page) debug() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](
		`JSON.stringify({status: window.covenDebug?.state?.status, statuses: window.covenDebug?.statuses, errors: window.covenDebug?.errors})`))
	var b strings.Builder
	if err == nil {
		fmt.Fprintf(&b, "\npage: %s", raw)
	}
	for _, m := range p.consoleMessages() {
		fmt.Fprintf(&b, "\nconsole %s: %s", m.Type, m)
	}
	return b.String()
}

func (p *page) consoleMessages() []chromedp.ConsoleMessage {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]chromedp.ConsoleMessage(nil), p.console...)
}

// shownRoom is a room as the page draws it: what a person sees.
type shownRoom struct {
	ID      string        `json:"id"`
	Name    string        `json:"name"`
	Members []shownMember `json:"members"`
}

type shownMember struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Badges []string `json:"badges"`
}

// shownRooms reads the rooms list from the DOM.
func (p *page) shownRooms() []shownRoom {
	p.t.Helper()
	var rooms []shownRoom
	p.eval(`[...document.querySelectorAll('[data-testid="room"]')].map((li) => ({
		id: li.dataset.roomId,
		name: li.querySelector('[data-testid="room-name"]').textContent,
		members: [...li.querySelectorAll('[data-testid="member"]')].map((m) => ({
			id: m.dataset.userId,
			name: m.querySelector('[data-testid="member-name"]').textContent,
			badges: [...m.querySelectorAll('[data-testid="badge"]')].map((b) => b.dataset.flag),
		})),
	}))`, &rooms)
	return rooms
}

// selectOption picks an option of a <select> as a person would, firing its change event.
func (p *page) selectOption(testID, value string) {
	p.t.Helper()
	var ok bool
	p.eval(fmt.Sprintf(`(() => {
		const s = document.querySelector('select[data-testid=%q]');
		if (![...s.options].some((o) => o.value === %q)) return false;
		s.value = %q;
		s.dispatchEvent(new Event('change', {bubbles: true}));
		return true;
	})()`, testID, value, value), &ok)
	if !ok {
		p.t.Fatalf("the %s list has no option %q%s", testID, value, p.debug())
	}
}

// screenshot writes a full-page PNG to artifacts/name and returns its path.
func (p *page) screenshot(name string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll(artifactsDir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	path := filepath.Join(artifactsDir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	return path
}

// byTestID selects the first element with a data-testid.
func byTestID(id string) chromedp.CSS {
	return chromedp.CSS(fmt.Sprintf(`[data-testid=%q]`, id))
}
