// Package strictjson decodes JSON documents from clients more strictly
// than encoding/json, and names whatever it refuses by its full path, as
// Validate names fields: variants[1].weight, schedule.not_before,
// rules[0].when.device[2], rules[0].when.query["src"].
//
// encoding/json matches object keys to fields ignoring case, so that
// "Destination" beside "destination" is taken and the last one wins, and
// takes a key given twice the same way; it names type errors without
// their indexes (variants.weight) and the errors of a type's own
// UnmarshalJSON, such as a malformed time, without any field. Here a key
// must be a field's JSON name exactly and appear once, whole numbers must
// be whole, and every value that does not fit is named by its path, all
// of them in one error. A document that passes decodes exactly as
// encoding/json decodes it: this package checks first, then hands the
// document to encoding/json.
//
// It never changes stored data and knows nothing of HTTP: errors are
// *store.Error values with code store.EBADREQUEST.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/qredge/qredge/store"
)

// maxProblems bounds how many problems one error lists.
const maxProblems = 100

// Unmarshal decodes the JSON document b into v, a non-nil pointer, once
// it has checked b against v's type. The error is a *store.Error with code
// store.EBADREQUEST: without fields for malformed JSON ("malformed JSON at
// byte 12: ..."), else with one field per value at fault.
func Unmarshal(b []byte, v any) error {
	return UnmarshalAt("", b, v)
}

// UnmarshalAt is Unmarshal for a document that is the value at path of a
// larger one (a JSON cell of a CSV row, say): the fields named start with
// path.
func UnmarshalAt(path string, b []byte, v any) error {
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer {
		panic("BUG: strictjson.Unmarshal needs a non-nil pointer")
	}
	var raw json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return malformed(err)
	}
	w := walker{dec: json.NewDecoder(bytes.NewReader(b))}
	w.dec.UseNumber()
	if err := w.value(path, t.Elem()); err != nil {
		return malformed(err) // not seen: b was checked above
	}
	if len(w.fields) > 0 {
		return &store.Error{Code: store.EBADREQUEST, Message: "invalid JSON", Fields: w.fields}
	}
	if err := json.Unmarshal(b, v); err != nil {
		// A case the walk does not know; named as encoding/json names it.
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return &store.Error{Code: store.EBADREQUEST, Message: "invalid JSON",
				Fields: []store.FieldError{{Field: join(path, typ.Field), Message: fmt.Sprintf("must be a %s, got %s", typ.Type, typ.Value)}}}
		}
		return store.Errorf(store.EBADREQUEST, "invalid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

func malformed(err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return store.Errorf(store.EBADREQUEST, "malformed JSON at byte %d: %v", syn.Offset, syn)
	}
	return store.Errorf(store.EBADREQUEST, "malformed JSON: %v", err)
}

