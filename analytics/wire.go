package analytics

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/qredge/qredge/store"
)

// SchemaVersion is the ScanEvent schema_version this code writes.
const SchemaVersion = 1

// SchemaName is the value of the Kafka header "qredge-schema".
const SchemaName = "qredge.v1.ScanEvent"

// Encoder turns events into ScanEvent bytes. It hashes client IPs with a
// salt derived from a secret and the UTC day, so the same IP gives the same
// hash on every edge on one day and cannot be followed across days. It is
// not safe for concurrent use.
type Encoder struct {
	secret  []byte
	edge    string
	saltDay int64
	salt    [32]byte
}

// NewEncoder returns an encoder for the node edge; secret is shared by all
// edges of a deployment (--ip-hash-secret).
func NewEncoder(secret []byte, edge string) *Encoder {
	return &Encoder{secret: append([]byte(nil), secret...), edge: edge, saltDay: -1}
}

const nanosPerDay = 24 * 3600 * 1e9

// ipHash is the visitor's hash: the client IP and the device class
// (ios, android, desktop, other), under a salt that changes every day, so
// that phones and computers behind one address (a household, an office,
// carrier NAT) count apart while neither is stored.
func (enc *Encoder) ipHash(ip [16]byte, device uint8, t int64) (uint64, uint32) {
	day := t / nanosPerDay
	if day != enc.saltDay {
		m := hmac.New(sha256.New, enc.secret)
		fmt.Fprintf(m, "qredge ip salt %d", day)
		copy(enc.salt[:], m.Sum(nil))
		enc.saltDay = day
	}
	var buf [49]byte
	copy(buf[:32], enc.salt[:])
	copy(buf[32:48], ip[:])
	buf[48] = device
	sum := sha256.Sum256(buf[:])
	return binary.LittleEndian.Uint64(sum[:8]), uint32(day)
}

// Append appends the ScanEvent encoding of e to dst.
func (enc *Encoder) Append(dst []byte, e *Event) []byte {
	dst, _ = enc.appendKeyed(dst, e)
	return dst
}

// appendKeyed is Append that also returns where in dst it wrote the event
// id: the 16 bytes at idAt are the record's key.
func (enc *Encoder) appendKeyed(dst []byte, e *Event) (out []byte, idAt int) {
	code, domain, _ := strings.Cut(e.Key, "\x00")
	dst = appendVarintField(dst, 1, SchemaVersion)
	dst = protowire.AppendTag(dst, 2, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(len(e.ID)))
	idAt = len(dst)
	dst = append(dst, e.ID[:]...)
	dst = appendVarint(dst, 3, uint64(e.Time))
	if domain != "" {
		dst = appendString(dst, 4, domain)
	}
	dst = appendString(dst, 5, code)
	dst = appendVarintField(dst, 6, e.Version)
	dst = appendVarintField(dst, 7, uint64(e.Status))
	dst = appendVarintField(dst, 8, uint64(e.Target))
	if e.Rule >= 0 && e.Target == TargetRule {
		dst = appendVarint(dst, 9, uint64(e.Rule))
	}
	if e.Variant != "" {
		dst = appendString(dst, 10, e.Variant)
	}
	if e.Country[0] != 0 {
		dst = appendBytes(dst, 11, e.Country[:])
	}
	dst = appendVarintField(dst, 12, uint64(e.Device))
	if e.Bot {
		dst = appendVarintField(dst, 13, 1)
	}
	if e.RefLen > 0 {
		dst = appendBytes(dst, 14, e.Ref[:e.RefLen])
	}
	if n := langLen(&e.Lang); n > 0 {
		dst = appendBytes(dst, 15, e.Lang[:n])
	}
	if e.IP != ([16]byte{}) {
		h, day := enc.ipHash(e.IP, e.Device, e.Time)
		dst = protowire.AppendTag(dst, 16, protowire.Fixed64Type)
		dst = protowire.AppendFixed64(dst, h)
		dst = appendVarintField(dst, 17, uint64(day))
	}
	if enc.edge != "" {
		dst = appendString(dst, 18, enc.edge)
	}
	dst = appendVarintField(dst, 19, uint64(e.Source))
	if created := store.ExtrasCreated(e.Extras); created != 0 {
		dst = appendVarint(dst, 20, uint64(created))
	}
	if e.RuleName != "" && e.Target == TargetRule {
		dst = appendString(dst, 21, e.RuleName)
	}
	if e.MaxScans > 0 {
		dst = appendVarint(dst, 22, uint64(e.MaxScans))
		if e.LimitBots {
			dst = appendVarintField(dst, 23, 1)
		}
	}
	return dst, idAt
}

// appendVarintField appends field num unless v is 0 (the proto3 default).
func appendVarintField(dst []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return dst
	}
	return appendVarint(dst, num, v)
}

