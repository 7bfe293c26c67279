package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/qredge/qredge/internal/browsertest"
	"github.com/qredge/qredge/internal/testwait"
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
		page, _ := chromedp.Run(c.b.Ctx, chromedp.Evaluate[string](`location.hash + "\n" + document.querySelector("main").innerText`))
		c.t.Fatalf("waiting for %s: %v\npage %s\npage log:\n%s", expr, err, page, strings.Join(c.b.Logs(), "\n"))
	}
}

// typeInto types text into an input, replacing what it held.
func (c *console) typeInto(sel, text string) {
	c.t.Helper()
	q, _ := json.Marshal(sel)
	c.do(chromedp.Evaluate[chromedp.Void]("document.querySelector("+string(q)+").value = ''"), chromedp.SendKeys(chromedp.CSS(sel), text))
}

// newLink opens the new-link form, types the code and the destination,
// and adds empty variant rows.
func (c *console) newLink(code, dest string, variants int) {
	c.t.Helper()
	c.do(chromedp.Navigate(c.base+"/ui/#/new"), chromedp.WaitVisible(chromedp.ID("destination")))
	c.typeInto("#code", code)
	c.typeInto("#destination", dest)
	for range variants {
		c.do(chromedp.Click(chromedp.CSS(`fieldset[data-field="variants"] > button`)))
	}
}

