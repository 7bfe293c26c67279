package store

import (
	"bufio"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// PolicyConfig is the destination policy as the processes that write links
// (serve, api and links import) take it from their flags: denied hosts and
// URL prefixes, the service's own short domains (redirect loops) and
// whether http: destinations are allowed. Get defaults from
// DefaultPolicyConfig; NewPolicy builds the DestinationPolicy.
type PolicyConfig struct {
	DenyDestinations     string // comma-separated entries of ParseDenyPattern
	DenyDestinationsFile string // one entry a line; # starts a comment
	ShortDomains         string // comma-separated hosts for ParseSelfHost
	AllowHTTP            bool
}

// DefaultPolicyConfig returns the default policy: nothing denied, http:
// allowed.
func DefaultPolicyConfig() PolicyConfig { return PolicyConfig{AllowHTTP: true} }

// RegisterFlags adds --deny-destinations, --deny-destinations-file,
// --short-domains and --allow-http, bound to c.
func (c *PolicyConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DenyDestinations, "deny-destinations", c.DenyDestinations, "comma-separated hosts and URL prefixes links may not point to: evil.example (and its subdomains), *.evil.example (subdomains only), login-*.example (a glob), https://docs.google.com/forms/ (a URL prefix)")
	fs.StringVar(&c.DenyDestinationsFile, "deny-destinations-file", c.DenyDestinationsFile, "file of more --deny-destinations entries, one a line; # starts a comment")
	fs.StringVar(&c.ShortDomains, "short-domains", c.ShortDomains, "comma-separated host names this service answers on besides the --public-url host; links may not point to them (a redirect loop)")
	fs.BoolVar(&c.AllowHTTP, "allow-http", c.AllowHTTP, "allow http: destinations; false refuses them on create, PATCH and bulk")
}

// Check parses the deny list (reading the file) and the short domains,
// and returns an error naming the first bad entry.
func (c *PolicyConfig) Check() error {
	_, _, err := c.parse()
	return err
}

// NewPolicy returns the destination policy for short links under
// publicURL (whose host is one of the service's own; "" for none).
func (c *PolicyConfig) NewPolicy(publicURL string) (*DestinationPolicy, error) {
	deny, short, err := c.parse()
	if err != nil {
		return nil, err
	}
	p := &DestinationPolicy{Deny: deny, RefuseHTTP: !c.AllowHTTP}
	if u, err := url.Parse(publicURL); err == nil && u.Host != "" {
		if h, err := ParseSelfHost(u.Host, "--public-url"); err == nil {
			p.SelfHosts = append(p.SelfHosts, h)
		}
	}
	p.SelfHosts = append(p.SelfHosts, short...)
	return p, nil
}

func (c *PolicyConfig) parse() ([]DenyPattern, []SelfHost, error) {
	deny, err := ParseDenyList(strings.Split(c.DenyDestinations, ","))
	if err != nil {
		return nil, nil, fmt.Errorf("--deny-destinations: %w", err)
	}
	if c.DenyDestinationsFile != "" {
		more, err := readDenyFile(c.DenyDestinationsFile)
		if err != nil {
			return nil, nil, err
		}
		deny = append(deny, more...)
	}
	var short []SelfHost
	for _, d := range strings.Split(c.ShortDomains, ",") {
		if d = strings.TrimSpace(d); d == "" {
			continue
		}
		h, err := ParseSelfHost(d, "--short-domains")
		if err != nil {
			return nil, nil, fmt.Errorf("--short-domains: %w", err)
		}
		short = append(short, h)
	}
	return deny, short, nil
}

// readDenyFile reads --deny-destinations-file: one entry a line, blank
// lines and # comments ignored.
func readDenyFile(name string) ([]DenyPattern, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("--deny-destinations-file: %w", err)
	}
	defer f.Close()
	var out []DenyPattern
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		p, err := ParseDenyPattern(line)
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
