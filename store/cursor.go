package store

import "encoding/base64"

// EncodeCursor turns the storage key of the last link of a page into the
// opaque cursor of the next page.
func EncodeCursor(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

// DecodeCursor returns the storage key a cursor names (nil for ""), or an
// EINVALID error naming the cursor field.
func DecodeCursor(c string) ([]byte, error) {
	if c == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) == 0 || len(b) > MaxCodeLen+1+MaxDomainLen {
		return nil, &Error{Code: EINVALID, Message: "invalid cursor",
			Fields: []FieldError{{Field: "cursor", Message: "is not a cursor returned by this API"}}}
	}
	return b, nil
}
