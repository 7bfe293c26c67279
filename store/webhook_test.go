package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestValidateWebhook(t *testing.T) {
	ok := func() *Webhook {
		return &Webhook{URL: "https://hooks.example.com/qredge", Secret: "0123456789abcdef", Events: []string{EventScan}}
	}
	f := func(change func(w *Webhook), wantFields ...string) {
		t.Helper()
		w := ok()
		change(w)
		err := ValidateWebhook(w)
		var got []string
		for _, fe := range ErrorFields(err) {
			got = append(got, fe.Field)
		}
		if fmt.Sprint(got) != fmt.Sprint(wantFields) || (len(wantFields) > 0) != (ErrorCode(err) == EINVALID) {
			t.Fatalf("fields %v (%v), want %v", got, err, wantFields)
		}
	}
	f(func(*Webhook) {})
	f(func(w *Webhook) { w.URL = "" }, "url")
	f(func(w *Webhook) { w.URL = "ftp://example.com/" }, "url")
	f(func(w *Webhook) { w.URL = "/relative" }, "url")
	f(func(w *Webhook) { w.URL = "https://user:pw@example.com/" }, "url")
	f(func(w *Webhook) { w.URL = "https://example.com/" + strings.Repeat("a", MaxURLLen) }, "url")
	f(func(w *Webhook) { w.URL = "http://127.0.0.1:8080/hook" }) // the address policy is CheckWebhookHost's
	f(func(w *Webhook) { w.Secret = "short" }, "secret")
	f(func(w *Webhook) { w.Secret = strings.Repeat("s", MaxWebhookSecretLen) })
	f(func(w *Webhook) { w.Secret = strings.Repeat("s", MaxWebhookSecretLen+1) }, "secret")
	f(func(w *Webhook) { w.Secret = "0123456789abcdef\n" }, "secret")
	f(func(w *Webhook) { w.Events = nil }, "events")
	f(func(w *Webhook) { w.Events = []string{"scan", "click"} }, "events[1]")
	f(func(w *Webhook) { w.Codes = []string{"ok", "bad code", "api"} }, "codes[1]", "codes[2]")
	f(func(w *Webhook) { w.Tags = []string{"tv", "no spaces"} }, "tags[1]")
	f(func(w *Webhook) { w.SampleRate = 1 })
	f(func(w *Webhook) { w.SampleRate = 0.001 })
	f(func(w *Webhook) { w.SampleRate = -0.1 }, "sample_rate")
	f(func(w *Webhook) { w.SampleRate = 1.5 }, "sample_rate")

	w := ok()
	w.Events = []string{EventLinkDeleted, EventScan, EventScan}
	w.Tags = []string{"b", "a", "b"}
	if err := ValidateWebhook(w); err != nil || fmt.Sprint(w.Events, w.Tags) != "[link.deleted scan] [a b]" {
		t.Fatalf("normalised to %v %v (%v)", w.Events, w.Tags, err)
	}
}

func TestIsPrivateAddr(t *testing.T) {
	f := func(s string, want bool) {
		t.Helper()
		if got := IsPrivateAddr(netip.MustParseAddr(s)); got != want {
			t.Fatalf("IsPrivateAddr(%s) = %v", s, got)
		}
	}
	for _, s := range []string{"127.0.0.1", "127.9.9.9", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
		"0.0.0.0", "100.64.0.1", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fc00::1", "fd12::1",
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::1", "ff02::1",
		"::7f00:1", "64:ff9b:1::a00:1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "fec0::1"} {
		f(s, true)
	}
	for _, s := range []string{"93.184.216.34", "8.8.8.8", "2606:2800:220:1::1", "64:ff9b::808:808", "2002:808:808::1"} {
		f(s, false)
	}
	if !IsPrivateAddr(netip.Addr{}) {
		t.Fatal("the zero Addr is public")
	}
}

// resolverFunc answers lookups with a fixed table: the test decides what
// a name resolves to without any DNS.
type resolverFunc func(host string) ([]netip.Addr, error)

func (f resolverFunc) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	return f(host)
}

func TestCheckWebhookHost(t *testing.T) {
	r := resolverFunc(func(host string) ([]netip.Addr, error) {
		switch host {
		case "public.example":
			return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
		case "rebind.example":
			return []netip.Addr{netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("10.0.0.5")}, nil
		}
		return nil, errors.New("no such host")
	})
	ctx := context.Background()
	f := func(host string, allow bool, res Resolver, want string) {
		t.Helper()
		err := CheckWebhookHost(ctx, host, allow, res)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(ErrorMessage(err), want) || ErrorFields(err)[0].Field != "url") {
			t.Fatalf("CheckWebhookHost(%q, %v) = %v, want %q", host, allow, err, want)
		}
	}
	f("public.example", false, r, "")
	f("8.8.8.8", false, nil, "")
	f("127.0.0.1", false, nil, "the address 127.0.0.1")
	f("127.0.0.1", true, nil, "")
	f("0x7f.1", false, nil, "the address 127.0.0.1") // as browsers and inet_aton read it
	f("2130706433", false, nil, "the address 127.0.0.1")
	f("::1", false, nil, "the address ::1")
	f("[::ffff:10.0.0.1]", false, nil, "the address 10.0.0.1")
	f("169.254.169.254", false, nil, "the address 169.254.169.254")
	f("localhost", false, nil, "this machine")
	f("app.localhost", false, r, "this machine")
	f("rebind.example", false, r, "resolves to 10.0.0.5")
	f("rebind.example", true, r, "")
	f("rebind.example", false, nil, "") // no resolver: literals only
	f("nowhere.example", false, r, "does not resolve")
	if err := CheckWebhookURL(ctx, "http://127.0.0.1:9000/x", false, nil); ErrorCode(err) != EINVALID {
		t.Fatalf("CheckWebhookURL(loopback) = %v", err)
	}
	if err := CheckWebhookURL(ctx, "http://public.example/x", false, r); err != nil {
		t.Fatal(err)
	}
}

func TestOutboxBatchCodec(t *testing.T) {
	b := &OutboxBatch{ID: "d1", WebhookID: "wh_1", Type: EventScan, Body: []byte("{\"a\":\n1}"), Events: 3}
	got, err := DecodeOutboxBatch(AppendOutboxBatch(nil, b))
	if err != nil || got.ID != "d1" || got.WebhookID != "wh_1" || string(got.Body) != string(b.Body) || got.Events != 3 {
		t.Fatalf("%+v %v", got, err)
	}
	d := &DeadLetter{OutboxBatch: *b, Reason: DeadRejected, LastError: "HTTP 400", Attempts: 2}
	gd, err := DecodeDeadLetter(AppendDeadLetter(nil, d))
	if err != nil || gd.Reason != DeadRejected || gd.Attempts != 2 || string(gd.Body) != string(b.Body) || gd.ID != "d1" {
		t.Fatalf("%+v %v", gd, err)
	}
	if _, err := DecodeOutboxBatch([]byte("{}")); err == nil {
		t.Fatal("decoded a batch without body")
	}
}