// join returns the path of key in the object at path: path.key for keys
// that read as names, path["key"] for others.
func join(path, key string) string {
	if key == "" || strings.Trim(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != "" {
		return path + fmt.Sprintf("[%q]", key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

var (
	timeType        = reflect.TypeFor[time.Time]()
	rawType         = reflect.TypeFor[json.RawMessage]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
)

// walker checks a token stream against a Go type, collecting problems.
type walker struct {
	dec    *json.Decoder
	fields []store.FieldError
}

func (w *walker) add(path, format string, args ...any) {
	if len(w.fields) < maxProblems {
		w.fields = append(w.fields, store.FieldError{Field: path, Message: fmt.Sprintf(format, args...)})
	}
}

// value checks the next value of the stream against t. null is accepted
// for every type, as encoding/json accepts it (it leaves the value as it
// is). The error is the stream's.
func (w *walker) value(path string, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == rawType || t.Kind() == reflect.Interface:
		var raw json.RawMessage
		return w.dec.Decode(&raw)
	case t == timeType:
		var raw json.RawMessage
		if err := w.dec.Decode(&raw); err != nil {
			return err
		}
		var tm time.Time
		if string(raw) != "null" && tm.UnmarshalJSON(raw) != nil {
			w.add(path, "must be an RFC 3339 time such as 2026-11-27T12:00:00Z, got %s", raw)
		}
		return nil
	case reflect.PointerTo(t).Implements(unmarshalerType):
		var raw json.RawMessage
		if err := w.dec.Decode(&raw); err != nil {
			return err
		}
		if string(raw) != "null" {
			if err := reflect.New(t).Interface().(json.Unmarshaler).UnmarshalJSON(raw); err != nil {
				w.add(path, "%s", strings.TrimPrefix(err.Error(), "json: "))
			}
		}
		return nil
	}
	tok, err := w.dec.Token()
	if err != nil || tok == nil {
		return err
	}
	want := ""
	switch t.Kind() {
	case reflect.Struct:
		if tok == json.Delim('{') {
			return w.object(path, t)
		}
		want = "an object"
	case reflect.Map:
		if tok == json.Delim('{') {
			return w.mapValue(path, t)
		}
		want = "an object"
	case reflect.Slice, reflect.Array:
		if tok == json.Delim('[') {
			return w.array(path, t)
		}
		want = "an array"
	case reflect.String:
		if _, ok := tok.(string); ok {
			return nil
		}
		want = "a string"
	case reflect.Bool:
		if _, ok := tok.(bool); ok {
			return nil
		}
		want = "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		if n, ok := tok.(json.Number); ok {
			w.numberFits(path, n, t)
			return nil
		}
		want = "a number"
	default:
		return w.skipRest(tok) // not a type clients write
	}
	w.add(path, "must be %s, got %s", want, kindOf(tok))
	return w.skipRest(tok)
}

// numberFits checks that the JSON number n fits the numeric type t.
func (w *walker) numberFits(path string, n json.Number, t reflect.Type) {
	var err error
	switch t.Kind() {
	case reflect.Float32, reflect.Float64:
		if _, err := strconv.ParseFloat(string(n), t.Bits()); err != nil {
			w.add(path, "%s is out of range", n)
		}
		return
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		_, err = strconv.ParseUint(string(n), 10, t.Bits())
	default:
		_, err = strconv.ParseInt(string(n), 10, t.Bits())
	}
	if err != nil {
		w.number(path, n, err)
	}
}

// number names why the JSON number n does not fit an integer field.
func (w *walker) number(path string, n json.Number, err error) {
	switch {
	case strings.ContainsAny(string(n), ".eE"):
		w.add(path, "must be a whole number, got %s", n)
	case strings.HasPrefix(string(n), "-") && errors.Is(err, strconv.ErrSyntax):
		w.add(path, "must not be negative, got %s", n)
	default:
		w.add(path, "%s is out of range", n)
	}
}

// object checks the members of an object, its '{' read, against struct t.
func (w *walker) object(path string, t reflect.Type) error {
	fields := fieldsOf(t)
	return w.members(func(key string, twice bool) error {
		kp := join(path, key)
		ft, known := fields.types[key]
		switch {
		case twice:
			w.add(kp, "given twice: send each key once")
			known = false
		case known:
		case fields.folded[strings.ToLower(key)] != "":
			w.add(kp, "unknown field: keys are case-sensitive: did you mean %q?", fields.folded[strings.ToLower(key)])
		default:
			w.add(kp, "unknown field; the fields here are %s", strings.Join(fields.names, ", "))
		}
		if !known {
			ft = rawType // skip the value
		}
		return w.value(kp, ft)
	})
}

// mapValue checks the members of an object, its '{' read, against map t.
func (w *walker) mapValue(path string, t reflect.Type) error {
	return w.members(func(key string, twice bool) error {
		kp := path + fmt.Sprintf("[%q]", key)
		et := t.Elem()
		if twice {
			w.add(kp, "given twice: send each key once")
			et = rawType
		}
		return w.value(kp, et)
	})
}

// members reads the members of an object, its '{' read, through its '}',
// and calls each with every key (twice: the key came before) with the
// decoder at the member's value, which each must read.
func (w *walker) members(each func(key string, twice bool) error) error {
	seen := map[string]bool{}
	for w.dec.More() {
		tok, err := w.dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		twice := seen[key]
		seen[key] = true
		if err := each(key, twice); err != nil {
			return err
		}
	}
	_, err := w.dec.Token() // '}'
	return err
}

// array checks the elements of an array, its '[' read, against t.
func (w *walker) array(path string, t reflect.Type) error {
	for i := 0; w.dec.More(); i++ {
		if err := w.value(path+"["+strconv.Itoa(i)+"]", t.Elem()); err != nil {
			return err
		}
	}
	_, err := w.dec.Token() // ']'
	return err
}

// skipRest reads the rest of a value whose first token was tok.
func (w *walker) skipRest(tok json.Token) error {
	if tok != json.Delim('{') && tok != json.Delim('[') {
		return nil
	}
	for depth := 1; depth > 0; {
		tok, err := w.dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}

func kindOf(tok json.Token) string {
	switch tok.(type) {
	case json.Delim:
		if tok == json.Delim('[') {
			return "an array"
		}
		return "an object"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	}
	return "a number"
}

// structFields are the JSON names of a struct's fields.
type structFields struct {
	types  map[string]reflect.Type
	folded map[string]string // lower case -> name
	names  []string          // sorted, for messages
}

var fieldCache sync.Map // reflect.Type -> *structFields

// fieldsOf returns the fields encoding/json decodes into t by name:
// exported fields by their json tag name (else their Go name), without
// those tagged "-", with the fields of untagged embedded structs promoted
// unless t has a field of the same name.
func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	sf := &structFields{types: map[string]reflect.Type{}, folded: map[string]string{}}
	var embedded []reflect.Type
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				embedded = append(embedded, et)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		sf.types[name] = f.Type
	}
	for _, et := range embedded {
		for name, ft := range fieldsOf(et).types {
			if _, ok := sf.types[name]; !ok {
				sf.types[name] = ft
			}
		}
	}
	for name := range sf.types {
		sf.folded[strings.ToLower(name)] = name
		sf.names = append(sf.names, name)
	}
	sort.Strings(sf.names)
	f, _ := fieldCache.LoadOrStore(t, sf)
	return f.(*structFields)
}
