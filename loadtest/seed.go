package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// seedWorkers bounds the concurrent requests of SeedAPI.
const seedWorkers = 16

// SeedAPI creates n links through qredge's REST API at baseURL, with the
// codes Codes(prefix, n) and destinations https://example.com/<code>, and
// returns the codes. It sends POST /api/v1/links with the API key as a
// Bearer token, at most 16 at a time. A code that exists already (409) is
// fine, so seeding can be repeated; any other answer but 201 stops it with
// an error.
func SeedAPI(ctx context.Context, baseURL, apiKey string, n int, prefix string) ([]string, error) {
	codes := Codes(prefix, n)
	endpoint := strings.TrimSuffix(baseURL, "/") + "/api/v1/links"
	tr := &http.Transport{
		MaxIdleConnsPerHost: seedWorkers,
		IdleConnTimeout:     10 * time.Second,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(seedWorkers)
	for _, code := range codes {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return createLink(gctx, client, endpoint, apiKey, code) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("seeding cancelled: %w", err)
	}
	return codes, nil
}

func createLink(ctx context.Context, client *http.Client, endpoint, apiKey, code string) error {
	body, err := json.Marshal(struct {
		Code        string `json:"code"`
		Destination string `json:"destination"`
	}{code, "https://example.com/" + code})
	if err != nil {
		return fmt.Errorf("BUG: cannot encode link %q: %w", code, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("cannot create link %q: %w", code, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("cannot create link %q: %w", code, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch resp.StatusCode {
	case http.StatusCreated, http.StatusConflict:
		return nil
	}
	return fmt.Errorf("cannot create link %q: %s: %s", code, resp.Status, bytes.TrimSpace(msg))
}
