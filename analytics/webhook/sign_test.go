package webhook

import (
	"errors"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/testclock"
)

func TestSignVerify(t *testing.T) {
	now := testclock.Date(2026, 5, 4, 10, 0, 0)
	body := []byte(`{"id":"dlv_1"}`)
	sig := Sign(secret, now, body)
	if sig[:3] != "t=1" {
		t.Fatalf("signature %q: the test moves its time from t=1... to t=2...", sig)
	}
	f := func(secret, header string, body []byte, tolerance time.Duration, at time.Time, want error) {
		t.Helper()
		if err := Verify(secret, header, body, tolerance, at); !errors.Is(err, want) {
			t.Fatalf("Verify(%q) = %v, want %v", header, err, want)
		}
	}
	f(secret, sig, body, 5*time.Minute, now, nil)
	f(secret, sig, body, 5*time.Minute, now.Add(5*time.Minute), nil)
	f(secret, sig, body, 5*time.Minute, now.Add(6*time.Minute), ErrTooOld)
	f(secret, sig, body, 5*time.Minute, now.Add(-6*time.Minute), ErrTooOld)
	f(secret, sig, body, 0, now.Add(24*time.Hour), nil) // no tolerance: time unchecked
	f(secret, sig, []byte(`{"id":"dlv_2"}`), 0, now, ErrBadSignature)
	f("another-secret-0123", sig, body, 0, now, ErrBadSignature)
	f(secret, "", body, 0, now, ErrNoSignature)
	f(secret, "t=abc,v1=00", body, 0, now, ErrNoSignature)
	f(secret, "t=1", body, 0, now, ErrNoSignature)
	// The time is signed: moving it breaks the signature.
	f(secret, "t=2"+sig[len("t=1"):], body, 0, now, ErrBadSignature)
	// Several v1 signatures (a secret being rotated): one must match.
	f(secret, sig+",v1=deadbeef", body, 0, now, nil)
	f(secret, "v1=deadbeef, "+sig, body, 0, now, nil)
}
