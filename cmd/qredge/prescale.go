package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/qredge/qredge/internal/cli"
	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/boltstore"
	"github.com/qredge/qredge/store/redisstore"
)

const prescaleSynopsis = `qredge prescale (--redis ADDR | --data-dir DIR) --replicas N [--apply] [flags]

Raises the minReplicas of the edge HorizontalPodAutoscalers from --lead-time
before a drop (a link's schedule not_before) until --hold after it, and
restores it afterwards. Without --apply it only prints what it would do.
See docs/prescale.md.`

// inClusterNamespaceFile holds the namespace of a pod's service account.
var inClusterNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// PrescaleConfig is the configuration of 'qredge prescale'.
type PrescaleConfig struct {
	DataDir string
	Redis   cli.RedisFlags

	Replicas int           // the floor of minReplicas during a drop window
	LeadTime time.Duration // how long before a drop the window opens
	Hold     time.Duration // how long after a drop it closes
	Window   time.Duration // how far ahead the listing of drops looks

	Apply      bool
	Namespace  string
	HPA        string // comma-separated names
	Kubeconfig string
	Now        string // RFC3339; empty: the clock
}

// DefaultPrescaleConfig returns the defaults. The namespace is the pod's
// own when running in a cluster, else "default".
func DefaultPrescaleConfig() PrescaleConfig {
	ns := "default"
	if b, err := os.ReadFile(inClusterNamespaceFile); err == nil && strings.TrimSpace(string(b)) != "" {
		ns = strings.TrimSpace(string(b))
	}
	return PrescaleConfig{
		Redis:     cli.DefaultRedisFlags(),
		LeadTime:  30 * time.Minute,
		Hold:      2 * time.Hour,
		Window:    24 * time.Hour,
		Namespace: ns,
		HPA:       "qredge-edge",
	}
}

func (c *PrescaleConfig) registerFlags(fs flagRegistrar) {
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "read the links from the embedded store (qredge serve's --data-dir) while no qredge serve runs on it")
	c.Redis.Register(fs)
	fs.IntVar(&c.Replicas, "replicas", c.Replicas, "the minReplicas floor to hold during a drop window (required)")
	fs.DurationVar(&c.LeadTime, "lead-time", c.LeadTime, "raise the floor this long before a drop's not_before")
	fs.DurationVar(&c.Hold, "hold", c.Hold, "keep the floor this long after a drop's not_before")
	fs.DurationVar(&c.Window, "window", c.Window, "list the drops due within this time")
	fs.BoolVar(&c.Apply, "apply", c.Apply, "change the HPAs; without it, print what would change")
	fs.StringVar(&c.Namespace, "namespace", c.Namespace, "namespace of the HPAs (default: the pod's own in a cluster, else \"default\")")
	fs.StringVar(&c.HPA, "hpa", c.HPA, "name of the edge HorizontalPodAutoscaler; a comma-separated list for several (one per region)")
	fs.StringVar(&c.Kubeconfig, "kubeconfig", c.Kubeconfig, "kubeconfig file (default: the in-cluster service account, else $KUBECONFIG or ~/.kube/config)")
}

// Check returns an error naming the first invalid setting.
func (c *PrescaleConfig) Check() error {
	if (c.DataDir == "") == (c.Redis.Addr == "") {
		return errors.New("give exactly one of --redis ADDR and --data-dir DIR")
	}
	if c.Redis.Addr != "" {
		if err := c.Redis.Check(); err != nil {
			return err
		}
	}
	switch {
	case c.Replicas < 1:
		return errors.New("--replicas is required: the minReplicas floor during a drop, such as --replicas 20")
	case c.Replicas > math.MaxInt32:
		return fmt.Errorf("--replicas %d is too large", c.Replicas)
	case c.LeadTime < 0:
		return errors.New("--lead-time must not be negative")
	case c.Hold < 0:
		return errors.New("--hold must not be negative")
	case c.Window < 0:
		return errors.New("--window must not be negative")
	case c.Namespace == "":
		return errors.New("--namespace must not be empty")
	}
	for _, name := range strings.Split(c.HPA, ",") {
		if strings.TrimSpace(name) == "" {
			return fmt.Errorf("--hpa %q: want a name, or names separated by commas", c.HPA)
		}
	}
	if c.Now != "" {
		if _, err := time.Parse(time.RFC3339, c.Now); err != nil {
			return fmt.Errorf("--now %q: want an RFC 3339 time such as 2026-11-27T11:30:00Z", c.Now)
		}
	}
	return nil
}

// hpaNames returns the names in --hpa.
func (c *PrescaleConfig) hpaNames() []string {
	var names []string
	for _, name := range strings.Split(c.HPA, ",") {
		names = append(names, strings.TrimSpace(name))
	}
	return names
}

// now returns --now, or the clock.
func (c *PrescaleConfig) now() time.Time {
	if t, err := time.Parse(time.RFC3339, c.Now); err == nil {
		return t.UTC()
	}
	return time.Now().UTC()
}

func runPrescale(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := DefaultPrescaleConfig()
	fs := cli.NewFlagSet("prescale", prescaleSynopsis, stderr)
	cfg.registerFlags(fs)
	// --now is a testing aid the usage does not show: the usage is that of a
	// flag set without it.
	shown := cli.NewFlagSet("prescale", prescaleSynopsis, stderr)
	cfg.registerFlags(shown)
	fs.Usage = shown.Usage
	fs.StringVar(&cfg.Now, "now", "", "evaluate as of this RFC 3339 time instead of the clock (for tests and rehearsals)")
	if err := cli.ParseNoArgs(fs, args); err != nil {
		return err
	}
	keepGivenSource(&cfg, args)
	if err := cfg.Check(); err != nil {
		return err
	}
	return prescale(ctx, &cfg, stdout)
}

