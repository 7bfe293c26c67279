package api

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"

	"github.com/qredge/qredge/store"
)

// The web console: static files embedded in the binary (no CDN, no
// outside font or script), served at /ui/ on the API's listener. The page
// talks to the API like any client, signed in with a session cookie
// (session.go).

//go:embed ui
var uiFiles embed.FS

// consoleCSP allows only the console's own files: no inline script or
// style, no eval, no framing; QR previews are blob: images.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// consoleHandler serves GET /ui/ (the page) and its files; /ui sends to
// /ui/.
func consoleHandler() http.Handler {
	root, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic("BUG: " + err.Error())
	}
	files := http.StripPrefix("/ui/", http.FileServerFS(root))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", consoleCSP)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-cache")
		switch {
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			h.Set("Allow", "GET, HEAD")
			WriteProblem(w, NewProblem(store.Errorf("method_not_allowed", "%s is not allowed on %s; allowed: GET, HEAD", r.Method, r.URL.Path)))
		case r.URL.Path == "/ui":
			http.Redirect(w, r, "/ui/", http.StatusMovedPermanently)
		case strings.HasSuffix(r.URL.Path, "/") && r.URL.Path != "/ui/":
			http.NotFound(w, r) // no directory listings
		default:
			files.ServeHTTP(w, r)
		}
	})
}

// IsConsolePath reports whether path is the console's (/ui or under
// /ui/).
func IsConsolePath(path string) bool {
	return path == "/ui" || strings.HasPrefix(path, "/ui/")
}
