package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qredge/qredge/store"
)

// PolicyFlags are the destination policy of the processes that write links
// (serve and api): denied hosts and URL prefixes, the service's own short
// domains (redirect loops) and whether http: destinations are allowed.
type PolicyFlags struct {
	DenyDestinations     string
	DenyDestinationsFile string
	ShortDomains         string
	AllowHTTP            bool

	deny  []store.DenyPattern // parsed by Check
	short []store.SelfHost
}

func defaultPolicyFlags() PolicyFlags { return PolicyFlags{AllowHTTP: true} }

func (c *PolicyFlags) register(fs flagRegistrar) {
	fs.StringVar(&c.DenyDestinations, "deny-destinations", c.DenyDestinations, "comma-separated hosts and URL prefixes links may not point to: evil.example (and its subdomains), *.evil.example (subdomains only), login-*.example (a glob), https://docs.google.com/forms/ (a URL prefix)")
	fs.StringVar(&c.DenyDestinationsFile, "deny-destinations-file", c.DenyDestinationsFile, "file of more --deny-destinations entries, one a line; # starts a comment")
	fs.StringVar(&c.ShortDomains, "short-domains", c.ShortDomains, "comma-separated host names this service answers on besides the --public-url host; links may not point to them (a redirect loop)")
	fs.BoolVar(&c.AllowHTTP, "allow-http", c.AllowHTTP, "allow http: destinations; false refuses them on create, PATCH and bulk")
}

// Check parses the deny list and the short domains, and returns an error
// naming the first bad entry.
func (c *PolicyFlags) Check() error {
	deny, err := store.ParseDenyList(strings.Split(c.DenyDestinations, ","))
	if err != nil {
		return fmt.Errorf("--deny-destinations: %w", err)
	}
	if c.DenyDestinationsFile != "" {
		more, err := readDenyFile(c.DenyDestinationsFile)
		if err != nil {
			return err
		}
		deny = append(deny, more...)
	}
	var short []store.SelfHost
	for _, d := range strings.Split(c.ShortDomains, ",") {
		if d = strings.TrimSpace(d); d == "" {
			continue
		}
		h, err := store.ParseSelfHost(d, "--short-domains")
		if err != nil {
			return fmt.Errorf("--short-domains: %w", err)
		}
		short = append(short, h)
	}
	c.deny, c.short = deny, short
	return nil
}

// readDenyFile reads --deny-destinations-file: one entry a line, blank
// lines and # comments ignored.
func readDenyFile(name string) ([]store.DenyPattern, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("--deny-destinations-file: %w", err)
	}
	defer f.Close()
	var out []store.DenyPattern
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		p, err := store.ParseDenyPattern(line)
		if err != nil {
			return nil, fmt.Errorf("--deny-destinations-file %s line %d: %w", name, n, err)
		}
		p.Source = "--deny-destinations-file"
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--deny-destinations-file %s: %w", name, err)
	}
	return out, nil
}

// policy returns the destination policy for short links under publicURL,
// once Check has passed.
func (c *PolicyFlags) policy(publicURL string) *store.DestinationPolicy {
	p := &store.DestinationPolicy{Deny: c.deny, RefuseHTTP: !c.AllowHTTP}
	if u, err := url.Parse(publicURL); err == nil && u.Host != "" {
		if h, err := store.ParseSelfHost(u.Host, "--public-url"); err == nil {
			p.SelfHosts = append(p.SelfHosts, h)
		}
	}
	p.SelfHosts = append(p.SelfHosts, c.short...)
	return p
}

// maxViolationLogs is how many violations the start-up scan logs one by
// one; the rest are counted.
const maxViolationLogs = 100

// startPolicy builds the destination policy, registers its gauge with reg
// and checks every stored link against it in the background, logging a
// warning per violation: the check reads every link (a second per million,
// more from Redis), and nothing needs it before the process takes
// requests. Links at fault are left as they are: the operator decides. A
// failed check is logged, not fatal. stop cancels the check and waits for
// it; call it before closing the store.
func (c *PolicyFlags) startPolicy(ctx context.Context, publicURL string, forEach func(context.Context, func(*store.Link) error) error, reg prometheus.Registerer, log *slog.Logger) (p *store.DestinationPolicy, stop func()) {
	p = c.policy(publicURL)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "qredge_links_policy_violations",
		Help: "Links whose destinations the destination policy refuses, at the last scan (start-up or GET /api/v1/policy/violations).",
	}, func() float64 { return float64(p.Violations()) }))
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		logged := 0
		n, err := p.Scan(ctx, forEach, func(v store.Violation) {
			if logged++; logged <= maxViolationLogs {
				log.Warn("stored link violates the destination policy; it is left as it is", "code", v.Code, "domain", v.Domain, "field", v.Field, "rule", v.Detail)
			}
		})
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("cannot check stored links against the destination policy", "err", err)
		case err == nil && n > 0:
			log.Warn("stored links violate the destination policy; GET /api/v1/policy/violations lists them", "links", n, "violations", logged, "logged", min(logged, maxViolationLogs))
		}
	}()
	return p, func() {
		cancel()
		<-done
	}
}
