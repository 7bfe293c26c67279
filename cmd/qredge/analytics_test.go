package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/kafkatest"
	"github.com/qredge/qredge/internal/redistest"
	"github.com/qredge/qredge/internal/testlog"
	"github.com/qredge/qredge/internal/testwait"
	"github.com/qredge/qredge/store"
)

func mustStartAnalytics(t *testing.T, redisAddr string, brokers []string) *AnalyticsServer {
	t.Helper()
	cfg := DefaultAnalyticsConfig()
	cfg.Redis.Addr = redisAddr
	cfg.Kafka.Kafka.Brokers = brokers
	cfg.AdminListen = "127.0.0.1:0"
	cfg.Kafka.SessionTimeout = time.Second
	cfg.Kafka.Linger = 20 * time.Millisecond
	a := &AnalyticsServer{Config: cfg, Log: newLogger(&testlog.Buffer{}, "text", "debug")}
	mustOpen(t, a.Config.Check, func() error { return a.Open(t.Context()) }, a.Close)
	return a
}

func linkStats(t *testing.T, a *APIServer, code, query string) store.LinkStats {
	t.Helper()
	st, body := apiCall(t, a, "GET", "/api/v1/links/"+code+"/stats?"+query, "")
	if st != 200 {
		t.Fatalf("stats of %s: %d %s", code, st, body)
	}
	var s store.LinkStats
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestScansToStats: scans through two edges, events through Kafka (kfake),
// aggregated by qredge analytics into Redis, read through qredge api: the
// stats hold exactly the scans, with the right breakdowns. Then the brake
// (admin endpoint and signals), and freshness measured scan by scan.
func TestScansToStats(t *testing.T) {
	srv, a := mustStartRedisAPI(t, redistest.Options{})
	codes := []string{"tv", "print", "radio"}
	for _, c := range codes {
		if st, b := apiCall(t, a, "POST", "/api/v1/links", fmt.Sprintf(`{"code":%q,"destination":"https://example.com/%s"}`, c, c)); st != 201 {
			t.Fatal(st, b)
		}
	}
	k := kafkatest.MustStart(t, kafkatest.Options{})
	brokers := k.ListenAddrs()
	var edges []*Edge
	for i := 0; i < 2; i++ {
		e := mustStartEdge(t, srv.Addr(), func(c *EdgeConfig) {
			c.Kafka.Kafka.Brokers = brokers
			c.Events.IPHashSecret = []byte("shared")
		})
		waitReady(t, e)
		edges = append(edges, e)
	}
	an := mustStartAnalytics(t, srv.Addr(), brokers)

	const n = 600
	want := map[string]int64{}
	bots := int64(0)
	for i := 0; i < n; i++ {
		code := codes[i%3]
		r, _ := http.NewRequest("GET", "http://"+edges[i%2].Addr()+"/"+code, nil)
		ua := "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"
		if i%10 == 0 {
			ua = "Googlebot/2.1"
			if code == "tv" {
				bots++
			}
		}
		r.Header.Set("User-Agent", ua)
		r.Header.Set("Referer", "https://news.example/article")
		resp, err := noRedirect.Do(r)
		if err != nil || resp.StatusCode != 302 {
			t.Fatalf("scan %d: %v %v", i, err, resp)
		}
		resp.Body.Close()
		want[code]++
	}
	testwait.For(t, 60*time.Second, "stats to hold every scan", func() bool {
		var sum int64
		for _, c := range codes {
			sum += linkStats(t, a, c, "").Total
		}
		return sum >= n
	})
	time.Sleep(300 * time.Millisecond) // anything extra would show now
	for _, c := range codes {
		s := linkStats(t, a, c, "granularity=hour")
		if s.Total != want[c] {
			t.Fatalf("%s: total %d, want %d", c, s.Total, want[c])
		}
	}
	tv := linkStats(t, a, "tv", "")
	if tv.Breakdowns["bot"]["bot"] != bots || tv.Breakdowns["referrer"]["news.example"] != want["tv"] ||
		tv.Breakdowns["target"]["destination"] != want["tv"] || tv.Breakdowns["device"]["ios"] != want["tv"]-bots {
		t.Fatalf("breakdowns of tv: %+v (bots %d)", tv.Breakdowns, bots)
	}
	if h := linkStats(t, a, "tv", "exclude_bots=true"); h.Total != want["tv"]-bots || h.Breakdowns["bot"]["bot"] != 0 {
		t.Fatalf("tv without bots: %d", h.Total)
	}
	st, body := apiCall(t, a, "GET", "/api/v1/stats/top?limit=2", "")
	var top store.TopStats
	json.Unmarshal([]byte(body), &top)
	if st != 200 || len(top.Links) != 2 || top.Links[0].Total != n/3 {
		t.Fatalf("top: %d %s", st, body)
	}

	// The brake: admin endpoint, then signals.
	adm := "http://" + an.AdminAddr()
	if resp, b := req(t, "POST", adm+"/analytics/pause", "", ""); resp.StatusCode != 200 || !strings.Contains(b, `"paused":true`) {
		t.Fatalf("pause: %d %s", resp.StatusCode, b)
	}
	select { // a batch in hand finishes
	case <-an.Brake().Halted():
	case <-time.After(10 * time.Second):
		t.Fatal("the consumer did not halt")
	}
	for i := 0; i < 30; i++ {
		scanEdge(t, edges[0], "radio")
	}
	time.Sleep(time.Second)
	if got := linkStats(t, a, "radio", "").Total; got != want["radio"] {
		t.Fatalf("paused, yet radio has %d, want %d", got, want["radio"])
	}
	if resp, b := req(t, "GET", adm+"/metrics", "", ""); resp.StatusCode != 200 || !strings.Contains(b, "qredge_analytics_paused 1") {
		t.Fatalf("metrics while paused lack qredge_analytics_paused 1")
	}
	req(t, "POST", adm+"/analytics/resume", "", "")
	want["radio"] += 30
	testwait.For(t, 30*time.Second, "resumed counts", func() bool { return linkStats(t, a, "radio", "").Total == want["radio"] })
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	testwait.For(t, 5*time.Second, "SIGUSR1 pauses", an.Brake().Paused)
	syscall.Kill(os.Getpid(), syscall.SIGUSR2)
	testwait.For(t, 5*time.Second, "SIGUSR2 resumes", func() bool { return !an.Brake().Paused() })

	// Freshness: one scan at a time, until the API shows it.
	var fresh []time.Duration
	for i := 0; i < 20; i++ {
		start := time.Now()
		scanEdge(t, edges[i%2], "print")
		want["print"]++
		testwait.For(t, 10*time.Second, "fresh count", func() bool { return linkStats(t, a, "print", "").Total == want["print"] })
		fresh = append(fresh, time.Since(start))
	}
	t.Logf("%d scans counted exactly; freshness scan -> API p50 %s, p99 %s (edge linger 50ms + Kafka + consumer linger 20ms)",
		n+50, percentile(fresh, .5).Round(time.Millisecond), percentile(fresh, .99).Round(time.Millisecond))
	if resp, b := req(t, "GET", adm+"/readyz", "", ""); resp.StatusCode != 200 {
		t.Fatalf("readyz %d %s", resp.StatusCode, b)
	}
}

// TestAnalyticsIdleMember: two members of a group on a topic of one
// partition. Both are ready; /readyz and qredge_analytics_partitions_assigned
// say which holds the partition and that the other is idle.
func TestAnalyticsIdleMember(t *testing.T) {
	srv := redistest.MustStart(t, redistest.Options{})
	k := kafkatest.MustStart(t, kafkatest.Options{Brokers: 1, Partitions: 1})
	members := []*AnalyticsServer{mustStartAnalytics(t, srv.Addr(), k.ListenAddrs()), mustStartAnalytics(t, srv.Addr(), k.ListenAddrs())}
	state := func(a *AnalyticsServer) (ready int, detail string, gauge string) {
		resp, b := req(t, "GET", "http://"+a.AdminAddr()+"/readyz", "", "")
		_, m := req(t, "GET", "http://"+a.AdminAddr()+"/metrics", "", "")
		for _, line := range strings.Split(m, "\n") {
			if v, ok := strings.CutPrefix(line, "qredge_analytics_partitions_assigned "); ok {
				gauge = v
			}
		}
		return resp.StatusCode, b, gauge
	}
	var details, gauges [2]string
	testwait.For(t, 30*time.Second, "one member holding the partition, one idle", func() bool {
		for i, a := range members {
			var ready int
			ready, details[i], gauges[i] = state(a)
			if ready != 200 {
				t.Fatalf("member %d: /readyz %d %s", i, ready, details[i])
			}
		}
		// The gauge follows the assignment a moment after /readyz does
		// (one GOMAXPROCS=1 run read it in between): wait for both.
		return strings.Contains(details[0]+details[1], "idle") && strings.Contains(details[0]+details[1], "consuming") &&
			(gauges[0] == "1") != (gauges[1] == "1")
	})
	holder, idle := 0, 1
	if strings.Contains(details[0], "idle") {
		holder, idle = 1, 0
	}
	if !strings.HasPrefix(details[holder], "ready: consuming 1 partition [0]") || gauges[holder] != "1" {
		t.Errorf("the holder: /readyz %q, qredge_analytics_partitions_assigned %q", details[holder], gauges[holder])
	}
	if !strings.HasPrefix(details[idle], "ready: idle, 0 partitions: the group has more members than the topic has partitions") || gauges[idle] != "0" {
		t.Errorf("the idle member: /readyz %q, qredge_analytics_partitions_assigned %q", details[idle], gauges[idle])
	}
}
