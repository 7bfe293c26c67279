package webhook_test

import (
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/qredge/qredge/analytics/webhook"
)

// A receiver checks each delivery's signature on the body as received,
// and answers 2xx only once it has stored the delivery; it deduplicates
// by the Qredge-Delivery header, as a delivery may come more than once.
func ExampleVerify() {
	const secret = "whsec_from-the-webhook-creation"
	http.HandleFunc("/qredge", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
		if err != nil {
			http.Error(w, "cannot read the body", http.StatusBadRequest)
			return
		}
		if err := webhook.Verify(secret, r.Header.Get(webhook.HeaderSignature), body, 5*time.Minute, time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized) // a 4xx: not retried
			return
		}
		fmt.Println("delivery", r.Header.Get(webhook.HeaderDelivery), "of", r.Header.Get(webhook.HeaderEvent))
		w.WriteHeader(http.StatusNoContent)
	})
}
