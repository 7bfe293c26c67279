package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/qredge/qredge/api/client"
	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/linkfile"
)

// seedWorkers bounds the concurrent requests of SeedAPI.
const seedWorkers = 16

// SeedLinks returns the links a load test asks for: the codes
// Codes(prefix, n), each to https://example.com/<code> with status 302.
// The error is the first link's that is invalid (a prefix no code can
// start with).
func SeedLinks(prefix string, n int) ([]*store.Link, error) {
	links := make([]*store.Link, 0, max(n, 0))
	for _, code := range Codes(prefix, n) {
		l := &store.Link{Code: code, Destination: seedDestination(code), Status: 302}
		if err := l.Validate(); err != nil {
			return nil, err
		}
		links = append(links, l)
	}
	return links, nil
}

func seedDestination(code string) string { return "https://example.com/" + code }

// seedStoreChunk is how many links go into one CreateLinks of SeedStore.
const seedStoreChunk = 20000

// SeedStore creates links in a store opened by this process, in atomic
// chunks; the first link that exists already stops it with its error.
func SeedStore(ctx context.Context, bc store.BulkCreator, links []*store.Link) error {
	for i := 0; i < len(links); i += seedStoreChunk {
		_, errs, err := bc.CreateLinks(ctx, links[i:min(i+seedStoreChunk, len(links))], true)
		for _, e := range errs {
			if err == nil {
				err = e // the first conflict says enough
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// SeedAPI creates n links through qredge's REST API at baseURL (with
// api/client), with the codes Codes(prefix, n) and destinations
// https://example.com/<code>, and returns the codes. It sends POST
// /api/v1/links with the API key, at most 16 at a time. A code that
// exists already (409) is fine, so seeding can be repeated; any other
// answer but 2xx stops it with an error.
func SeedAPI(ctx context.Context, baseURL, apiKey string, n int, prefix string) ([]string, error) {
	codes := Codes(prefix, n)
	tr := &http.Transport{
		MaxIdleConnsPerHost: seedWorkers,
		IdleConnTimeout:     10 * time.Second,
	}
	defer tr.CloseIdleConnections()
	cfg := client.DefaultConfig()
	cfg.URL, cfg.APIKey, cfg.Timeout, cfg.Transport = baseURL, apiKey, 30*time.Second, tr
	c := client.New(cfg)

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(seedWorkers)
	for _, code := range codes {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return createLink(gctx, c, code) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("seeding cancelled: %w", err)
	}
	return codes, nil
}

func createLink(ctx context.Context, c *client.Client, code string) error {
	_, err := c.CreateLink(ctx, &linkfile.Input{Code: code, Destination: seedDestination(code)})
	var ae *client.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae) && ae.StatusCode == http.StatusConflict:
		return nil
	case errors.As(err, &ae):
		return fmt.Errorf("cannot create link %q: %s: %s", code, ae.Status, bytes.TrimSpace(ae.Body[:min(len(ae.Body), 512)]))
	}
	return fmt.Errorf("cannot create link %q: %w", code, err)
}
