package main

import (
	"log/slog"
	"strings"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/analytics/kafka"
	"github.com/qredge/qredge/redirect"
)

// defaultEvents returns the pipeline's defaults with the spool in
// spoolDir.
func defaultEvents(spoolDir string) analytics.Config {
	c := analytics.DefaultConfig()
	c.SpoolDir = spoolDir
	return c
}

// startEvents starts the event pipeline, publishing to Kafka when wc (may
// be nil) names brokers. countries (may be nil) gives the batcher the
// country of client IPs the hot path did not look up itself.
func startEvents(pc analytics.Config, wc *kafka.WriterConfig, log *slog.Logger, countries redirect.CountryLookup) (*analytics.Pipeline, *kafka.Writer, error) {
	pc.SetProcessDefaults()
	pc.Enrich = redirect.EventEnricher(countries)
	var sink *kafka.Writer
	var s analytics.Sink
	if wc != nil && wc.Kafka.Enabled() {
		var err error
		if sink, err = kafka.NewWriter(*wc); err != nil {
			return nil, nil, err
		}
		s = sink
		pc = wc.PipelineConfig(pc)
		log.Info("scan events go to Kafka", "brokers", strings.Join(wc.Kafka.Brokers, ","), "topic", wc.Kafka.Topic)
	}
	p, err := analytics.Start(pc, s, log)
	if err != nil {
		if sink != nil {
			sink.Close()
		}
		return nil, nil, err
	}
	return p, sink, nil
}
