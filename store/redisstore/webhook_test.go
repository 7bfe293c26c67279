package redisstore

import (
	"testing"
	"time"

	"github.com/qredge/qredge/internal/redistest"
	"github.com/qredge/qredge/store/storetest"
)

func TestWebhooksSingle(t *testing.T) {
	srv := redistest.MustStart(t, redistest.Options{})
	n := 0
	storetest.RunWebhooks(t, func(t *testing.T) storetest.WebhookStore {
		n++
		return mustOpen(t, srv.Addr(), "w"+time.Now().Format("150405.000000")+string(rune('a'+n%26)))
	})
}

// TestWebhooksCluster runs the suite on Redis Cluster: every webhook key
// carries the {wh} hash tag, so the scripts that span webhooks work there.
func TestWebhooksCluster(t *testing.T) {
	c := redistest.MustStartCluster(t)
	n := 0
	storetest.RunWebhooks(t, func(t *testing.T) storetest.WebhookStore {
		n++
		return mustOpen(t, "redis-cluster://"+c.Addrs(), "w"+time.Now().Format("150405.000000")+string(rune('a'+n%26)))
	})
}
