package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/qredge/qredge/internal/cli"
	"github.com/qredge/qredge/internal/prescale"
)

const synopsis = `qredge-prescale (--redis ADDR | --data-dir DIR) --replicas N [--apply] [flags]
       qredge prescale ... (the same, run by the qredge binary)

Raises the minReplicas of the edge HorizontalPodAutoscalers from --lead-time
before a drop (a link's schedule not_before) until --hold after it, and
restores it afterwards. Without --apply it only prints what it would do.
See docs/prescale.md.`

// inClusterNamespaceFile holds the namespace of a pod's service account.
var inClusterNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// Config is the configuration of qredge-prescale: where the links are,
// the planner's settings and how to reach Kubernetes.
type Config struct {
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

// DefaultConfig returns the defaults, the planner's. The namespace is the
// pod's own when running in a cluster, else the planner's ("default").
func DefaultConfig() Config {
	d := prescale.DefaultConfig()
	ns := d.Namespace
	if b, err := os.ReadFile(inClusterNamespaceFile); err == nil && strings.TrimSpace(string(b)) != "" {
		ns = strings.TrimSpace(string(b))
	}
	return Config{
		Redis:     cli.DefaultRedisFlags(),
		LeadTime:  d.LeadTime,
		Hold:      d.Hold,
		Window:    d.Window,
		Namespace: ns,
		HPA:       strings.Join(d.HPAs, ","),
	}
}

func (c *Config) registerFlags(fs *flag.FlagSet) {
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
func (c *Config) Check() error {
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

// planner returns the planner's configuration. Call it after Check.
func (c *Config) planner() prescale.Config {
	p := prescale.Config{
		Replicas:  int32(c.Replicas),
		LeadTime:  c.LeadTime,
		Hold:      c.Hold,
		Window:    c.Window,
		Namespace: c.Namespace,
		Apply:     c.Apply,
	}
	for _, name := range strings.Split(c.HPA, ",") {
		p.HPAs = append(p.HPAs, strings.TrimSpace(name))
	}
	return p
}

// now returns --now, or the clock.
func (c *Config) now() time.Time {
	if t, err := time.Parse(time.RFC3339, c.Now); err == nil {
		return t.UTC()
	}
	return time.Now().UTC()
}
