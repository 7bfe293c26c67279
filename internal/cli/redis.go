package cli

import (
	"context"
	"errors"
	"flag"
	"time"

	"github.com/qredge/qredge/store/redisstore"
)

// RedisFlags say how a command reaches Redis.
type RedisFlags struct {
	Addr         string
	Username     string
	Password     string
	TLS          bool
	Prefix       string
	StreamMaxLen int64
}

// DefaultRedisFlags returns the defaults, redisstore's.
func DefaultRedisFlags() RedisFlags {
	d := redisstore.DefaultConfig()
	return RedisFlags{Prefix: d.Prefix, StreamMaxLen: d.StreamMaxLen}
}

// Register adds the --redis flags to fs.
func (c *RedisFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "redis", c.Addr, "Redis: host:port, redis://[user:pass@]host:port/db (rediss:// for TLS), a comma-separated list or redis-cluster://h1:p1,h2:p2 for Cluster, redis-sentinel://h1:p1,h2:p2/master for Sentinel")
	fs.StringVar(&c.Username, "redis-username", c.Username, "Redis ACL user name (when not in the URL)")
	fs.StringVar(&c.Password, "redis-password", c.Password, "Redis password (when not in the URL); prefer the environment variable")
	fs.BoolVar(&c.TLS, "redis-tls", c.TLS, "connect to Redis with TLS")
	fs.StringVar(&c.Prefix, "redis-prefix", c.Prefix, "prefix of every Redis key, to share one Redis between deployments")
	fs.Int64Var(&c.StreamMaxLen, "redis-stream-maxlen", c.StreamMaxLen, "approximate cap of the change stream; an edge further behind reloads in full")
}

// Open checks the settings and connects, for the commands that use Redis
// once and stop.
func (c *RedisFlags) Open(ctx context.Context) (*redisstore.Store, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	return redisstore.Open(ctx, c.Config())
}

// Check returns an error naming the first invalid setting.
func (c *RedisFlags) Check() error {
	if c.Addr == "" {
		return errors.New("--redis is required (QREDGE_REDIS), such as --redis 127.0.0.1:6379")
	}
	if _, _, err := redisstore.NewClient(c.Client()); err != nil {
		return err
	}
	if c.Prefix == "" {
		return errors.New("--redis-prefix must not be empty")
	}
	if c.StreamMaxLen < 100 {
		return errors.New("--redis-stream-maxlen must be at least 100")
	}
	return nil
}

// Client returns the connection settings.
func (c *RedisFlags) Client() redisstore.ClientConfig {
	return redisstore.ClientConfig{Addr: c.Addr, Username: c.Username, Password: c.Password, TLS: c.TLS,
		DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second}
}

// Config returns the store's configuration.
func (c *RedisFlags) Config() redisstore.Config {
	return redisstore.Config{Client: c.Client(), Prefix: c.Prefix, StreamMaxLen: c.StreamMaxLen}
}
