// Package linkcmd is 'qredge links create|get|list|update|delete|qr|stats':
// one link at a time against a running server, through the API client.
// Output is a readable table, or with --json the API's JSON as it came;
// any answer other than 2xx is an error carrying the problem's detail (and
// a non-zero exit).
package linkcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/qredge/qredge/api/client"
	"github.com/qredge/qredge/internal/cli"
	"github.com/qredge/qredge/store"
)

// Usage lists the subcommands.
const Usage = `  qredge links create --destination URL [--code C] [--domain D] [--status 302] [--tag T]... [--data JSON]
  qredge links get CODE [--domain D]
  qredge links list [--q TEXT] [--tag T] [--domain D] [--limit 50] [--all]
  qredge links update CODE [--destination URL] [--status N] [--tag T]... [--disabled=true|false] [--data JSON] [--if-match VERSION]
  qredge links delete CODE [--domain D] [--if-match VERSION]
  qredge links qr CODE [--format png|svg] [--size 512] -o FILE
  qredge links stats CODE [--from TIME] [--to TIME] [--granularity minute|hour|day] [--exclude-bots]

These talk to a running server: --server URL (QREDGE_SERVER) and an API key
in --api-key (QREDGE_API_KEY, or QREDGE_KEY); --json prints the API's JSON.
`

// Commands are the subcommands, by name.
func Commands(ctx context.Context, stdout, stderr io.Writer) map[string]func([]string) error {
	r := func(name string, run func(*cmd) error, setup func(*cmd)) func([]string) error {
		return func(args []string) error {
			c := &cmd{ctx: ctx, stdout: stdout, name: name}
			c.fs = cli.NewFlagSet("links "+name, "qredge links "+name+" [flags]", stderr)
			c.register()
			if setup != nil {
				setup(c)
			}
			if err := cli.ParseFlags(c.fs, args); err != nil {
				return err
			}
			if err := c.open(); err != nil {
				return err
			}
			return run(c)
		}
	}
	return map[string]func([]string) error{
		"create": r("create", create, linkFlags),
		"get":    r("get", get, nil),
		"list":   r("list", list, listFlags),
		"update": r("update", update, func(c *cmd) { linkFlags(c); ifMatchFlag(c) }),
		"delete": r("delete", del, ifMatchFlag),
		"qr":     r("qr", qr, qrFlags),
		"stats":  r("stats", stats, statsFlags),
	}
}

// cmd is one run of a subcommand.
type cmd struct {
	ctx    context.Context
	stdout io.Writer
	name   string
	fs     *flag.FlagSet
	c      *client.Client

	server, key, domain string
	json                bool

	// create and update
	code, dest, data string
	title, notes     string
	goneURL          string
	maxScans         int64
	status           int
	tags             tagsFlag
	forward          bool
	disabled         bool
	ifMatch          uint64

	// list
	q, tag string
	limit  int
	all    bool

	// qr and stats
	format, out, from, to, granularity string
	size                               int
	excludeBots                        bool
}

func (c *cmd) register() {
	c.fs.StringVar(&c.server, "server", "", "base URL of a running qredge, such as http://localhost:8080")
	c.fs.StringVar(&c.key, "api-key", "", "an API key (QREDGE_API_KEY, or QREDGE_KEY as in the README's examples)")
	c.fs.StringVar(&c.domain, "domain", "", "the link's domain, for a link that answers on one host only")
	c.fs.BoolVar(&c.json, "json", false, "print the API's JSON instead of a table")
}

