// Package browsertest starts Debian's headless Chromium for tests, driven
// with chromedp, and collects what the page logs: console messages, CSP
// violations and uncaught exceptions. Without chromium the tests fail if
// CI is set and are skipped otherwise; .ci/run installs it.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Browser is one headless Chromium with one tab.
type Browser struct {
	Ctx context.Context // run chromedp actions with it

	mu   sync.Mutex
	logs []string
}

// path finds the browser: $CHROMIUM, else chromium on PATH.
func path(tb testing.TB) string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		tb.Fatal("chromium is not installed; .ci/run installs it (apt-get install chromium)")
	}
	tb.Skip("chromium is not installed (under CI this fails instead)")
	return ""
}

// MustStart starts a browser for the test; it is closed at its end. Every
// action has at most timeout.
// With -short it skips: a browser start costs seconds of CPU.
func MustStart(tb testing.TB, timeout time.Duration) *Browser {
	tb.Helper()
	if testing.Short() {
		tb.Skip("a browser test; not with -short")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path(tb)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(tb.TempDir()),
		// No connection anywhere but the page's own server.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	tb.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	// The first Do starts the browser, bound to ctx (which has no
	// timeout); each action then runs under Ctx's.
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("cannot start chromium: %v", err)
	}
	b := &Browser{}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			b.add(string(m.Type) + ": " + m.String())
		}
	}()
	tctx, cancel := context.WithTimeout(ctx, timeout)
	tb.Cleanup(cancel)
	b.Ctx = tctx
	return b
}

func (b *Browser) add(s string) {
	b.mu.Lock()
	b.logs = append(b.logs, s)
	b.mu.Unlock()
}

// Logs returns what the page logged so far.
func (b *Browser) Logs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.logs...)
}

// Screenshot writes a PNG of the page to dir/name.png when dir is not
// empty (QREDGE_SCREENSHOTS: make console-screenshots).
func (b *Browser) Screenshot(tb testing.TB, name string) {
	tb.Helper()
	dir := os.Getenv("QREDGE_SCREENSHOTS")
	if dir == "" {
		return
	}
	buf, err := chromedp.Run(b.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		tb.Fatal(err)
	}
}
