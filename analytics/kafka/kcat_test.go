package kafka

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/internal/kafkatest"
)

// TestKcatReadsTopic shows the topic is plain Kafka: kcat (librdkafka)
// reads every event, with its schema header, and a value it prints raw
// decodes as a ScanEvent.
func TestKcatReadsTopic(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("kcat is not installed; .ci/run installs it (apt-get install kcat)")
		}
		t.Skip("kcat is not installed (under CI this fails instead)")
	}
	k := kafkatest.MustStart(t, kafkatest.Options{})
	s := mustWriter(t, k.ListenAddrs())
	enc := analytics.NewEncoder([]byte("secret"), "edge-kcat")
	var recs []analytics.Record
	for i := 0; i < 60; i++ {
		e := analytics.Event{Time: time.Now().UnixNano(), Key: fmt.Sprintf("spring%d\x00", i), Version: 3, Status: 302,
			Target: analytics.TargetDestination, Rule: -1, Device: analytics.DeviceIOS, Country: [2]byte{'D', 'E'}}
		e.ID[15] = byte(i)
		recs = append(recs, analytics.Record{Key: e.ID[:], Value: enc.Append(nil, &e)})
	}
	if err := s.Publish(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	broker := k.ListenAddrs()[0]
	kcat := func(args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "kcat", append([]string{"-b", broker, "-t", kafkatest.Topic, "-C", "-o", "beginning", "-e", "-q"}, args...)...).Output()
		if err != nil {
			t.Fatalf("kcat %v: %v\n%s", args, err, out)
		}
		return out
	}
	lines := strings.Split(strings.TrimSpace(string(kcat("-f", "%p %o %h\n"))), "\n")
	if len(lines) != 60 {
		t.Fatalf("kcat read %d messages, want 60", len(lines))
	}
	for _, l := range lines {
		if !strings.Contains(l, "qredge-schema="+analytics.SchemaName) {
			t.Fatalf("message without the schema header: %q", l)
		}
	}
	raw := kcat("-p", "0", "-c", "1", "-f", "%s")
	d, err := analytics.Decode(raw)
	if err != nil || !strings.HasPrefix(d.Code, "spring") || d.Country != "DE" || d.Edge != "edge-kcat" {
		t.Fatalf("decoding kcat's raw value: %+v, %v", d, err)
	}
}