func linkFlags(c *cmd) {
	c.fs.StringVar(&c.code, "code", "", "create: the code (default: a random one)")
	c.fs.StringVar(&c.dest, "destination", "", "where the link sends visitors")
	c.fs.IntVar(&c.status, "status", 302, "redirect status: 301, 302, 307 or 308")
	c.fs.Var(&c.tags, "tag", "a tag (repeat for several); on update, the tags replace the link's")
	c.fs.BoolVar(&c.forward, "forward-query", false, "forward the scan's query string to the destination")
	c.fs.BoolVar(&c.disabled, "disabled", false, "disable the link (scans get 410)")
	c.fs.StringVar(&c.title, "title", "", "a title for the people managing links (visitors never see it)")
	c.fs.StringVar(&c.notes, "notes", "", "notes for the people managing links")
	c.fs.StringVar(&c.goneURL, "gone-url", "", "where visitors go while the link is disabled or past --max-scans")
	c.fs.Int64Var(&c.maxScans, "max-scans", 0, "stop the link after this many scans (0: no limit)")
	c.fs.StringVar(&c.data, "data", "", "a link object in JSON (rules, variants, schedule...), as the API takes it; the flags above win over its fields")
}

func ifMatchFlag(c *cmd) {
	c.fs.Uint64Var(&c.ifMatch, "if-match", 0, "change the link only if its version is still this one (from get; 412 otherwise)")
}

func listFlags(c *cmd) {
	c.fs.StringVar(&c.q, "q", "", "only links whose code, title or destination contains this text")
	c.fs.StringVar(&c.tag, "tag", "", "only the links with this tag")
	c.fs.IntVar(&c.limit, "limit", 50, "links per page, 1 to 1000")
	c.fs.BoolVar(&c.all, "all", false, "every page, not just the first")
}

func qrFlags(c *cmd) {
	c.fs.StringVar(&c.format, "format", "", "png or svg (default: by -o's extension, else png)")
	c.fs.IntVar(&c.size, "size", 0, "PNG size in pixels (default: the API's)")
	c.fs.StringVar(&c.out, "o", "", "the file to write (required)")
}

func statsFlags(c *cmd) {
	c.fs.StringVar(&c.from, "from", "", "start, RFC 3339 (default: 24 hours ago)")
	c.fs.StringVar(&c.to, "to", "", "end, RFC 3339 (default: now)")
	c.fs.StringVar(&c.granularity, "granularity", "hour", "minute, hour or day")
	c.fs.BoolVar(&c.excludeBots, "exclude-bots", false, "leave bots out")
}

// tagsFlag is a repeatable --tag.
type tagsFlag []string

func (t *tagsFlag) String() string     { return strings.Join(*t, ",") }
func (t *tagsFlag) Set(s string) error { *t = append(*t, s); return nil }

// open checks the common flags and makes the client.
func (c *cmd) open() error {
	if c.key == "" {
		c.key = os.Getenv("QREDGE_KEY")
	}
	u, err := url.Parse(c.server)
	switch {
	case c.server == "":
		return errors.New("give the server: --server URL (or QREDGE_SERVER), such as http://localhost:8080")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("--server %q: want a URL such as http://localhost:8080", c.server)
	case c.key == "":
		return errors.New("give an API key: --api-key (or QREDGE_API_KEY or QREDGE_KEY)")
	}
	cfg := client.DefaultConfig()
	cfg.URL, cfg.APIKey, cfg.Timeout = strings.TrimSuffix(c.server, "/"), c.key, time.Minute
	c.c = client.New(cfg)
	return nil
}

// one returns the single positional CODE.
func (c *cmd) one() (string, error) {
	if c.fs.NArg() != 1 {
		return "", fmt.Errorf("%s needs exactly one CODE", c.name)
	}
	return c.fs.Arg(0), nil
}

func (c *cmd) noArgs() error {
	if c.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", c.fs.Arg(0))
	}
	return nil
}

// linkPath is /api/v1/links/CODE[suffix], with ?domain= (and query q).
func (c *cmd) linkPath(code, suffix string, q url.Values) string {
	if q == nil {
		q = url.Values{}
	}
	if c.domain != "" {
		q.Set("domain", c.domain)
	}
	p := "/api/v1/links/" + url.PathEscape(code) + suffix
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return p
}

