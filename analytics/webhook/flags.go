package webhook

import "flag"

// RegisterFlags adds --webhook-allow-private, --webhook-timeout,
// --webhook-give-up-after, --webhook-max-events and --webhook-outbox-cap,
// bound to c.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	RegisterAllowPrivate(fs, &c.AllowPrivate)
	fs.DurationVar(&c.Timeout, "webhook-timeout", c.Timeout, "longest wait for a webhook receiver's answer to one delivery, connecting included; then it is retried")
	fs.DurationVar(&c.GiveUpAfter, "webhook-give-up-after", c.GiveUpAfter, "how long a failing delivery is retried, from when it was queued, before it goes to the webhook's dead letters")
	fs.IntVar(&c.MaxEvents, "webhook-max-events", c.MaxEvents, "most events in one webhook delivery")
	fs.IntVar(&c.OutboxCap, "webhook-outbox-cap", c.OutboxCap, "most deliveries waiting per webhook; more go to its dead letters (backlog_full) and are counted")
}

// RegisterAllowPrivate adds --webhook-allow-private bound to v: the one
// webhook flag of qredge api too, which checks the URLs of webhooks.
func RegisterAllowPrivate(fs *flag.FlagSet, v *bool) {
	fs.BoolVar(v, "webhook-allow-private", *v, "let webhooks reach loopback, private and link-local addresses (receivers inside your own network); refused by default, also when a host name resolves to one")
}