// unlabelled fails on a form control of the page without a label.
func (c *console) unlabelled() {
	c.t.Helper()
	ids, err := chromedp.Run(c.b.Ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("main input, main select, main textarea")]
		.filter(i => i.labels.length === 0 && !i.getAttribute("aria-label")).map(i => i.id || i.outerHTML)`))
	if err != nil || len(ids) > 0 {
		c.t.Errorf("form controls without a label: %v (%v)", ids, err)
	}
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

	c.newLink("drop70", "https://example.com/a", 2)
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
	bars, err := chromedp.Run(c.b.Ctx, chromedp.Evaluate[int](`document.querySelectorAll("#stats svg rect.qr-bar").length`))
	if err != nil || bars != 1 {
		t.Errorf("the QR scans' series has %d bars, want 1 (%v)", bars, err)
	}
	c.b.Screenshot(t, "console-link")
	c.do(chromedp.Navigate(c.base + "/ui/#/links"))
	c.waitJS(`document.querySelector("main tbody tr td.num")?.textContent === "2"`, 10*time.Second)
	c.b.Screenshot(t, "console-links")

	// The export of the current filter, as the browser would save it.
	c.do(chromedp.Evaluate[chromedp.Void](`(() => { const orig = URL.createObjectURL;
		URL.createObjectURL = (b) => { b.text().then((t) => { window.__csv = t; }); return orig(b); }; })()`),
		chromedp.Click(chromedp.CSS(`main p > button.secondary`)))
	c.waitJS(`typeof window.__csv === "string"`, 10*time.Second)
	csv, err := chromedp.Run(c.b.Ctx, chromedp.Evaluate[string](`window.__csv`))
	if err != nil || !strings.HasPrefix(csv, "code,domain,destination,status,tags,disabled,created_at\r\ndrop70,,https://example.com/a,302,") {
		t.Errorf("the CSV export is %q (%v)", csv, err)
	}

	// On a phone's screen nothing is wider than the screen.
	c.do(chromedp.EmulateViewport(390, 844))
	c.waitJS(`document.documentElement.scrollWidth <= 390`, 5*time.Second)
	c.do(chromedp.Navigate(c.base + "/ui/#/links/drop70"))
	c.waitJS(`document.getElementById("destination") && document.documentElement.scrollWidth <= 390`, 10*time.Second)
	c.b.Screenshot(t, "console-phone")
	c.do(chromedp.EmulateViewport(1280, 900))

	// Where does it send an iPhone in Canada?
	c.do(chromedp.Navigate(c.base+"/ui/#/links/drop70"), chromedp.WaitVisible(chromedp.ID("rs-device")),
		chromedp.SetValue(chromedp.ID("rs-device"), "ios"))
	c.typeInto("#rs-country", "CA")
	c.do(chromedp.Click(chromedp.ID("rs-go")))
	c.waitJS(`document.getElementById("rs-out").textContent.includes("apps.apple.com")`, 10*time.Second)
	if got := c.text("#rs-out"); !strings.Contains(got, "reason: rule 1") || !strings.HasPrefix(got, "302") {
		t.Errorf("resolve shows %q", got)
	}
	// Colours a phone cannot read are refused, with the reason.
	c.do(chromedp.Evaluate[chromedp.Void](`(() => { const f = document.getElementById("qr-fg"); f.value = "#eeeeee"; f.dispatchEvent(new Event("change")); })()`))
	c.waitJS(`document.getElementById("qr-note").textContent.includes("contrast ratio")`, 10*time.Second)

	// The campaign's top links, by tag.
	mustAPI(t, c.base, "PATCH", "/links/drop70", key, `{"tags":["superbowl"]}`, 200)
	c.do(chromedp.Navigate(c.base + "/ui/#/top?days=1&tag=superbowl"))
	c.waitJS(`document.getElementById("top-sum")?.textContent === "2 scans of the top 1 links tagged superbowl."`, 10*time.Second)
	campaign, err := chromedp.Run(c.b.Ctx, chromedp.Evaluate[string](`fetch(document.getElementById("top-csv").href).then(r => r.text())`, chromedp.EvalAwaitPromise))
	if err != nil || !strings.HasPrefix(campaign, "time,total,qr,link,humans,bots,unique_visitors\n") || !strings.Contains(campaign, ",2,2,0,2,0,2\n") {
		t.Errorf("the campaign's CSV: %q (%v)", campaign, err)
	}
	c.do(chromedp.Navigate(c.base + "/ui/#/top?days=1&tag=other"))
	c.waitJS(`document.querySelector("main").textContent.includes("No scans in this period.")`, 10*time.Second)

	// Admin: a key is created and shown once, then revoked; the audit
	// log names who changed what.
	c.do(chromedp.Navigate(c.base+"/ui/#/keys"), chromedp.WaitVisible(chromedp.ID("key-name")))
	c.typeInto("#key-name", "printer")
	c.do(chromedp.SetValue(chromedp.ID("key-scope"), "read"), chromedp.Click(chromedp.CSS(`main form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("new-key")))
	secret := c.text("#new-key")
	mustAPI(t, c.base, "GET", "/links", secret, "", 200)
	c.waitJS(`[...document.querySelectorAll("main tbody tr")].some(r => r.textContent.startsWith("printer"))`, 10*time.Second)
	c.do(chromedp.Evaluate[chromedp.Void](`window.confirm = () => true;
		[...document.querySelectorAll("main tbody tr")].find(r => r.textContent.startsWith("printer")).querySelector("button.danger").click()`))
	c.waitJS(`document.querySelector("main tbody tr") && ![...document.querySelectorAll("main tbody tr")].some(r => r.textContent.startsWith("printer"))`, 10*time.Second)
	mustAPI(t, c.base, "GET", "/links", secret, "", 401)
	c.do(chromedp.Navigate(c.base + "/ui/#/audit"))
	c.waitJS(`document.querySelector("main tbody")?.textContent.includes("drop70")`, 10*time.Second)

	// Signing out ends the session on the server: its cookie is refused.
	cookie, err := chromedp.Run(c.b.Ctx, chromedp.Evaluate[string](`document.cookie`))
	if err != nil || cookie != "" {
		t.Errorf("the page can read the session cookie %q (%v)", cookie, err)
	}
	c.do(chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("api-key")))
	status, err := chromedp.Run(c.b.Ctx, chromedp.Evaluate[int](`fetch("/api/v1/links").then(r => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil || status != 401 {
		t.Errorf("after sign-out the browser's request got %d (%v), want 401", status, err)
	}
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

// mustAPI sends an API request with key and wants status.
func mustAPI(t *testing.T, base, method, path, key, body string, want int) string {
	t.Helper()
	resp, b := req(t, method, base+"/api/v1"+path, key, body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	return b
}

// TestConsoleGuards: the API's validation errors appear next to their
// fields; a change made elsewhere meanwhile is shown, not overwritten; a
// bulk upload reports its bad rows; markup in stored fields stays text;
// a read key changes nothing.
func TestConsoleGuards(t *testing.T) {
	s, key := mustStartServeFirst(t, t.TempDir())
	c := mustOpenConsole(t, s, key)

	// Validation errors, each next to its field.
	c.newLink("bad code", "ftp://example.com/", 1)
	c.typeInto(`[data-field="variants[0]"] input[id^="vdest"]`, "https://example.com/v")
	c.typeInto(`[data-field="variants[0]"] input[id^="vweight"]`, "0")
	c.do(chromedp.Click(chromedp.CSS(`form.grid button[type=submit]`)))
	c.waitJS(`document.getElementById("destination-err").textContent !== ""`, 10*time.Second)
	for _, sel := range []string{"#code-err", "#destination-err", `[data-field="variants[0].weight"] > .field-error`} {
		if c.text(sel) == "" {
			t.Errorf("no error shown at %s; the page shows %q", sel, c.text("form.grid"))
		}
	}
	if got := c.text("#destination-err"); !strings.Contains(got, "http") {
		t.Errorf("destination error %q does not say what is wanted", got)
	}
	mustAPI(t, c.base, "GET", "/links/bad%20code", key, "", 400)

	c.unlabelled()

	// A concurrent change is shown, not overwritten.
	mustAPI(t, c.base, "POST", "/links", key, `{"code":"shared","destination":"https://example.com/v1"}`, 201)
	c.do(chromedp.Navigate(c.base+"/ui/#/links/shared"), chromedp.WaitVisible(chromedp.ID("destination")))
	c.unlabelled()
	mustAPI(t, c.base, "PATCH", "/links/shared", key, `{"destination":"https://example.com/theirs"}`, 200)
	c.typeInto("#destination", "https://example.com/mine")
	c.do(chromedp.Click(chromedp.CSS(`form.grid button[type=submit]`)))
	c.waitJS(`document.querySelector("form.grid .error")?.textContent.includes("Someone changed this link")`, 10*time.Second)
	if b := mustAPI(t, c.base, "GET", "/links/shared", key, "", 200); !strings.Contains(b, "https://example.com/theirs") {
		t.Fatalf("the other change was overwritten: %s", b)
	}

	// A title, a password, a scan limit and gone_url from the form; the
	// list shows the title; the password can be removed.
	c.newLink("vip", "https://example.com/vip", 0)
	c.typeInto("#title", "VIP launch")
	c.typeInto("#password", "open sesame")
	c.typeInto("#max_scans", "50")
	c.typeInto("#gone_url", "https://example.com/sold-out")
	c.do(chromedp.Click(chromedp.CSS(`form.grid button[type=submit]`)), chromedp.WaitVisible(chromedp.ID("remove_password")))
	for _, want := range []string{`"title":"VIP launch"`, `"password_protected":true`, `"max_scans":50`, `"gone_url":"https://example.com/sold-out"`} {
		if b := mustAPI(t, c.base, "GET", "/links/vip", key, "", 200); !strings.Contains(b, want) {
			t.Fatalf("the link made in the form lacks %s: %s", want, b)
		}
	}
	c.unlabelled()
	c.do(chromedp.Click(chromedp.ID("remove_password")), chromedp.Click(chromedp.CSS(`form.grid button[type=submit]`)))
	testwait.For(t, 10*time.Second, "the password removed", func() bool {
		return strings.Contains(mustAPI(t, c.base, "GET", "/links/vip", key, "", 200), `"password_protected":false`)
	})
	c.do(chromedp.Navigate(c.base + "/ui/#/links"))
	c.waitJS(`document.querySelector("main table")?.innerText.includes("VIP launch")`, 10*time.Second)

	// Bulk upload with a bad row.
	file := filepath.Join(t.TempDir(), "links.csv")
	csv := "code,destination,tags\nbulk1,https://example.com/1,spring\nbulk2,not a url,spring\nbulk3,https://example.com/3,spring\n"
	if err := os.WriteFile(file, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	c.do(chromedp.Navigate(c.base+"/ui/#/bulk"), chromedp.WaitVisible(chromedp.ID("bulk-file")),
		chromedp.SetUploadFiles(chromedp.ID("bulk-file"), []string{file}),
		chromedp.Click(chromedp.CSS(`form.grid button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("bulk-errors")))
	if got := c.text("#bulk-out .error"); got != "2 created, 1 failed." {
		t.Errorf("bulk report %q", got)
	}
	if row := c.text("#bulk-errors tbody tr"); !strings.HasPrefix(row, "3422") || !strings.Contains(row, "destination") {
		t.Errorf("bulk error row %q, want line 3, status 422, the destination named", row)
	}

	// JSON lines: the bad line is named by its number.
	jsonl := filepath.Join(t.TempDir(), "links.jsonl")
	lines := `{"code":"line1","destination":"https://example.com/l1"}` + "\n\n" + `{"code":"line3","destination":"nope"}` + "\n"
	if err := os.WriteFile(jsonl, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	c.do(chromedp.Navigate(c.base+"/ui/#/links"), chromedp.Navigate(c.base+"/ui/#/bulk"), chromedp.WaitVisible(chromedp.ID("bulk-file")),
		chromedp.SetUploadFiles(chromedp.ID("bulk-file"), []string{jsonl}),
		chromedp.Click(chromedp.CSS(`form.grid button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("bulk-errors")))
	if got, row := c.text("#bulk-out .error"), c.text("#bulk-errors tbody tr"); got != "1 created, 1 failed." || !strings.HasPrefix(row, "3422") {
		t.Errorf("JSON-lines report %q, row %q", got, row)
	}

	// All or nothing: the bad row keeps every row out, and is named.
	csv2 := "code,destination\nbulk4,https://example.com/4\nbulk5,not a url\n"
	if err := os.WriteFile(file, []byte(csv2), 0o644); err != nil {
		t.Fatal(err)
	}
	c.do(chromedp.Navigate(c.base+"/ui/#/links"), chromedp.Navigate(c.base+"/ui/#/bulk"), chromedp.WaitVisible(chromedp.ID("bulk-file")),
		chromedp.SetUploadFiles(chromedp.ID("bulk-file"), []string{file}),
		chromedp.Click(chromedp.ID("bulk-atomic")),
		chromedp.Click(chromedp.CSS(`form.grid button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("bulk-errors")))
	if got := c.text("#bulk-out .error"); got != "0 created, 1 failed (all or nothing: nothing was created)." {
		t.Errorf("atomic bulk report %q", got)
	}
	mustAPI(t, c.base, "GET", "/links/bulk4", key, "", 404)

	// Search across all links, by code or destination.
	c.do(chromedp.Navigate(c.base+"/ui/#/links"), chromedp.WaitVisible(chromedp.ID("f-q")))
	c.typeInto("#f-q", "EXAMPLE.COM/3")
	c.do(chromedp.Click(chromedp.CSS(`form[role=search] button[type=submit]`)))
	c.waitJS(`location.hash.includes("q=") && document.querySelectorAll("main tbody tr").length === 1`, 10*time.Second)
	if row := c.text("main tbody tr"); !strings.HasPrefix(row, "bulk3") {
		t.Errorf("searching EXAMPLE.COM/3 shows %q", row)
	}

	// Markup in stored fields is shown as text and runs nothing.
	evil := `https://example.com/?q="><img/src=x/onerror=window.__xss=1><script>window.__xss=2</script>`
	markup := `<b>bold</b><img src=x onerror=window.__xss=3>`
	body, _ := json.Marshal(map[string]any{"code": "xss", "destination": evil,
		"variants": []map[string]any{{"name": "A", "destination": evil, "weight": 1}, {"name": "B", "destination": evil, "weight": 1}},
		"rules":    []map[string]any{{"when": map[string]any{"query": map[string]string{"utm": markup}}, "destination": evil}}})
	var stored struct{ Destination string }
	if err := json.Unmarshal([]byte(mustAPI(t, c.base, "POST", "/links", key, string(body), 201)), &stored); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stored.Destination, "<script>") {
		t.Fatalf("the destination was stored as %q: no markup left to test", stored.Destination)
	}
	shown, _ := json.Marshal(stored.Destination)
	for page, shownAs := range map[string]string{
		"#/links":     `document.querySelector("main").textContent.includes(` + string(shown) + `)`,
		"#/links/xss": `document.getElementById("destination")?.value === ` + string(shown) + ` && [...document.querySelectorAll("main input")].some(i => i.value.includes("utm=<b>bold</b>"))`,
	} {
		c.do(chromedp.Navigate(c.base+"/ui/"+page), chromedp.WaitVisible(chromedp.CSS("main h1")))
		c.waitJS(shownAs, 10*time.Second)
		ran, err := chromedp.Run(c.b.Ctx, chromedp.Evaluate[bool](`window.__xss !== undefined || document.querySelector("main img[src='x'], main script, main b") !== null`))
		if err != nil || ran {
			t.Fatalf("%s: stored markup became markup (%v)", page, err)
		}
	}

	// A read key sees everything and changes nothing.
	var rk struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal([]byte(mustAPI(t, c.base, "POST", "/keys", key, `{"name":"viewer","scope":"read"}`, 201)), &rk); err != nil {
		t.Fatal(err)
	}
	c.do(chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("api-key")),
		chromedp.SendKeys(chromedp.ID("api-key"), rk.Key), chromedp.Click(chromedp.CSS("button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("f-tag")))
	c.waitJS(`document.querySelector("main tbody").textContent.includes("shared")`, 10*time.Second)
	c.do(chromedp.Navigate(c.base+"/ui/#/links/shared"), chromedp.WaitVisible(chromedp.ID("destination")))
	disabled, err := chromedp.Run(c.b.Ctx, chromedp.Evaluate[bool](`document.querySelector("form.grid button[type=submit]").disabled && document.querySelector("main > p > button.danger").disabled && document.querySelector("#nav a[href='#/keys']").hidden`))
	if err != nil || !disabled {
		t.Fatalf("a read key's page offers changes (%v)", err)
	}
	status, err := chromedp.Run(c.b.Ctx, chromedp.Evaluate[int](`fetch("/api/v1/session").then(r => r.json()).then(s =>
		fetch("/api/v1/links/shared", {method: "DELETE", headers: {"X-CSRF-Token": s.csrf_token}})).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil || status != 403 {
		t.Fatalf("a read key's session deleted a link: %d (%v)", status, err)
	}
	c.noPageErrors()
}
