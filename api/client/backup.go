package client

import (
	"context"
	"fmt"
	"io"
)

// Backup streams a consistent copy of a running serve's store (POST
// /api/v1/backup, an admin key's right) to w, and checks that the whole
// announced size arrived. An answer other than 200 is an *Error with the
// start of its body.
func (c *Client) Backup(ctx context.Context, w io.Writer) error {
	resp, err := c.stream(ctx, "POST", "/api/v1/backup", 4096)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return fmt.Errorf("the backup stream broke after %d bytes: %w", n, err)
	}
	if want := resp.ContentLength; want >= 0 && n != want {
		return fmt.Errorf("the backup stream ended after %d of %d bytes", n, want)
	}
	return nil
}
