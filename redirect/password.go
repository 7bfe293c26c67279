package redirect

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"html"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/qredge/qredge/store"
)

// Password-protected links. A visitor without a valid cookie gets a small
// HTML form (no JavaScript) that posts the password back to the short URL
// itself. The right password sets a cookie scoped to the link's path and
// answers 303 to the same URL, whose GET then redirects (and is counted)
// as any scan. The cookie is the expiry time and an HMAC of the link's key
// and that time keyed by the link's password hash: any edge can check it
// without a shared secret, and changing the password ends every cookie.
//
// Checking a password costs an argon2id hash (about 30 ms and 19 MiB):
// at most half the process's CPUs (one at least) check at once, and the
// others are told to retry. Each client (an IPv4 address, or an IPv6 /64)
// may try maxGuesses times a minute per link, and each link may be
// guessed wrong maxLinkFailures times a minute per process, whoever
// guesses: a guesser with many addresses is slowed as much as one.

// PasswordCookiePrefix starts the name of a protected link's cookie; the
// code follows.
const PasswordCookiePrefix = "qp_"

const (
	maxGuesses      = 5
	maxLinkFailures = 120
	maxGuessClients = 100_000 // (link, client) pairs counted in a minute; beyond, only the links' budgets apply
)

// maxPasswordChecks bounds the argon2id checks running at once.
var maxPasswordChecks = max(1, runtime.GOMAXPROCS(0)/2)

// passwordToken is the cookie value that opens link l until expires (Unix
// seconds).
func passwordToken(l *Link, expires int64) []byte {
	var buf [8 + sha256.Size]byte
	binary.BigEndian.PutUint64(buf[:8], uint64(expires))
	m := hmac.New(sha256.New, []byte(l.password))
	m.Write([]byte(l.key()))
	m.Write(buf[:8])
	copy(buf[8:], m.Sum(nil)[:16])
	out := make([]byte, base64.RawURLEncoding.EncodedLen(24))
	base64.RawURLEncoding.Encode(out, buf[:24])
	return out
}

// unlocked reports whether the request carries a valid cookie of l.
func (h *Handler) unlocked(ctx *fasthttp.RequestCtx, l *Link, now int64) bool {
	c := ctx.Request.Header.Cookie(l.pwCookie)
	if len(c) != base64.RawURLEncoding.EncodedLen(24) {
		return false
	}
	var buf [24]byte
	if _, err := base64.RawURLEncoding.Decode(buf[:], c); err != nil {
		return false
	}
	expires := int64(binary.BigEndian.Uint64(buf[:8]))
	if expires <= now/int64(time.Second) {
		return false
	}
	return hmac.Equal(passwordToken(l, expires), c)
}

// guesses counts password tries per link and client, and wrong ones per
// link, in one-minute windows: a new minute starts with empty maps, so
// neither grows past one minute's clients and links.
type guesses struct {
	mu       sync.Mutex
	minute   int64
	byClient map[string]int
	failures map[string]int
}

// clientKey is the link and the client's address, an IPv6 one cut to its
// /64 (what one subscriber gets).
func clientKey(link string, ip netip.Addr) string {
	if ip.Is6() && !ip.Is4In6() {
		p, _ := ip.Prefix(64)
		return link + "\x00" + p.String()
	}
	return link + "\x00" + ip.Unmap().String()
}

// allow reports whether the client may try another password for the link
// now, and counts the try.
func (g *guesses) allow(link string, ip netip.Addr, now int64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if m := now / int64(time.Minute); m != g.minute || g.byClient == nil {
		g.minute, g.byClient, g.failures = m, map[string]int{}, map[string]int{}
	}
	if g.failures[link] >= maxLinkFailures {
		return false
	}
	k := clientKey(link, ip)
	n, known := g.byClient[k]
	if n >= maxGuesses {
		return false
	}
	if known || len(g.byClient) < maxGuessClients {
		g.byClient[k] = n + 1
	}
	return true
}

// failed counts a wrong password for the link.
func (g *guesses) failed(link string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failures != nil && (g.failures[link] > 0 || len(g.failures) < maxGuessClients) {
		g.failures[link]++
	}
}

