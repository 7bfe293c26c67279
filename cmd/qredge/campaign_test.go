package main

import (
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qredge/qredge/qr/qrtest"
)

// campaignScript returns the README's campaign block (between <!--
// campaign --> and <!-- /campaign -->) as one shell script.
func campaignScript(t *testing.T) string {
	t.Helper()
	return strings.Join(readmeSection(t, "campaign"), "\n")
}

// TestCampaignBinary runs the README's campaign (bulk create, QR images,
// a scan through the image's URL) word for word against the built binary,
// then checks the images and that the scan is counted as a QR scan.
func TestCampaignBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: this test builds the binary")
	}
	mustLookCurl(t)
	if _, err := exec.LookPath("zbarimg"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("zbarimg is needed by the README campaign test; .ci/run installs zbar-tools")
		}
		t.Skip("zbarimg not installed (apt-get install zbar-tools; under CI this fails instead)")
	}
	bin := mustBuild(t)
	dir := t.TempDir()
	p := mustStartProc(t, bin, dir)
	defer p.stop(t)

	script := strings.ReplaceAll(campaignScript(t), "localhost:8080", p.addr)
	cmd := exec.Command("sh", "-ec", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "QREDGE_KEY="+p.key)
	var errOut strings.Builder
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("campaign script: %v\n%s\n%s", err, out, errOut.String())
	}
	o := string(out)
	qrURL := "http://" + p.addr + "/store-berlin?q"
	for _, want := range []string{`"created":3`, "\n" + qrURL + "\n", "HTTP/1.1 302", "Location: https://example.com/berlin"} {
		if !strings.Contains(o, want) {
			t.Fatalf("campaign output lacks %q:\n%s", want, o)
		}
	}

	// Every downloaded image holds its code's qr_url.
	for _, code := range []string{"store-berlin", "store-paris", "store-rome"} {
		b, err := os.ReadFile(filepath.Join(dir, code+".svg"))
		if err != nil {
			t.Fatal(err)
		}
		svg, err := qrtest.ParseSVG(b, 4)
		if err != nil {
			t.Fatalf("%s.svg: %v", code, err)
		}
		if got, err := qrtest.Decode(svg.Image); err != nil || got != "http://"+p.addr+"/"+code+"?q" {
			t.Fatalf("%s.svg decodes to %q, %v", code, got, err)
		}
	}
	f, err := os.Open(filepath.Join(dir, "store-berlin.png"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil || img.Bounds().Dx() != 1024 {
		t.Fatalf("store-berlin.png: %v, %v", img.Bounds(), err)
	}

	// The scan through the QR URL is counted as source qr.
	var st struct {
		Total      int64                       `json:"total"`
		Breakdowns map[string]map[string]int64 `json:"breakdowns"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://%s/api/v1/links/store-berlin/stats", p.addr), nil)
		req.Header.Set("Authorization", "Bearer "+p.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if st.Total >= 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st.Total != 1 || st.Breakdowns["source"]["qr"] != 1 {
		t.Fatalf("stats after one QR scan: total %d, by source %v", st.Total, st.Breakdowns["source"])
	}
}
