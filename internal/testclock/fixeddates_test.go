package testclock

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fixedDate matches a calendar date written into a test: time.Date with a
// literal year, or an RFC 3339 date in a string.
var fixedDate = regexp.MustCompile(`time\.Date\(\s*(19|20)\d\d\b|(19|20)\d\d-[01]\d-[0-3]\dT`)

// pureDates are the test files allowed to write calendar dates without
// this package, each with the reason the code under test never compares
// them with the real clock. A file that is not here takes its dates from
// Date or Shift, so that the run with the clock moved moves them too.
var pureDates = map[string]string{
	"analytics/aggregate/aggregate_test.go": "bucket arithmetic on given times",
	"api/stats_test.go":                     "query parsing with explicit from/to, checked against what was parsed",
	"api/api_test.go":                       "a resolve time given as a parameter and read back; schedules only stored and patched",
	"api/fuzz_test.go":                      "fuzz seeds for input decoding",
	"api/policy_test.go":                    "schedules only validated against the destination policy",
	"cmd/qredge/links_test.go":              "schedules only written to and read from files",
	"cmd/qredge-prescale/prescale_test.go":  "every evaluation is given its time with --now",
	"internal/prescale/drop_test.go":        "windows take the moment as an argument",
	"internal/prescale/hpa_test.go":         "windows and plans take the moment as an argument",
	"store/linkfile/csv_test.go":            "file format round trips",
	"store/linkfile/fuzz_test.go":           "fuzz seeds for the CSV reader",
	"store/policy_test.go":                  "schedules only validated",
	"store/validate_test.go":                "validation takes its time as an argument",
	"api/decode_test.go":                    "a date only in the text of an expected error message",
	"store/strictjson/strictjson_test.go":   "a date only in the text of expected error messages; its data takes dates from testclock",
}

// TestFixedDatesUseTheTestClock: a test that fixes a calendar date on its
// data takes the date from this package (or is a pure test listed above),
// so that QREDGE_TEST_CLOCK_OFFSET moves it.
func TestFixedDatesUseTheTestClock(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "deploy" || rel == "internal/testclock" || strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !fixedDate.Match(b) {
			return nil
		}
		seen[rel] = true
		if _, ok := pureDates[rel]; ok {
			return nil
		}
		for i, line := range strings.Split(string(b), "\n") {
			if fixedDate.MatchString(line) {
				t.Errorf("%s:%d: a fixed calendar date: take it from testclock.Date or testclock.Shift (and give the code under test a clock through its Config.Now), or list the file in pureDates with the reason the real clock never sees it:\n\t%s", rel, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for f := range pureDates {
		if !seen[f] {
			t.Errorf("%s is listed in pureDates but writes no calendar date (or is gone): remove it from the list", f)
		}
	}
}

func TestParseOffset(t *testing.T) {
	f := func(s string, want string) {
		t.Helper()
		d, err := ParseOffset(s)
		got := d.String()
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Fatalf("ParseOffset(%q) = %s, want %s", s, got, want)
		}
	}
	f("", "0s")
	f("-400d", "-9600h0m0s")
	f("2d", "48h0m0s")
	f("-9600h", "-9600h0m0s")
	f("90m", "1h30m0s")
	f("1y", "error")
	f("d", "error")
	f("-400", "error")
}

func TestClock(t *testing.T) {
	at := Date(2026, 11, 23, 10, 0, 0)
	c := At(at)
	if !c.Now().Equal(at) {
		t.Fatalf("At(%v).Now() = %v", at, c.Now())
	}
	c.Add(90 * 1e9)
	if want := at.Add(90 * 1e9); !c.Now().Equal(want) {
		t.Fatalf("after Add: %v, want %v", c.Now(), want)
	}
	if got := Date(2026, 1, 1, 0, 0, 0).Sub(Shift(Date(2026, 1, 1, 0, 0, 0).Add(-Offset()))); got != 0 {
		t.Fatalf("Date and Shift disagree by %v", got)
	}
}
