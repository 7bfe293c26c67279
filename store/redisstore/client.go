package redisstore

import (
	"crypto/tls"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClientConfig says how to reach Redis.
type ClientConfig struct {
	// Addr is what --redis takes:
	//   host:port                       one server
	//   redis://[user:pass@]host:port/db one server (rediss:// for TLS)
	//   h1:p1,h2:p2,...                 Redis Cluster (seed nodes)
	//   redis-cluster://h1:p1,h2:p2     Redis Cluster (rediss-cluster:// for TLS)
	//   redis-sentinel://h1:p1,h2:p2/master  Sentinel (rediss-sentinel:// for TLS)
	Addr        string
	Username    string
	Password    string
	TLS         bool
	DialTimeout time.Duration
	// ReadTimeout bounds each command; the change feed's blocking reads
	// add their block time to it.
	ReadTimeout time.Duration
}

// Mode names how Addr was understood.
type Mode string

const (
	ModeSingle   Mode = "single"
	ModeCluster  Mode = "cluster"
	ModeSentinel Mode = "sentinel"
)

// NewClient returns a client for cfg. It does not connect.
func NewClient(cfg ClientConfig) (redis.UniversalClient, Mode, error) {
	addr := strings.TrimSpace(cfg.Addr)
	if addr == "" {
		return nil, "", fmt.Errorf("--redis is empty")
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 2 * time.Second
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 2 * time.Second
	}
	var tlsConfig *tls.Config
	if cfg.TLS {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	scheme, rest, hasScheme := strings.Cut(addr, "://")
	if !hasScheme {
		scheme, rest = "", addr
	}
	switch scheme {
	case "redis", "rediss":
		opt, err := redis.ParseURL(addr)
		if err != nil {
			return nil, "", fmt.Errorf("--redis %q: %w", addr, err)
		}
		applyCommon(&opt.Username, &opt.Password, cfg)
		opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = cfg.DialTimeout, cfg.ReadTimeout, cfg.ReadTimeout
		if tlsConfig != nil && opt.TLSConfig == nil {
			opt.TLSConfig = tlsConfig
		}
		return redis.NewClient(opt), ModeSingle, nil
	case "", "redis-cluster", "rediss-cluster":
		hosts, user, pass, tlsConfig, err := multiHosts(addr, rest, scheme == "rediss-cluster", tlsConfig, cfg)
		if err != nil {
			return nil, "", err
		}
		if scheme == "" && len(hosts) == 1 {
			return redis.NewClient(&redis.Options{Addr: hosts[0], Username: user, Password: pass, TLSConfig: tlsConfig,
				DialTimeout: cfg.DialTimeout, ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.ReadTimeout}), ModeSingle, nil
		}
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: hosts, Username: user, Password: pass, TLSConfig: tlsConfig,
			DialTimeout: cfg.DialTimeout, ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.ReadTimeout}), ModeCluster, nil
	case "redis-sentinel", "rediss-sentinel":
		hostPart, master, ok := strings.Cut(rest, "/")
		if !ok || master == "" {
			return nil, "", fmt.Errorf("--redis %q: a Sentinel URL names the master: redis-sentinel://h1:26379,h2:26379/mymaster", addr)
		}
		hosts, user, pass, tlsConfig, err := multiHosts(addr, hostPart, scheme == "rediss-sentinel", tlsConfig, cfg)
		if err != nil {
			return nil, "", err
		}
		return redis.NewFailoverClient(&redis.FailoverOptions{MasterName: master, SentinelAddrs: hosts,
			Username: user, Password: pass, TLSConfig: tlsConfig,
			DialTimeout: cfg.DialTimeout, ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.ReadTimeout}), ModeSentinel, nil
	}
	return nil, "", fmt.Errorf("--redis %q: unknown scheme %q (use host:port, redis://, rediss://, redis-cluster:// or redis-sentinel://)", addr, scheme)
}

// multiHosts parses the host list of a cluster or Sentinel address, with
// the credentials it holds or else cfg's, and TLS when secure.
func multiHosts(addr, list string, secure bool, tlsConfig *tls.Config, cfg ClientConfig) ([]string, string, string, *tls.Config, error) {
	hosts, user, pass, err := splitHosts(list)
	if err != nil {
		return nil, "", "", nil, fmt.Errorf("--redis %q: %w", addr, err)
	}
	if secure && tlsConfig == nil {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	applyCommon(&user, &pass, cfg)
	return hosts, user, pass, tlsConfig, nil
}

func applyCommon(user, pass *string, cfg ClientConfig) {
	if *user == "" {
		*user = cfg.Username
	}
	if *pass == "" {
		*pass = cfg.Password
	}
}

// splitHosts parses "[user:pass@]h1:p1,h2:p2".
func splitHosts(s string) (hosts []string, user, pass string, err error) {
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		u, err := url.Parse("x://" + s[:at+1] + "h")
		if err != nil {
			return nil, "", "", fmt.Errorf("bad credentials: %w", err)
		}
		user = u.User.Username()
		pass, _ = u.User.Password()
		s = s[at+1:]
	}
	s = strings.TrimSuffix(s, "/")
	for _, h := range strings.Split(s, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if !strings.Contains(h, ":") {
			h += ":6379"
		}
		hosts = append(hosts, h)
	}
	if len(hosts) == 0 {
		return nil, "", "", fmt.Errorf("no host")
	}
	return hosts, user, pass, nil
}
