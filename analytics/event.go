package analytics

// Targets: why a scan went where it went (scan.proto ScanEvent.Target).
const (
	TargetUnspecified uint8 = iota
	TargetDestination
	TargetRule
	TargetVariant
	TargetVariantCookie
	TargetNotYetActive
	TargetExpired
	TargetDisabled
	TargetScanLimit // past the link's max_scans
)

// Devices (scan.proto ScanEvent.Device).
const (
	DeviceUnspecified uint8 = iota
	DeviceIOS
	DeviceAndroid
	DeviceDesktop
	DeviceOther
)

// Sources: how the visitor reached the short link (scan.proto
// ScanEvent.Source).
const (
	SourceLink uint8 = iota // the short link itself
	SourceQR                // the QR marker: a scan of a printed code
)

// MaxReferrerLen is how much of the referrer host an event keeps.
const MaxReferrerLen = 64

// Sizes of the raw request fields an event carries for the batcher to
// classify (see Event.Enrich).
const (
	MaxRawUA   = 255
	MaxRawLang = 32
)

// What the batcher still has to work out from an event's raw fields.
const (
	EnrichDevice  uint8 = 1 << iota // Device and Bot from UA
	EnrichLang                      // Lang from AcceptLang
	EnrichCountry                   // Country from IP (GeoIP)
)

// Event is one scan as the hot path records it: a fixed-size value with no
// pointers into the request, so copying it into the queue allocates
// nothing and nothing outlives the request. Key and Variant share memory
// with the compiled link, which is immutable.
type Event struct {
	ID   [16]byte // set by Queue.Enqueue
	Time int64    // Unix nanoseconds
	Key  string   // store.LinkKey(domain, code)
	// Extras are the link's stored extras (store.AppendLinkExtras), a view
	// into the compiled link; the encoder reads the link's creation time,
	// its identity, from them. Empty for a scan of no link.
	Extras  string
	Version uint64
	Status  uint16
	Target  uint8
	Rule    int16 // -1 when no rule matched
	// RuleName is the matching rule's name ("" without one), a view into
	// the compiled link.
	RuleName string
	Variant  string
	// MaxScans is the link's scan limit (0: none) and LimitBots whether
	// bots count toward it: the analytics consumer marks a link whose
	// limit its counts reach.
	MaxScans  int64
	LimitBots bool
	Country   [2]byte
	Lang      [8]byte
	Device    uint8
	Bot       bool
	Source    uint8 // SourceLink or SourceQR
	RefLen    uint8
	Ref       [MaxReferrerLen]byte
	IP        [16]byte // raw, in memory only; hashed before encoding

	// Enrich says which of Device/Bot, Lang and Country the hot path left
	// to the batcher (Config.Enrich), because the link's rules did not
	// need them: copying the raw header bytes costs a few nanoseconds,
	// classifying a User-Agent a few hundred, and the batcher runs off
	// the request path.
	Enrich     uint8
	UALen      uint8
	UA         [MaxRawUA]byte
	LangLen    uint8
	AcceptLang [MaxRawLang]byte
}

// SetRaw copies the User-Agent and Accept-Language header values (cut to
// their maximum sizes) for the batcher to classify.
func (e *Event) SetRaw(ua, acceptLang []byte) {
	e.UALen = uint8(copy(e.UA[:], ua))
	e.LangLen = uint8(copy(e.AcceptLang[:], acceptLang))
}

// SetReferrer stores the host of a Referer header value, lower-cased and
// cut to MaxReferrerLen.
func (e *Event) SetReferrer(referer []byte) {
	h := referer
	if i := indexOf(h, "://"); i >= 0 {
		h = h[i+3:]
	}
	for i, c := range h {
		if c == '/' || c == '?' || c == '#' || c == ':' {
			h = h[:i]
			break
		}
	}
	if i := lastIndexByte(h, '@'); i >= 0 {
		h = h[i+1:]
	}
	n := 0
	for _, c := range h {
		if n == MaxReferrerLen {
			break
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c <= ' ' || c >= 0x7f {
			continue
		}
		e.Ref[n] = c
		n++
	}
	e.RefLen = uint8(n)
}

func indexOf(b []byte, s string) int {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return i
		}
	}
	return -1
}

func lastIndexByte(b []byte, c byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == c {
			return i
		}
	}
	return -1
}
