package redisstore

import (
	"testing"

	"github.com/qredge/qredge/internal/redistest"
	"github.com/qredge/qredge/store/storetest"
)

func TestWebhooksSingle(t *testing.T) {
	open := freshStores(redistest.MustStart(t, redistest.Options{}).Addr(), "w")
	storetest.RunWebhooks(t, func(t *testing.T) storetest.WebhookStore { return open(t) })
}

// TestWebhooksCluster runs the suite on Redis Cluster: every webhook key
// carries the {wh} hash tag, so the scripts that span webhooks work there.
func TestWebhooksCluster(t *testing.T) {
	open := freshStores("redis-cluster://"+redistest.MustStartCluster(t).Addrs(), "w")
	storetest.RunWebhooks(t, func(t *testing.T) storetest.WebhookStore { return open(t) })
}