// keepGivenSource keeps the store given on the command line over one from
// the environment, as 'qredge links' does.
func keepGivenSource(cfg *PrescaleConfig, args []string) {
	given := map[string]bool{}
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			given[name] = true
		}
	}
	switch {
	case given["redis"] && !given["data-dir"]:
		cfg.DataDir = ""
	case given["data-dir"] && !given["redis"]:
		cfg.Redis.Addr = ""
	}
}

// prescale reads the drops, prints them, and brings every HPA to the state
// the drop windows want (or says what it would do).
func prescale(ctx context.Context, cfg *PrescaleConfig, stdout io.Writer) error {
	now := cfg.now()
	drops, err := loadDrops(ctx, cfg)
	if err != nil {
		return err
	}
	w := windowAt(drops, now, cfg.LeadTime, cfg.Hold)
	printDrops(stdout, drops, w, now, cfg)

	hpas, err := newHPAClient(cfg.Kubeconfig)
	if err != nil {
		return fmt.Errorf("cannot configure the Kubernetes client: %w", err)
	}
	var errs []error
	for _, name := range cfg.hpaNames() {
		ch, err := prescaleHPA(ctx, hpas, cfg.Namespace, name, int32(cfg.Replicas), w, cfg.Apply)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintln(stdout, ch.describe(w, cfg.Apply))
	}
	if !cfg.Apply && len(errs) == 0 {
		fmt.Fprintln(stdout, "dry run: nothing changed (add --apply to change the HPAs)")
	}
	return errors.Join(errs...)
}

// drop is a scheduled go-live: an enabled link's not_before.
type drop struct {
	Code, Domain string
	At           time.Time
}

func (d drop) name() string {
	if d.Domain == "" {
		return d.Code
	}
	return d.Domain + "/" + d.Code
}

// dropOf returns the drop of l, if it has one.
func dropOf(l *store.Link) (drop, bool) {
	if l.Disabled || l.Schedule == nil || l.Schedule.NotBefore == nil {
		return drop{}, false
	}
	return drop{Code: l.Code, Domain: l.Domain, At: l.Schedule.NotBefore.UTC()}, true
}

// sortDrops orders drops by time, then name.
func sortDrops(drops []drop) {
	sort.Slice(drops, func(i, j int) bool {
		if !drops[i].At.Equal(drops[j].At) {
			return drops[i].At.Before(drops[j].At)
		}
		return drops[i].name() < drops[j].name()
	})
}

// loadDrops reads the drops of every link in the store of cfg, in time
// order. A data directory without a store is an error: a typo must not
// read as "no drops" and restore the HPAs in the middle of one.
func loadDrops(ctx context.Context, cfg *PrescaleConfig) ([]drop, error) {
	var ls store.LinkStore
	if cfg.DataDir != "" {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, boltstore.FileName)); err != nil {
			return nil, fmt.Errorf("--data-dir %s holds no qredge store: %w", cfg.DataDir, err)
		}
		db, err := boltstore.Open(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		defer db.Close()
		ls = db
	} else {
		s, err := redisstore.Open(ctx, cfg.Redis.Config())
		if err != nil {
			return nil, err
		}
		defer s.Close()
		ls = s
	}
	var drops []drop
	err := ls.ForEachLink(ctx, func(l *store.Link) error {
		if d, ok := dropOf(l); ok {
			drops = append(drops, d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read the links: %w", err)
	}
	sortDrops(drops)
	return drops, nil
}

// dropWindow says whether a moment lies in a drop window: within the lead
// time before a drop or the hold after it.
type dropWindow struct {
	Active []drop    // the drops whose window holds the moment, in time order
	Until  time.Time // the end of the last hold of Active
	Lead   time.Duration
	Hold   time.Duration
}

// windowAt returns the drop window at now: the drops whose not_before lies
// in [now-hold, now+lead], both ends included.
func windowAt(drops []drop, now time.Time, lead, hold time.Duration) dropWindow {
	w := dropWindow{Lead: lead, Hold: hold}
	for _, d := range drops {
		if !inWindow(d.At, now, lead, hold) {
			continue
		}
		w.Active = append(w.Active, d)
		if end := d.At.Add(hold); end.After(w.Until) {
			w.Until = end
		}
	}
	sortDrops(w.Active)
	return w
}

// inWindow reports whether now lies in the window of a drop at at.
func inWindow(at, now time.Time, lead, hold time.Duration) bool {
	return !at.Before(now.Add(-hold)) && !at.After(now.Add(lead))
}

func (w dropWindow) active() bool { return len(w.Active) > 0 }

// why says which drops hold the floor, or that none does.
func (w dropWindow) why() string {
	if !w.active() {
		return fmt.Sprintf("no drop in the next %s or the last %s", fmtDuration(w.Lead), fmtDuration(w.Hold))
	}
	d := w.Active[0]
	s := "drop " + d.name() + " at " + d.At.Format(time.RFC3339)
	if n := len(w.Active) - 1; n > 0 {
		s += fmt.Sprintf(" and %d more", n)
	}
	until := w.Until.Format(time.RFC3339)
	if y, m, dd := w.Until.Date(); y == d.At.Year() && m == d.At.Month() && dd == d.At.Day() {
		until = w.Until.Format("15:04:05Z07:00")
	}
	return s + "; held until " + until
}

// printDrops writes the drops live within the hold or due within the
// window (or the lead time, when longer).
func printDrops(out io.Writer, drops []drop, w dropWindow, now time.Time, cfg *PrescaleConfig) {
	from, to := now.Add(-cfg.Hold), now.Add(max(cfg.Window, cfg.LeadTime))
	var shown []drop
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
