package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// codeAlphabet has no characters that are easily confused when a code is
// read aloud or retyped from print: no 0/O/o, 1/l/I.
const codeAlphabet = "23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"

// GeneratedCodeLen is the length of generated codes: 56^8 is about 10^14, so
// codes cannot be enumerated by guessing.
const GeneratedCodeLen = 8

// NewCode returns a random code from a cryptographic source.
func NewCode() string {
	return randomString(GeneratedCodeLen)
}

// randomString returns n characters of codeAlphabet chosen uniformly.
func randomString(n int) string {
	out := make([]byte, 0, n)
	buf := make([]byte, n*2)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			panic(fmt.Sprintf("BUG: crypto/rand failed: %v", err))
		}
		for _, b := range buf {
			// Rejection sampling keeps the distribution uniform.
			if int(b) < 256-256%len(codeAlphabet) && len(out) < n {
				out = append(out, codeAlphabet[int(b)%len(codeAlphabet)])
			}
		}
	}
	return string(out)
}

// APIKeyPrefix starts every API key, so leaked keys are easy to find with
// secret scanners.
const APIKeyPrefix = "qk_"

// NewAPIKey returns a new secret key (about 190 bits of entropy) and its
// stored form without name and scope.
func NewAPIKey() (secret string, k *APIKey) {
	secret = APIKeyPrefix + randomString(33)
	return secret, &APIKey{
		ID:     randomString(10),
		Prefix: secret[:len(APIKeyPrefix)+6],
		Hash:   HashAPIKey(secret),
	}
}

// CreateAPIKey makes a new key with name and scope, stores it in ks and
// returns its secret, which is shown once and never stored.
func CreateAPIKey(ctx context.Context, ks KeyStore, name, scope string) (secret string, k *APIKey, err error) {
	secret, k = NewAPIKey()
	k.Name, k.Scope, k.CreatedAt = name, scope, time.Now().UTC()
	if err := ks.CreateKey(ctx, k); err != nil {
		return "", nil, err
	}
	return secret, k, nil
}

// HashAPIKey returns the hex SHA-256 of a secret key. Keys are long random
// strings, so a fast hash is enough; a slow password hash would only slow
// every API request.
func HashAPIKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
