package main

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/analytics/kafka"
	"github.com/qredge/qredge/internal/cli"
	"github.com/qredge/qredge/redirect"
	"github.com/qredge/qredge/redirect/geoip"
)

// defaultEvents returns the pipeline's defaults with the spool in
// spoolDir.
func defaultEvents(spoolDir string) analytics.Config {
	c := analytics.DefaultConfig()
	c.SpoolDir = spoolDir
	return c
}

// startEvents starts the event pipeline, publishing to Kafka when wc (may
// be nil) names brokers, and adds its close to closers. countries (may be
// nil) gives the batcher the country of client IPs the hot path did not
// look up itself.
func startEvents(pc analytics.Config, wc *kafka.WriterConfig, log *slog.Logger, countries redirect.CountryLookup, closers *cli.Closers) (*analytics.Pipeline, error) {
	pc.SetProcessDefaults()
	pc.Enrich = redirect.EventEnricher(countries)
	var s analytics.Sink
	if wc != nil && wc.Kafka.Enabled() {
		sink, err := kafka.NewWriter(*wc)
		if err != nil {
			return nil, err
		}
		// Closed after the pipeline, bounded (kafka.CloseTimeout): a
		// stalled broker cannot hold the shutdown; what it did not
		// acknowledge is in the spool.
		closers.AddFunc(func() {
			if err := sink.Close(); err != nil {
				log.Warn("closing the Kafka writer", "err", err)
			}
		})
		s = sink
		pc = wc.PipelineConfig(pc)
		log.Info("scan events go to Kafka", "brokers", strings.Join(wc.Kafka.Brokers, ","), "topic", wc.Kafka.Topic)
	}
	p, err := analytics.Start(pc, s, log)
	if err != nil {
		return nil, err
	}
	// After the listener: no more scans arrive; every queued event is
	// published or spooled before Close returns.
	closers.Add(func() error {
		if err := p.Close(); err != nil {
			return fmt.Errorf("cannot close the event spool: %w", err)
		}
		return nil
	})
	return p, nil
}

// openGeoIP opens the country database at path (none when path is empty)
// and adds its close to closers.
func openGeoIP(path string, log *slog.Logger, closers *cli.Closers) (redirect.CountryLookup, error) {
	db, err := geoip.OpenOptional(path, log)
	if err != nil || db == nil {
		return nil, err
	}
	closers.Add(db.Close)
	return db, nil
}
