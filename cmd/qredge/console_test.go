package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/qredge/qredge/internal/browsertest"
	"github.com/qredge/qredge/qr/qrtest"
)

const (
	iPhoneUA  = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1"
	desktopUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
)

// console is a browser signed in to the console of a running serve.
type console struct {
	t    *testing.T
	b    *browsertest.Browser
	base string
}

func mustOpenConsole(t *testing.T, s *Serve, key string) *console {
	t.Helper()
	c := &console{t: t, b: browsertest.MustStart(t, 2*time.Minute), base: "http://" + s.Addr()}
	c.do(chromedp.Navigate(c.base+"/ui/"),
		chromedp.WaitVisible(chromedp.ID("api-key")),
		chromedp.SendKeys(chromedp.ID("api-key"), key),
		chromedp.Click(chromedp.CSS("button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("f-tag")))
	return c
}

func (c *console) do(steps ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	if err := chromedp.Do(c.b.Ctx, steps...); err != nil {
		c.t.Fatalf("browser: %v\npage log:\n%s", err, strings.Join(c.b.Logs(), "\n"))
	}
}

func (c *console) text(sel string) string {
	c.t.Helper()
	s, err := chromedp.Run(c.b.Ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		c.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// waitJS waits until the JavaScript expression is true.
func (c *console) waitJS(expr string, timeout time.Duration) {
	c.t.Helper()
	if _, err := chromedp.Run(c.b.Ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(timeout))); err != nil {
		c.t.Fatalf("waiting for %s: %v\npage log:\n%s", expr, err, strings.Join(c.b.Logs(), "\n"))
	}
}

// typeInto types text into an input, replacing what it held.
func (c *console) typeInto(sel, text string) {
	c.t.Helper()
	q, _ := json.Marshal(sel)
	c.do(chromedp.Evaluate[chromedp.Void]("document.querySelector("+string(q)+").value = ''"), chromedp.SendKeys(chromedp.CSS(sel), text))
}

// noPageErrors fails on any exception, CSP violation or console error the
// page logged.
func (c *console) noPageErrors() {
	c.t.Helper()
	for _, l := range c.b.Logs() {
		low := strings.ToLower(l)
		// A refused request (the sign-in page's probe of the session)
		// is the browser's log line, not the page's error.
		if strings.Contains(low, "failed to load resource") {
			continue
		}
		if strings.HasPrefix(low, "error") || strings.HasPrefix(low, "exception") || strings.Contains(low, "content security policy") {
			c.t.Errorf("the page logged: %s", l)
		}
	}
}

// TestConsoleCampaign is what a marketer does: sign in, create a link with
// a 70/30 A/B split and an iOS rule, download its QR image and decode it,
// scan the code with an iPhone and with a desktop browser, and see both
// scans, told apart by device and source, on the link's stats page.
func TestConsoleCampaign(t *testing.T) {
	s, key := mustStartServeFirst(t, t.TempDir())
	c := mustOpenConsole(t, s, key)

	c.b.Screenshot(t, "console-links")
	c.do(chromedp.Navigate(c.base+"/ui/#/new"), chromedp.WaitVisible(chromedp.ID("destination")))
	c.typeInto("#code", "drop70")
	c.typeInto("#destination", "https://example.com/a")
	c.do(chromedp.Click(chromedp.CSS(`fieldset[data-field="variants"] > button`)),
		chromedp.Click(chromedp.CSS(`fieldset[data-field="variants"] > button`)))
	for i, v := range []struct{ name, dest, weight string }{{"A", "https://example.com/a", "70"}, {"B", "https://example.com/b", "30"}} {
		row := `[data-field="variants[` + string(rune('0'+i)) + `]"] `
		c.typeInto(row+`input[id^="vname"]`, v.name)
		c.typeInto(row+`input[id^="vdest"]`, v.dest)
		c.typeInto(row+`input[id^="vweight"]`, v.weight)
	}
	if got := c.text(`[data-field="variants[0]"] .pct`) + c.text(`[data-field="variants[1]"] .pct`); got != "(70%)(30%)" {
		t.Fatalf("the split shows %q, want (70%%)(30%%)", got)
	}
	c.do(chromedp.Click(chromedp.CSS(`fieldset[data-field="rules"] > button`)),
		chromedp.Click(chromedp.CSS(`[data-field="rules[0]"] input[value="ios"]`)))
	c.typeInto(`[data-field="rules[0].destination"] input`, "https://apps.apple.com/app/drop70")
	c.b.Screenshot(t, "console-new-link")
	c.do(chromedp.Click(chromedp.CSS(`form.grid button[type=submit]`)), chromedp.WaitVisible(chromedp.ID("qr-png")))
	if h1 := c.text("h1"); !strings.HasPrefix(h1, "drop70") {
		t.Fatalf("after create the page is %q", h1)
	}

	// The QR image, downloaded as the PNG link does (with the session).
	c.waitJS(`document.getElementById("qr-png").href.includes("format=png")`, 10*time.Second)
	b64, err := chromedp.Run(c.b.Ctx, chromedp.Evaluate[string](`fetch(document.getElementById("qr-png").href).then(r => r.arrayBuffer())
		.then(b => btoa(String.fromCharCode(...new Uint8Array(b))))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("the QR download is no PNG: %v", err)
	}
	scanURL, err := qrtest.Decode(img)
	if err != nil {
		t.Fatal(err)
	}
	if want := c.base + "/drop70?q"; scanURL != want {
		t.Fatalf("the QR code reads %q, want %q", scanURL, want)
	}

	// Two scans of the printed code.
	for ua, want := range map[string][]string{iPhoneUA: {"https://apps.apple.com/app/drop70"}, desktopUA: {"https://example.com/a", "https://example.com/b"}} {
		r, err := http.NewRequest("GET", scanURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("User-Agent", ua)
		resp, err := noRedirect.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != 302 || !contains(want, loc) {
			t.Fatalf("scan as %.20s: %d to %q, want 302 to one of %v", ua, resp.StatusCode, loc, want)
		}
	}

	// The stats page refreshes by itself until both scans show.
	c.waitJS(`document.getElementById("st-total")?.textContent === "2"`, 30*time.Second)
	device := c.text(`[data-breakdown="device"]`)
	source := c.text(`#st-source`)
	if !strings.Contains(device, "ios1") || !strings.Contains(device, "desktop1") || source != "2 / 0" {
		t.Fatalf("stats show device %q and QR scans / clicks %q; want ios 1, desktop 1 and 2 / 0", device, source)
	}
	c.b.Screenshot(t, "console-link")
	c.noPageErrors()
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}
