package client

import (
	"context"

	"github.com/qredge/qredge/store"
)

// CreateKey creates an API key (POST /api/v1/keys, an admin key's right)
// and returns it with its secret, which is shown this once.
func (c *Client) CreateKey(ctx context.Context, name, scope string) (secret string, k *store.APIKey, err error) {
	var out struct {
		store.APIKey
		Key string `json:"key"`
	}
	err = c.doJSON(ctx, "POST", "/api/v1/keys", map[string]string{"name": name, "scope": scope}, &out)
	return out.Key, &out.APIKey, err
}

// ListKeys returns the API keys, without their secrets.
func (c *Client) ListKeys(ctx context.Context) ([]*store.APIKey, error) {
	var out struct {
		Keys []*store.APIKey `json:"keys"`
	}
	err := c.doJSON(ctx, "GET", "/api/v1/keys", nil, &out)
	return out.Keys, err
}

// RevokeKey revokes the API key with the id.
func (c *Client) RevokeKey(ctx context.Context, id string) error {
	return c.doJSON(ctx, "DELETE", "/api/v1/keys/"+id, nil, nil)
}
