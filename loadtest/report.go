package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Report is the result of a run: what was asked for, every second, and the
// totals. It marshals to JSON with snake_case keys; latencies are in
// microseconds.
type Report struct {
	Config Summary   `json:"config"`
	Start  time.Time `json:"start"`
	// Cancelled is set when the run's context ended it early; the figures
	// then cover the requests that were due before that. Those not sent yet
	// are errors of kind "cancelled".
	Cancelled bool  `json:"cancelled"`
	Seconds   []Row `json:"seconds"`
	Total     Total `json:"total"`
}

// Summary is the configuration of a run as the report shows it.
type Summary struct {
	Target          string        `json:"target"`
	Host            string        `json:"host,omitempty"`
	Schedule        []StepSummary `json:"schedule"`
	Codes           int           `json:"codes"`
	Dist            string        `json:"dist"`
	ZipfS           float64       `json:"zipf_s,omitempty"`
	UnknownFraction float64       `json:"unknown_fraction"`
	Seed            uint64        `json:"seed"`
	UserAgents      []Weighted    `json:"user_agents,omitempty"`
	CountryHeader   string        `json:"country_header,omitempty"`
	Countries       []Weighted    `json:"countries,omitempty"`
	Referers        []Weighted    `json:"referers,omitempty"`
	Timeout         string        `json:"timeout"`
	BacklogTimeout  string        `json:"backlog_timeout"`
	MaxInFlight     int           `json:"max_in_flight"`
	Workers         int           `json:"workers"`
	Tick            string        `json:"tick"`
}

// StepSummary is a Step as the report shows it.
type StepSummary struct {
	Duration string   `json:"duration"`
	Rate     float64  `json:"rate"`
	RampTo   *float64 `json:"ramp_to,omitempty"` // only for a ramp
}

func summarize(cfg *Config) Summary {
	s := Summary{
		Target:          cfg.Target,
		Host:            cfg.Host,
		Codes:           len(cfg.Codes),
		Dist:            cfg.Dist,
		UnknownFraction: cfg.UnknownFraction,
		Seed:            cfg.Seed,
		UserAgents:      cfg.UserAgents,
		CountryHeader:   cfg.CountryHeader,
		Referers:        cfg.Referers,
		Timeout:         cfg.Timeout.String(),
		BacklogTimeout:  cfg.BacklogTimeout.String(),
		MaxInFlight:     cfg.MaxInFlight,
		Workers:         cfg.Workers,
		Tick:            cfg.Tick.String(),
	}
	if cfg.Dist == DistZipf {
		s.ZipfS = cfg.ZipfS
	}
	if cfg.CountryHeader != "" {
		s.Countries = cfg.Countries
	}
	for _, st := range cfg.Schedule {
		ss := StepSummary{Duration: st.Duration.String(), Rate: st.Rate}
		if st.RampTo != 0 {
			to := st.RampTo
			if to == rampToZero {
				to = 0
			}
			ss.RampTo = &to
		}
		s.Schedule = append(s.Schedule, ss)
	}
	return s
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("cannot write the report: %w", err)
	}
	return nil
}
