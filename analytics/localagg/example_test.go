package localagg_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/analytics/aggregate"
	"github.com/qredge/qredge/analytics/localagg"
	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/boltstore"
)

// The embedded mode: the pipeline spools events (no sink), the aggregator
// counts them into the links' bbolt file and answers stats queries.
func Example() {
	dir, _ := os.MkdirTemp("", "qredge-example")
	defer os.RemoveAll(dir)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	db, err := boltstore.Open(dir)
	if err != nil {
		panic(err)
	}
	pc := analytics.DefaultConfig()
	pc.SpoolDir = filepath.Join(dir, "spool")
	p, err := analytics.Start(pc, nil, log) // no sink: every event goes to the spool
	if err != nil {
		panic(err)
	}
	m := aggregate.NewMetrics() // register m.Collectors() with Prometheus
	brake := aggregate.NewBrake(m.Paused)
	// Open before anything is appended to the spool.
	agg, err := localagg.Open(db.Bolt(), p.Spool(), localagg.DefaultConfig(), m, brake, log)
	if err != nil {
		panic(err)
	}
	agg.Start()

	now := time.Now()
	for range 3 {
		e := analytics.Event{Time: now.UnixNano(), Key: store.LinkKey("", "promo"), Version: 1, Status: 302, Rule: -1}
		p.Queue().Enqueue(&e)
	}
	q := store.StatsQuery{Code: "promo", From: now.Add(-time.Hour), To: now.Add(time.Hour), Granularity: store.Hour}
	var st *store.LinkStats
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if st, err = agg.LinkStats(context.Background(), q); err != nil || st.Total == 3 {
			break
		}
	}
	fmt.Println("scans:", st.Total)

	// Shut down in this order: the aggregator, the pipeline (which seals
	// the spool), the database.
	agg.Close()
	p.Close()
	db.Close()
	// Output: scans: 3
}
