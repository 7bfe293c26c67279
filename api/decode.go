package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/strictjson"
)

// readBody reads the whole request body, mapping an over-limit body to 413.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, badRequest("", "request body is empty: send a JSON object")
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, store.Errorf(store.ETOOLARGE, "request body is larger than %d bytes", mbe.Limit)
		}
		return nil, badRequest("", "cannot read request body: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, badRequest("", "request body is empty: send a JSON object")
	}
	return b, nil
}

// decodeStrict decodes one JSON document from b into v, refusing unknown
// keys (also those that differ from a field's name only in case), keys
// given twice, values of the wrong type and trailing data, with a 400
// problem that names every value at fault by its full path, such as
// variants[1].weight (store/strictjson).
func decodeStrict(b []byte, v any) error {
	return strictjson.Unmarshal(b, v)
}

func jsonError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syn):
		return badRequest("", "malformed JSON at byte %d: %v", syn.Offset, syn)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("", "malformed JSON: unexpected end of input")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return badRequest("", "expected a JSON %s, got %s", jsonKind(typ.Type.Kind().String()), typ.Value)
		}
		return badRequest(field, "must be a %s, got %s", jsonKind(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return badRequest(name, "unknown field %q", name)
	}
	// Errors from UnmarshalJSON methods, such as a malformed time.
	return badRequest("", "invalid JSON value: %v", err)
}

func jsonKind(k string) string {
	switch k {
	case "int", "int64", "uint64", "int32", "uint32", "float64":
		return "number"
	case "slice", "array":
		return "array"
	case "struct", "map", "ptr":
		return "object"
	case "bool":
		return "boolean"
	}
	return k
}

// patchInput applies a merge patch to cur, a resource as a client writes
// it (its input struct), without the keys in drop, and decodes the result
// as a write body is decoded.
func patchInput[T any](cur any, patch map[string]any, drop ...string) (*T, error) {
	b, err := json.Marshal(cur)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	for _, k := range drop {
		delete(doc, k)
	}
	merged, err := json.Marshal(mergePatch(doc, patch))
	if err != nil {
		return nil, err
	}
	in := new(T)
	if err := decodeStrict(merged, in); err != nil {
		return nil, err
	}
	return in, nil
}

// mergePatch applies an RFC 7396 JSON merge patch to target.
func mergePatch(target, patch map[string]any) map[string]any {
	for k, pv := range patch {
		if pv == nil {
			delete(target, k)
			continue
		}
		pm, pIsObj := pv.(map[string]any)
		tm, tIsObj := target[k].(map[string]any)
		if pIsObj && tIsObj {
			target[k] = mergePatch(tm, pm)
		} else if pIsObj {
			target[k] = mergePatch(map[string]any{}, pm)
		} else {
			target[k] = pv
		}
	}
	return target
}

func parseIfMatch(r *http.Request) (uint64, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return 0, nil
	}
	v := strings.TrimPrefix(h, "W/")
	v = strings.Trim(v, `"`)
	var n uint64
	if _, err := fmt.Sscanf(v, "%d", &n); err != nil || n == 0 || fmt.Sprint(n) != v {
		return 0, badRequest("If-Match", "must be a link version or its ETag, such as \"7\"; got %q", h)
	}
	return n, nil
}

func etag(version uint64) string { return fmt.Sprintf(`"%d"`, version) }
