package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/qredge/qredge/api"
)

// Config is the configuration of a Client.
type Config struct {
	// URL is the base URL of the server, such as http://localhost:8080;
	// a trailing slash is dropped.
	URL string
	// Name names the server in errors ("cannot reach NAME: ..."); empty
	// for the URL as given.
	Name string
	// APIKey is sent as a Bearer token; none is sent when it is empty.
	APIKey string
	// Timeout bounds one exchange, the answer's body included; 0 for
	// none (the context still bounds it).
	Timeout time.Duration
	// Transport makes the requests; nil for http.DefaultTransport.
	Transport http.RoundTripper
	// RateLimitRetries is how often a request answered 429 is sent again,
	// each time after waiting as its Retry-After says (1 to 60 s).
	RateLimitRetries int
}

// DefaultConfig returns the defaults: a five-minute timeout (a bulk
// request of 10,000 links takes seconds) and ten retries of a 429.
func DefaultConfig() Config {
	return Config{Timeout: 5 * time.Minute, RateLimitRetries: 10}
}

// Client is a client of one server. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base string
	http *http.Client
}

// New returns a client of cfg.URL.
func New(cfg Config) *Client {
	if cfg.Name == "" {
		cfg.Name = cfg.URL
	}
	return &Client{cfg: cfg, base: strings.TrimSuffix(cfg.URL, "/"), http: &http.Client{Timeout: cfg.Timeout, Transport: cfg.Transport}}
}

// Problem is the problem+json body of an API error, as the API writes it.
type Problem = api.Problem

// Error is an answer the call did not expect, usually not 2xx.
type Error struct {
	StatusCode int
	Status     string  // such as "404 Not Found"
	Problem    Problem // decoded from the body when it is JSON, else zero
	Body       []byte  // the body (its start, for a streamed answer)
}

func (e *Error) Error() string {
	if e.Problem.Detail != "" {
		return fmt.Sprintf("server answered %s: %s", e.Status, e.Problem.Detail)
	}
	return "server answered " + e.Status
}

func answerError(resp *http.Response, body []byte) *Error {
	e := &Error{StatusCode: resp.StatusCode, Status: resp.Status, Body: body}
	_ = json.Unmarshal(body, &e.Problem)
	return e
}

// URLError is the error of a request that could not be made of the base
// URL and the path: nothing was sent.
type URLError struct{ Err error }

func (e *URLError) Error() string { return e.Err.Error() }

func (e *URLError) Unwrap() error { return e.Err }

// send sends one request, and again after a wait for as long as the
// server answers 429 and retries are left. The caller closes the body.
func (c *Client) send(ctx context.Context, method, path string, body []byte, hdr ...string) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
		if err != nil {
			return nil, &URLError{err}
		}
		if c.cfg.APIKey != "" {
			req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, fmt.Errorf("cannot reach %s: %w", c.cfg.Name, err)
		}
		if resp.StatusCode != http.StatusTooManyRequests || attempt >= c.cfg.RateLimitRetries {
			return resp, nil
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if err := waitRetryAfter(ctx, resp); err != nil {
			return nil, err
		}
	}
}

// do sends a request and reads the whole answer, whatever its status;
// hdr are header names and values.
func (c *Client) do(ctx context.Context, method, path string, body []byte, hdr ...string) (*http.Response, []byte, error) {
	resp, err := c.send(ctx, method, path, body, hdr...)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read the answer of %s: %w", c.cfg.Name, err)
	}
	return resp, b, nil
}

// doJSON sends in (unless nil) as JSON and decodes a 2xx answer into out
// (unless nil); other answers are an *Error.
func (c *Client) doJSON(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	resp, b, err := c.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return answerError(resp, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("cannot decode server answer: %w", err)
		}
	}
	return nil
}

// stream sends a request and returns a 200 answer with its body unread;
// any other is an *Error with the start (up to max bytes) of its body.
func (c *Client) stream(ctx context.Context, method, path string, max int64) (*http.Response, error) {
	resp, err := c.send(ctx, method, path, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, max))
		return nil, answerError(resp, b)
	}
	return resp, nil
}

// waitRetryAfter waits as a 429 answer's Retry-After says (whole seconds,
// 1 to 60; 1 when absent or unreadable), or until ctx ends.
func waitRetryAfter(ctx context.Context, resp *http.Response) error {
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || secs < 1 {
		secs = 1
	}
	secs = min(secs, 60)
	t := time.NewTimer(time.Duration(secs) * time.Second)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Call sends a request to the API with in (nil: no body) as JSON and hdr
// as header names and values, and returns the body and headers of a 2xx
// answer; any other answer is an *Error.
func (c *Client) Call(ctx context.Context, method, path string, in any, hdr ...string) ([]byte, http.Header, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return nil, nil, err
		}
	}
	resp, b, err := c.do(ctx, method, path, body, hdr...)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return nil, nil, answerError(resp, b)
	}
	return b, resp.Header, nil
}

// Download writes the body of a 200 answer to GET path to w.
func (c *Client) Download(ctx context.Context, path string, w io.Writer) error {
	resp, err := c.stream(ctx, "GET", path, 64<<10)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("cannot read the answer of %s: %w", c.cfg.Name, err)
	}
	return nil
}

// URL returns the base URL of the server, as configured.
func (c *Client) URL() string { return c.cfg.URL }
