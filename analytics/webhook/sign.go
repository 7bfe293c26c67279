package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Headers of a delivery.
const (
	HeaderDelivery  = "Qredge-Delivery"  // the batch id: the same on every retry
	HeaderEvent     = "Qredge-Event"     // the batch's event type
	HeaderSignature = "Qredge-Signature" // t=<unix seconds>,v1=<hex HMAC-SHA256>
	UserAgent       = "qredge-webhooks"
)

// Sign returns the Qredge-Signature of body sent at t: the Unix time and
// the hex HMAC-SHA256, under the webhook's secret, of the time, a dot and
// the body (the scheme Stripe uses), so that a receiver can check both
// that qredge sent it and that it is recent.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Errors of Verify.
var (
	ErrNoSignature  = errors.New("no valid Qredge-Signature header")
	ErrBadSignature = errors.New("the signature does not match the body")
	ErrTooOld       = errors.New("the signature's time is outside the tolerance")
)

// Verify checks a Qredge-Signature header against body and secret, for
// receivers: the body must be the bytes received, before any parsing.
// One of the header's v1 signatures must match (there may be several
// while a secret is rotated), and with a positive tolerance its time must
// be within tolerance of now (5 minutes is usual), so that a captured
// delivery cannot be replayed later.
func Verify(secret, header string, body []byte, tolerance time.Duration, now time.Time) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrNoSignature
	}
	want := mac(secret, ts, body)
	match := false
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			match = true
		}
	}
	if !match {
		return ErrBadSignature
	}
	if tolerance > 0 {
		if d := now.Sub(time.Unix(t, 0)); d > tolerance || d < -tolerance {
			return ErrTooOld
		}
	}
	return nil
}
