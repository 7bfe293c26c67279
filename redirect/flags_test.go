package redirect

import (
	"flag"
	"io"
	"strings"
	"testing"
)

func TestConfigFlags(t *testing.T) {
	f := func(args []string, wantErr string) {
		t.Helper()
		c := DefaultConfig()
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		c.RegisterFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		err := c.Check()
		if wantErr == "" && err != nil || wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)) {
			t.Fatalf("%v: error %v, want %q", args, err, wantErr)
		}
	}
	f(nil, "")
	f([]string{"--country-header", "CF-IPCountry", "--client-ip-header", "X-Forwarded-For", "--not-found-url", "https://example.com/404"}, "")
	f([]string{"--country-header", "CF IPCountry"}, "--country-header")
	f([]string{"--client-ip-header", "X:Real"}, "--client-ip-header")
	f([]string{"--gone-url", "ftp://example.com/"}, "--gone-url")
	f([]string{"--temporary-max-age", "-1s"}, "must not be negative")
	f([]string{"--variant-cookie-max-age", "500ms"}, "at least 1s")
}
