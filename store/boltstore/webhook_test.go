package boltstore

import (
	"testing"

	"github.com/qredge/qredge/store/storetest"
)

func TestWebhooks(t *testing.T) {
	storetest.RunWebhooks(t, func(t *testing.T) storetest.WebhookStore { return mustOpen(t, t.TempDir()) })
}
