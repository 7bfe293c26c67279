package strictjson

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/testclock"
	"github.com/qredge/qredge/store"
)

// doc is a document with every kind of field the API takes.
type doc struct {
	Code     string            `json:"code"`
	Status   int               `json:"status"`
	Small    uint8             `json:"small"`
	Ratio    float64           `json:"ratio"`
	On       bool              `json:"on"`
	Tags     []string          `json:"tags"`
	Rules    []store.Rule      `json:"rules"`
	Variants []store.Variant   `json:"variants"`
	Schedule *store.Schedule   `json:"schedule"`
	Labels   map[string]string `json:"labels"`
	Extra    json.RawMessage   `json:"extra"`
	Any      any               `json:"any"`
	Skipped  string            `json:"-"`
	NoTag    string
	embedded
}

type embedded struct {
	Inner string `json:"inner"`
}

func TestUnmarshal(t *testing.T) {
	var d doc
	notBefore := testclock.Now().AddDate(4, 0, 0).Truncate(time.Second) // in the future, whatever today is
	err := Unmarshal([]byte(`{"code":"a","status":302,"small":255,"ratio":0.5,"tags":["x",null],
		"rules":[{"when":{"device":["ios"],"query":{"a":"b"}},"destination":"https://x/"}],
		"variants":[{"name":"v","destination":"https://y/","weight":2}],
		"schedule":{"not_before":"`+notBefore.Format(time.RFC3339)+`","after_url":null},
		"labels":{"k":"v"},"extra":{"Any":[1,{"Thing":2}]},"any":[{"X":1}],"NoTag":"n","inner":"i","on":null}`), &d)
	if err != nil {
		t.Fatal(err)
	}
	if d.Code != "a" || d.Status != 302 || d.Small != 255 || d.On || d.Rules[0].When.Query["a"] != "b" || d.Variants[0].Weight != 2 ||
		!d.Schedule.NotBefore.Equal(notBefore) || d.Labels["k"] != "v" || d.NoTag != "n" || d.Inner != "i" {
		t.Fatalf("decoded %+v", d)
	}
}

func TestUnmarshalErrors(t *testing.T) {
	f := func(in string, want ...string) {
		t.Helper()
		var d doc
		err := Unmarshal([]byte(in), &d)
		if store.ErrorCode(err) != store.EBADREQUEST {
			t.Fatalf("%s: %v, want a bad request", in, err)
		}
		var got []string
		for _, fe := range store.ErrorFields(err) {
			got = append(got, fe.String())
		}
		if len(got) == 0 {
			got = []string{err.Error()}
		}
		if len(got) != len(want) {
			t.Fatalf("%s:\n got %q\nwant %q", in, got, want)
		}
		for i := range want {
			if !strings.HasPrefix(got[i], want[i]) {
				t.Fatalf("%s:\n got %q\nwant %q", in, got, want)
			}
		}
	}
	f(`{"code":`, "malformed JSON at byte 8: unexpected end of JSON input")
	f(`{"code":"a"} {}`, "malformed JSON at byte 14: invalid character '{' after top-level value")
	f(`{"Code":"a"}`, `Code: unknown field: keys are case-sensitive: did you mean "code"?`)
	f(`{"code":"a","code":"b"}`, "code: given twice: send each key once")
	f(`{"colour":1}`, "colour: unknown field; the fields here are NoTag, any, code, extra, inner, labels, on, ratio, rules, schedule, small, status, tags, variants")
	f(`{"Skipped":"x","-":1}`, "Skipped: unknown field", `["-"]: unknown field`)
	f(`{"status":"302"}`, "status: must be a number, got a string")
	f(`{"status":1.5}`, "status: must be a whole number, got 1.5")
	f(`{"status":1e3}`, "status: must be a whole number, got 1e3")
	f(`{"status":99999999999999999999}`, "status: 99999999999999999999 is out of range")
	f(`{"small":256}`, "small: 256 is out of range")
	f(`{"small":-1}`, "small: must not be negative, got -1")
	f(`{"ratio":1e999}`, "ratio: 1e999 is out of range")
	f(`{"on":"yes"}`, "on: must be true or false, got a string")
	f(`{"tags":"a"}`, "tags: must be an array, got a string")
	f(`{"tags":["a",{"b":[1]},3]}`, "tags[1]: must be a string, got an object", "tags[2]: must be a string, got a number")
	f(`{"rules":[{"when":{"device":["ios",1],"Country":["DE"],"query":{"a":1,"a":"b"}},"destination":"x"}]}`,
		"rules[0].when.device[1]: must be a string, got a number",
		`rules[0].when.Country: unknown field: keys are case-sensitive: did you mean "country"?`,
		`rules[0].when.query["a"]: must be a string, got a number`,
		`rules[0].when.query["a"]: given twice`)
	f(`{"variants":[{"weight":1},{"weight":2.5}]}`, "variants[1].weight: must be a whole number, got 2.5")
	f(`{"schedule":{"not_before":"tomorrow","not_after":17}}`,
		`schedule.not_before: must be an RFC 3339 time such as 2026-11-27T12:00:00Z, got "tomorrow"`,
		"schedule.not_after: must be an RFC 3339 time such as 2026-11-27T12:00:00Z, got 17")
	f(`{"schedule":[]}`, "schedule: must be an object, got an array")
	f(`{"labels":{"a":1}}`, `labels["a"]: must be a string, got a number`)
	f(`{"a.b":1}`, `["a.b"]: unknown field`)
	f(`[1]`, "must be an object, got an array")
}

func TestUnmarshalAt(t *testing.T) {
	var rules []store.Rule
	err := UnmarshalAt("rules", []byte(`[{"when":{"device":[1]}}]`), &rules)
	if fe := store.ErrorFields(err); len(fe) != 1 || fe[0].Field != "rules[0].when.device[0]" {
		t.Fatalf("%v", err)
	}
}

// FuzzUnmarshal checks that a document Unmarshal takes decodes exactly as
// encoding/json (refusing unknown fields) decodes it, and that a document
// encoding/json refuses is refused too.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{`{"code":"a","status":302}`, `{"Code":"a"}`, `{"code":"a","code":"b"}`, `{"variants":[{"weight":1.5}]}`,
		`{"schedule":{"not_before":"` + testclock.Now().AddDate(4, 0, 0).Format(time.RFC3339) + `"}}`, `{"rules":[{"when":{"query":{"a":"b"}}}]}`, `{"tags":null,"small":255}`, `[]`, `{"extra":{"X":1}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got doc
		err := Unmarshal(b, &got)
		var want doc
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		stdErr := dec.Decode(&want)
		if stdErr == nil && dec.More() {
			stdErr = json.Unmarshal(b, new(json.RawMessage)) // trailing data
		}
		if err == nil {
			if stdErr != nil {
				t.Fatalf("%s: taken, but encoding/json refuses it: %v", b, stdErr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: decoded %+v, encoding/json %+v", b, got, want)
			}
			return
		}
		if store.ErrorCode(err) != store.EBADREQUEST || err.Error() == "" {
			t.Fatalf("%s: %v", b, err)
		}
		for _, fe := range store.ErrorFields(err) {
			if fe.Message == "" {
				t.Fatalf("%s: field %q without a message", b, fe.Field)
			}
		}
	})
}
