// Command floor is the framework's floor for make bench-compare: a bare
// fasthttp server answering GET /c1 .. /cN with a 302 from a Go map, with
// no rules, events, metrics or limits. What qredge edge costs beyond it
// is qredge's own.
//
//	floor -listen 127.0.0.1:8080 -n 100000
package main

import (
	"flag"
	"log"
	"net/http"
	_ "net/http/pprof"
	"strconv"

	"github.com/valyala/fasthttp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address")
	n := flag.Int("n", 100000, "codes c1..cN to https://example.com/<code>")
	pprofAddr := flag.String("pprof", "", "serve /debug/pprof/ on this address")
	flag.Parse()
	if *pprofAddr != "" {
		go func() { log.Println(http.ListenAndServe(*pprofAddr, nil)) }()
	}
	links := make(map[string][]byte, *n)
	for i := 1; i <= *n; i++ {
		code := "c" + strconv.Itoa(i)
		links["/"+code] = []byte("https://example.com/" + code)
	}
	notFound := []byte("not found\n")
	srv := &fasthttp.Server{
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		Handler: func(ctx *fasthttp.RequestCtx) {
			if loc, ok := links[string(ctx.Path())]; ok {
				ctx.Response.Header.SetBytesV("Location", loc)
				ctx.SetStatusCode(fasthttp.StatusFound)
				return
			}
			ctx.SetStatusCode(fasthttp.StatusNotFound)
			ctx.Response.SetBodyRaw(notFound)
		},
	}
	log.Printf("listening %s", *listen)
	log.Fatal(srv.ListenAndServe(*listen))
}