// appendVarint, appendString and appendBytes append field num whatever
// its value; the caller decides whether it is present.
func appendVarint(dst []byte, num protowire.Number, v uint64) []byte {
	dst = protowire.AppendTag(dst, num, protowire.VarintType)
	return protowire.AppendVarint(dst, v)
}

func appendString(dst []byte, num protowire.Number, s string) []byte {
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendString(dst, s)
}

func appendBytes(dst []byte, num protowire.Number, b []byte) []byte {
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendBytes(dst, b)
}

func langLen(l *[8]byte) int {
	for i, c := range l {
		if c == 0 {
			return i
		}
	}
	return len(l)
}

// Decoded is a ScanEvent as consumers read it.
type Decoded struct {
	SchemaVersion uint32
	ID            [16]byte
	Time          int64
	Domain, Code  string
	LinkVersion   uint64
	Status        uint32
	Target        uint8
	Rule          int32
	Variant       string
	Country       string
	Device        uint8
	Bot           bool
	ReferrerHost  string
	Lang          string
	IPHash        uint64
	IPSaltDay     uint32
	Edge          string
	Source        uint8  // SourceLink or SourceQR
	RuleName      string // the matching rule's name, when it has one
	// MaxScans is the link's scan limit (0: none), MaxScansIncludeBots
	// whether bots count toward it.
	MaxScans            int64
	MaxScansIncludeBots bool
	// LinkCreated is when the link that answered was created (Unix
	// nanoseconds): with Domain and Code, the link's identity. 0 in events
	// written before it was recorded.
	LinkCreated int64
}

// Decode parses ScanEvent bytes. Unknown fields are skipped (newer
// producers); malformed input is an error.
func Decode(b []byte) (Decoded, error) {
	var d Decoded
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return d, fmt.Errorf("bad tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		var (
			v   uint64
			raw []byte
		)
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			raw, n = protowire.ConsumeBytes(b)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return d, fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			d.setVarint(num, v)
		case protowire.BytesType:
			if err := d.setBytes(num, raw); err != nil {
				return d, err
			}
		case protowire.Fixed64Type:
			if num == 16 {
				d.IPHash = v
			}
		}
	}
	if d.SchemaVersion == 0 || d.Code == "" {
		return d, fmt.Errorf("not a ScanEvent (schema_version %d, code %q)", d.SchemaVersion, d.Code)
	}
	if d.SchemaVersion > SchemaVersion {
		return d, fmt.Errorf("unknown schema_version %d", d.SchemaVersion)
	}
	return d, nil
}

// setVarint sets the varint field num; unknown fields are ignored.
func (d *Decoded) setVarint(num protowire.Number, v uint64) {
	switch num {
	case 1:
		d.SchemaVersion = uint32(v)
	case 3:
		d.Time = int64(v)
	case 6:
		d.LinkVersion = v
	case 7:
		d.Status = uint32(v)
	case 8:
		d.Target = uint8(v)
	case 9:
		d.Rule = int32(v)
	case 12:
		d.Device = uint8(v)
	case 13:
		d.Bot = v != 0
	case 17:
		d.IPSaltDay = uint32(v)
	case 19:
		d.Source = uint8(v)
	case 20:
		d.LinkCreated = int64(v)
	case 22:
		d.MaxScans = int64(v)
	case 23:
		d.MaxScansIncludeBots = v != 0
	}
}

// setBytes sets the length-delimited field num; unknown fields are
// ignored.
func (d *Decoded) setBytes(num protowire.Number, v []byte) error {
	switch num {
	case 2:
		if len(v) != 16 {
			return fmt.Errorf("id has %d bytes, want 16", len(v))
		}
		copy(d.ID[:], v)
	case 4:
		d.Domain = string(v)
	case 5:
		d.Code = string(v)
	case 10:
		d.Variant = string(v)
	case 11:
		d.Country = string(v)
	case 14:
		d.ReferrerHost = string(v)
	case 15:
		d.Lang = string(v)
	case 18:
		d.Edge = string(v)
	case 21:
		d.RuleName = string(v)
	}
	return nil
}

// EventID returns the id of ScanEvent bytes without decoding the rest; ok
// is false when there is none.
func EventID(b []byte) (id [16]byte, ok bool) {
	v := EventIDBytes(b)
	if v == nil {
		return id, false
	}
	copy(id[:], v)
	return id, true
}

// EventIDBytes is EventID as the 16 bytes inside b (nil when there is
// none): the key of a Record read back from the spool, at no allocation.
func EventIDBytes(b []byte) []byte {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil
		}
		b = b[n:]
		if num == 2 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 || len(v) != 16 {
				return nil
			}
			return v[:16:16]
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return nil
		}
		b = b[n:]
	}
	return nil
}

// IDChunk is how many consecutive event ids of one producer (the counter in
// the last 8 bytes) go to the same Kafka partition. The aggregator keeps
// one bit per id in chunks of this size to drop producer duplicates.
const IDChunk = 256