// passwordGate answers a request for a protected link without a valid
// cookie: the form, or for a POST the check of its password.
func (h *Handler) passwordGate(ctx *fasthttp.RequestCtx, l *Link, now int64) {
	if !ctx.IsPost() {
		h.count(ctx, rPassword)
		h.writePasswordPage(ctx, fasthttp.StatusOK, "")
		return
	}
	if !h.guesses.allow(l.key(), h.clientIP(ctx), now) {
		h.count(ctx, rPassword)
		ctx.Response.Header.Set("Retry-After", "60")
		h.writePasswordPage(ctx, fasthttp.StatusTooManyRequests, "Too many tries. Wait a minute and try again.")
		return
	}
	select {
	case h.pwChecks <- struct{}{}:
	default:
		h.count(ctx, rPassword)
		ctx.Response.Header.Set("Retry-After", "1")
		h.writePasswordPage(ctx, fasthttp.StatusServiceUnavailable, "Busy. Try again in a moment.")
		return
	}
	pw := ctx.PostArgs().Peek("password")
	ok := len(pw) >= store.MinPasswordLen && len(pw) <= store.MaxPasswordLen && store.VerifyPassword(l.password, string(pw))
	<-h.pwChecks
	if !ok {
		h.guesses.failed(l.key())
		h.count(ctx, rPassword)
		h.writePasswordPage(ctx, fasthttp.StatusForbidden, "Wrong password. Try again.")
		return
	}
	expires := now/int64(time.Second) + int64(h.pwMaxAge/time.Second)
	var cookie []byte
	cookie = append(cookie, l.pwCookie...)
	cookie = append(cookie, '=')
	cookie = append(cookie, passwordToken(l, expires)...)
	cookie = append(cookie, l.path...)
	cookie = append(cookie, h.pwCookieAttrs...)
	ctx.Response.Header.SetCanonical(strSetCookie, cookie)
	ctx.Response.Header.SetCanonical(strCacheControl, strNoStore)
	// Back to the same URL (with its query, such as the QR marker): its
	// GET now passes and is counted as the scan.
	loc := append([]byte(nil), ctx.Path()...) // never the request's own absolute form
	if q := ctx.URI().QueryString(); len(q) > 0 {
		loc = append(append(loc, '?'), q...)
	}
	ctx.Response.Header.SetCanonical(strLocation, loc)
	ctx.Response.SetStatusCode(fasthttp.StatusSeeOther)
	h.count(ctx, rPassword)
}

// writePasswordPage writes the password form, with msg (an error) above
// it when not empty.
func (h *Handler) writePasswordPage(ctx *fasthttp.RequestCtx, status int, msg string) {
	page := passwordPageHead
	if msg != "" {
		page += `<p role="alert" class="err">` + html.EscapeString(msg) + `</p>`
	}
	page += passwordPageForm
	ctx.Response.Header.SetCanonical(strCacheControl, strNoStore)
	ctx.Response.Header.Set("X-Frame-Options", "DENY")
	ctx.Response.Header.Set("Referrer-Policy", "no-referrer")
	ctx.Response.SetStatusCode(status)
	ctx.Response.Header.SetContentTypeBytes(strHTML)
	ctx.Response.SetBodyString(page)
}

const (
	passwordPageHead = `<!doctype html><html lang="en"><meta charset="utf-8">` +
		`<meta name="viewport" content="width=device-width, initial-scale=1"><title>Password required</title>` +
		`<style>body{font:1.1rem/1.5 system-ui,sans-serif;max-width:26rem;margin:2rem auto;padding:0 1rem}` +
		`input,button{font:inherit;width:100%;box-sizing:border-box;padding:.6rem;margin:.3rem 0}` +
		`button{background:#1a56db;color:#fff;border:0;border-radius:.3rem}.err{color:#b00020;font-weight:600}</style>` +
		`<main><h1>Password required</h1><p>This link is protected. Enter its password to continue.</p>`
	passwordPageForm = `<form method="post"><label for="password">Password</label>` +
		`<input id="password" name="password" type="password" autocomplete="current-password" required autofocus>` +
		`<button type="submit">Continue</button></form></main>` + "\n"
)
