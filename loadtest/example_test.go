package loadtest_test

import (
	"context"
	"log"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/qredge/qredge/loadtest"
)

// A flash crowd against a local qredge: 100,000 codes created before (for
// example by 'qredge loadtest seed --prefix c --n 100000' or SeedAPI), Zipf
// popularity, 2% of requests to codes that do not exist, nothing for a
// second and then 50,000 requests per second held for 10 seconds. Progress
// goes to stderr, the report to a JSON file.
func Example() {
	cfg := loadtest.DefaultConfig()
	cfg.Target = "http://127.0.0.1:8080"
	cfg.Codes = loadtest.Codes("c", 100_000)
	cfg.Dist = loadtest.DistZipf // ZipfS 1.1 by default
	cfg.UnknownFraction = 0.02
	cfg.Schedule = loadtest.Spike(time.Second, 50_000, 10*time.Second)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := loadtest.Run(ctx, cfg, os.Stderr)
	if rep == nil {
		log.Fatal(err) // an invalid Config
	}
	if err != nil {
		log.Print(err) // interrupted: the report covers what ran
	}
	f, err := os.Create("loadtest-report.json")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if err := rep.WriteJSON(f); err != nil {
		log.Fatal(err)
	}
}

// A schedule file makes a run repeatable.
func ExampleParseSchedule() {
	steps, err := loadtest.ParseSchedule(strings.NewReader(`
# warm up, then a flash crowd that fades
10s 1000
1s  0
30s 1000..50000
10s 50000..0
`))
	if err != nil {
		log.Fatal(err)
	}
	cfg := loadtest.DefaultConfig()
	cfg.Schedule = steps
	_ = cfg
}
