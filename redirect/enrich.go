package redirect

import (
	"net/netip"

	"github.com/qredge/qredge/analytics"
)

// Event enrichment runs on the event pipeline's batcher goroutine, never
// on the request path: record (handler.go) copies the raw User-Agent,
// Accept-Language and client IP into the event and marks what the rules
// did not work out already (Event.Enrich); the batcher calls the function
// EventEnricher returns on each such event before encoding it. A redirect
// whose rules did not need the device, language or country pays for
// neither the classification nor the GeoIP lookup.

// EventEnricher returns the function the event pipeline calls on its
// batcher goroutine (analytics.Config.Enrich) to work out what record left
// in an event's raw fields: device class and bot flag from the User-Agent,
// the primary language, and the country of the client IP when countries
// is not nil. The results are those the rules would have seen.
func EventEnricher(countries CountryLookup) func(*analytics.Event) {
	return func(e *analytics.Event) {
		if e.Enrich&analytics.EnrichDevice != 0 {
			dev, bot := ClassifyUA(e.UA[:e.UALen])
			e.Device, e.Bot = deviceEvents[dev], bot
		}
		if e.Enrich&analytics.EnrichLang != 0 {
			l, n := primaryLang(e.AcceptLang[:e.LangLen])
			copy(e.Lang[:], l[:n])
		}
		if e.Enrich&analytics.EnrichCountry != 0 && countries != nil {
			if e.IP != ([16]byte{}) { // no client IP: no country
				e.Country = countries.Country(netip.AddrFrom16(e.IP).Unmap())
			}
		}
		e.Enrich = 0
	}
}
