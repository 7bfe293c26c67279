package main

import (
	"context"
	"io"

	"github.com/qredge/qredge/analytics/webhook"
)

func runWebhooks(ctx context.Context, args []string, stderr io.Writer) error {
	w := &webhook.Service{Config: webhook.DefaultServiceConfig(), BuildInfo: buildInfo()}
	return runDaemon(ctx, "webhooks", "qredge webhooks --redis ADDR --kafka BROKERS [flags]", &w.Config, &w.Log, args, stderr, func() error { return w.Open(ctx) }, w.Close)
}