// given reports whether a flag was set (on the command line or by its
// environment variable).
func (c *cmd) given(name string) bool {
	set := false
	c.fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// body is --data with the given flags over it.
func (c *cmd) body(create bool) (map[string]any, error) {
	b := map[string]any{}
	if c.data != "" {
		if err := json.Unmarshal([]byte(c.data), &b); err != nil {
			return nil, fmt.Errorf("--data: not a JSON object: %v", err)
		}
	}
	set := func(flagName, field string, v any) {
		if c.given(flagName) {
			b[field] = v
		}
	}
	set("code", "code", c.code)
	set("destination", "destination", c.dest)
	set("status", "status", c.status)
	set("tag", "tags", []string(c.tags))
	set("forward-query", "forward_query", c.forward)
	set("disabled", "disabled", c.disabled)
	set("title", "title", c.title)
	set("notes", "notes", c.notes)
	set("gone-url", "gone_url", c.goneURL)
	set("max-scans", "max_scans", c.maxScans)
	if create && c.domain != "" {
		b["domain"] = c.domain
	}
	if len(b) == 0 {
		return nil, errors.New("nothing to change: give --destination, --status, --tag, --disabled, --forward-query, --title, --notes, --gone-url, --max-scans or --data")
	}
	return b, nil
}

// printLink prints a link answer.
func (c *cmd) printLink(raw []byte) error {
	if c.json {
		_, err := c.stdout.Write(append(bytes.TrimSpace(raw), '\n'))
		return err
	}
	var l linkRow
	if err := json.Unmarshal(raw, &l); err != nil {
		return fmt.Errorf("cannot decode the link: %w", err)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	var limit, protected string
	if l.MaxScans > 0 {
		limit = strconv.FormatInt(l.MaxScans, 10)
	}
	if l.PasswordProtected {
		protected = "yes"
	}
	for _, kv := range [][2]string{{"code", l.Code}, {"domain", l.Domain}, {"title", l.Title}, {"destination", l.Destination}, {"status", strconv.Itoa(l.Status)},
		{"tags", strings.Join(l.Tags, ", ")}, {"disabled", strconv.FormatBool(l.Disabled)}, {"password", protected}, {"max_scans", limit},
		{"gone_url", l.GoneURL}, {"version", strconv.FormatUint(l.Version, 10)},
		{"short_url", l.ShortURL}, {"qr_url", l.QRURL}} {
		if kv[1] != "" {
			fmt.Fprintf(tw, "%s\t%s\n", kv[0], kv[1])
		}
	}
	return tw.Flush()
}

// linkRow is a link as the API answers it: the link and its URLs.
type linkRow struct {
	store.Link
	PasswordProtected bool   `json:"password_protected"`
	ShortURL          string `json:"short_url"`
	QRURL             string `json:"qr_url"`
}

func create(c *cmd) error {
	if err := c.noArgs(); err != nil {
		return err
	}
	b, err := c.body(true)
	if err != nil {
		return err
	}
	return c.showLink("POST", "/api/v1/links", b)
}

// showLink sends a request whose answer is a link, and prints it.
func (c *cmd) showLink(method, path string, body any, hdr ...string) error {
	raw, _, err := c.c.Call(c.ctx, method, path, body, hdr...)
	if err != nil {
		return err
	}
	return c.printLink(raw)
}

func get(c *cmd) error {
	code, err := c.one()
	if err != nil {
		return err
	}
	return c.showLink("GET", c.linkPath(code, "", nil), nil)
}

func update(c *cmd) error {
	code, err := c.one()
	if err != nil {
		return err
	}
	if c.given("code") {
		return errors.New("a link's code cannot change: create a new link")
	}
	b, err := c.body(false)
	if err != nil {
		return err
	}
	return c.showLink("PATCH", c.linkPath(code, "", nil), b, c.ifMatchHeader()...)
}

func (c *cmd) ifMatchHeader() []string {
	if c.ifMatch == 0 {
		return nil
	}
	return []string{"If-Match", `"` + strconv.FormatUint(c.ifMatch, 10) + `"`}
}

func del(c *cmd) error {
	code, err := c.one()
	if err != nil {
		return err
	}
	if _, _, err := c.c.Call(c.ctx, "DELETE", c.linkPath(code, "", nil), nil, c.ifMatchHeader()...); err != nil {
		return err
	}
	if !c.json {
		fmt.Fprintf(c.stdout, "deleted %s\n", code)
	}
	return nil
}

func list(c *cmd) error {
	if err := c.noArgs(); err != nil {
		return err
	}
	if c.limit < 1 || c.limit > 1000 {
		return errors.New("--limit must be from 1 to 1000")
	}
	q := url.Values{"limit": {strconv.Itoa(c.limit)}}
	for k, v := range map[string]string{"q": c.q, "tag": c.tag, "domain": c.domain} {
		if v != "" {
			q.Set(k, v)
		}
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	if !c.json {
		fmt.Fprintln(tw, "CODE\tDOMAIN\tSTATUS\tDESTINATION\tTAGS")
	}
	for {
		links, next, err := c.c.LinkPage(c.ctx, q)
		if err != nil {
			return err
		}
		for _, lr := range links {
			if c.json {
				// JSON lines: one link a line, as 'links export' writes.
				var buf bytes.Buffer
				if err := json.Compact(&buf, lr); err != nil {
					return err
				}
				fmt.Fprintln(c.stdout, buf.String())
				continue
			}
			var l linkRow
			if err := json.Unmarshal(lr, &l); err != nil {
				return err
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", l.Code, l.Domain, l.Status, l.Destination, strings.Join(l.Tags, ","))
		}
		if next == "" || !c.all {
			if next != "" && !c.json {
				defer fmt.Fprintln(c.stdout, "(more: --all lists every page)")
			}
			break
		}
		q.Set("cursor", next)
	}
	return tw.Flush()
}

func qr(c *cmd) error {
	code, err := c.one()
	if err != nil {
		return err
	}
	if c.out == "" {
		return errors.New("give the file to write: -o FILE (.png or .svg)")
	}
	format := c.format
	if format == "" {
		format = "png"
		if strings.EqualFold(filepath.Ext(c.out), ".svg") {
			format = "svg"
		}
	}
	if format != "png" && format != "svg" {
		return fmt.Errorf("--format %q: want png or svg", format)
	}
	q := url.Values{"format": {format}}
	if c.size > 0 {
		q.Set("size", strconv.Itoa(c.size))
	}
	var buf bytes.Buffer
	if err := c.c.Download(c.ctx, c.linkPath(code, "/qr", q), &buf); err != nil {
		return err
	}
	if err := os.WriteFile(c.out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	if !c.json {
		fmt.Fprintf(c.stdout, "wrote %s (%s, %d bytes)\n", c.out, format, buf.Len())
	}
	return nil
}

func stats(c *cmd) error {
	code, err := c.one()
	if err != nil {
		return err
	}
	q := url.Values{"granularity": {c.granularity}}
	for k, v := range map[string]string{"from": c.from, "to": c.to} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if c.excludeBots {
		q.Set("exclude_bots", "true")
	}
	raw, _, err := c.c.Call(c.ctx, "GET", c.linkPath(code, "/stats", q), nil)
	if err != nil {
		return err
	}
	if c.json {
		_, err := c.stdout.Write(append(bytes.TrimSpace(raw), '\n'))
		return err
	}
	var st store.LinkStats
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("cannot decode the stats: %w", err)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "scans\t%d\nunique visitors\t%d\n", st.Total, st.UniqueVisitors)
	for _, dim := range []string{"source", "bot", "device", "country", "referrer", "target"} {
		var parts []string
		for k, v := range st.Breakdowns[dim] {
			parts = append(parts, fmt.Sprintf("%s %d", k, v))
		}
		if len(parts) > 0 {
			fmt.Fprintf(tw, "%s\t%s\n", dim, strings.Join(slices.Sorted(slices.Values(parts)), ", "))
		}
	}
	fmt.Fprintln(tw, "\nTIME\tSCANS\tQR\tCLICKS\tPEOPLE\tBOTS")
	for _, p := range st.Series {
		if p.Total > 0 {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\n", p.Time.Format(time.RFC3339), p.Total, p.QR, p.Link, p.Humans, p.Bots)
		}
	}
	return tw.Flush()
}
