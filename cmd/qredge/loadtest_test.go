package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadtestSeedAndRun: 'qredge loadtest seed' fills a data directory,
// qredge serve answers from it, and 'qredge loadtest run' drives it for a
// second with a JSON report. Figures are not asserted (timing), only that
// every request was answered as expected.
func TestLoadtestSeedAndRun(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"loadtest", "seed", "--data-dir", dir, "--n", "2000", "--prefix", "lt"}, &out, &errb); code != 0 {
		t.Fatalf("seed: %d %s", code, errb.String())
	}
	if code := run(context.Background(), []string{"loadtest", "seed", "--data-dir", dir, "--n", "5", "--prefix", "lt"}, &out, &errb); code == 0 {
		t.Fatal("seeding existing codes again succeeded")
	}
	for _, bad := range [][]string{{"loadtest", "seed"}, {"loadtest", "seed", "--data-dir", dir, "--n", "0"}, {"loadtest", "nope"},
		{"loadtest", "run", "--profile", "sideways"}, {"loadtest", "run", "--schedule", filepath.Join(dir, "missing")}} {
		errb.Reset()
		if code := run(context.Background(), bad, &out, &errb); code == 0 || errb.Len() == 0 {
			t.Errorf("%v: exit %d, stderr %q", bad, code, errb.String())
		}
	}
	s, _ := mustStartServe(t, dir, nil)
	report := filepath.Join(dir, "report.json")
	out.Reset()
	errb.Reset()
	args := []string{"loadtest", "run", "--target", "http://" + s.Addr(), "--codes-prefix", "lt", "--codes", "2000",
		"--rate", "400", "--duration", "1s", "--unknown", "0.1", "--report", report, "--quiet"}
	if code := run(context.Background(), args, &out, &errb); code != 0 {
		t.Fatalf("run: %d %s", code, errb.String())
	}
	var rep struct {
		Total struct {
			Intended int64 `json:"intended"`
			OK       int64 `json:"ok"`
			Errors   int64 `json:"errors"`
			Statuses map[string]int64
		} `json:"total"`
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Total.Intended != 400 || rep.Total.OK != 400 || rep.Total.Errors != 0 || rep.Total.Statuses["404"] == 0 || rep.Total.Statuses["302"] == 0 {
		t.Fatalf("report totals %+v; stdout %s", rep.Total, out.String())
	}
	if !strings.Contains(out.String(), "latency from the intended send time") {
		t.Fatalf("summary line: %q", out.String())
	}
}
