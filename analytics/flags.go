package analytics

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"os"
)

// RegisterFlags adds the pipeline's flags, the same on serve and edge,
// bound to c: --spool-dir, --spool-max-bytes, --ip-hash-secret and
// --node-id. The Kafka writer's batching flags are kafka.WriterConfig's.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.SpoolDir, "spool-dir", c.SpoolDir, "directory of the event spool (events waiting for Kafka, or all events without it)")
	fs.Int64Var(&c.SpoolMaxBytes, "spool-max-bytes", c.SpoolMaxBytes, "cap of the spool; events beyond it are dropped and counted")
	fs.Func("ip-hash-secret", "secret for hashing client IPs, the same on every edge (unique visitors across edges); default: random per process", func(s string) error {
		c.IPHashSecret = []byte(s)
		return nil
	})
	fs.StringVar(&c.Edge, "node-id", c.Edge, "this node's name in events (default: the host name)")
}

// Check returns an error naming the first invalid setting, by its flag.
func (c *Config) Check() error {
	if c.SpoolDir == "" {
		return errors.New("--spool-dir must not be empty")
	}
	if c.SpoolMaxBytes < 1<<20 {
		return errors.New("--spool-max-bytes must be at least 1 MiB")
	}
	return nil
}

// SetProcessDefaults fills in what the flags leave to the running
// process: Edge, when empty, is the host name; IPHashSecret, when empty,
// is random (unique visitors then count per process only).
func (c *Config) SetProcessDefaults() {
	if c.Edge == "" {
		c.Edge, _ = os.Hostname()
	}
	if len(c.IPHashSecret) == 0 {
		b := make([]byte, 32)
		rand.Read(b)
		c.IPHashSecret = []byte(hex.EncodeToString(b))
	}
}
