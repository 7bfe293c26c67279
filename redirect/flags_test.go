package redirect

import (
	"testing"

	"github.com/qredge/qredge/internal/cli/clitest"
)

func TestConfigFlags(t *testing.T) {
	f := func(args []string, wantErr string) {
		t.Helper()
		c := DefaultConfig()
		clitest.Parse(t, c.RegisterFlags, args)
		clitest.WantErr(t, args, c.Check(), wantErr)
	}
	f(nil, "")
	f([]string{"--country-header", "CF-IPCountry", "--client-ip-header", "X-Forwarded-For", "--not-found-url", "https://example.com/404"}, "")
	f([]string{"--country-header", "CF IPCountry"}, "--country-header")
	f([]string{"--client-ip-header", "X:Real"}, "--client-ip-header")
	f([]string{"--gone-url", "ftp://example.com/"}, "--gone-url")
	f([]string{"--temporary-max-age", "-1s"}, "must not be negative")
	f([]string{"--variant-cookie-max-age", "500ms"}, "at least 1s")
}
