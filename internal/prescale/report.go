package prescale

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// PrintDrops writes the drops live within cfg.Hold or due within
// cfg.Window (or cfg.LeadTime, when longer) of now, and whether each holds
// the floor.
func PrintDrops(out io.Writer, drops []Drop, now time.Time, cfg Config) {
	from, to := now.Add(-cfg.Hold), now.Add(max(cfg.Window, cfg.LeadTime))
	var shown []Drop
	for _, d := range drops {
		if !d.At.Before(from) && !d.At.After(to) {
			shown = append(shown, d)
		}
	}
	span := fmt.Sprintf("live in the last %s or due in the next %s", fmtDuration(cfg.Hold), fmtDuration(to.Sub(now)))
	if len(shown) == 0 {
		fmt.Fprintf(out, "now %s; no drops %s\n", now.Format(time.RFC3339), span)
		return
	}
	fmt.Fprintf(out, "now %s; drops %s:\n", now.Format(time.RFC3339), span)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CODE\tDOMAIN\tNOT_BEFORE\tWHEN\tPRESCALE")
	for _, d := range shown {
		when := "in " + fmtDuration(d.At.Sub(now))
		if d.At.Before(now) {
			when = fmtDuration(now.Sub(d.At)) + " ago"
		}
		domain := d.Domain
		if domain == "" {
			domain = "-"
		}
		active := "no"
		if inWindow(d.At, now, cfg.LeadTime, cfg.Hold) {
			active = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Code, domain, d.At.Format(time.RFC3339), when, active)
	}
	tw.Flush()
}

// fmtDuration formats d to the second without trailing zero units: 2h,
// 1h30m, 45s.
func fmtDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
