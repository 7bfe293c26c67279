package store

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Passwords of protected links are kept as argon2id hashes in the PHC
// string format ($argon2id$v=19$m=...,t=...,p=...$salt$hash), with
// OWASP's recommended minimum cost: 19 MiB of memory, 2 passes, 1 lane
// (about 30 ms on one core). The cost is written in the hash, so hashes
// made with other parameters verify too, within bounds (CheckPasswordHash)
// that keep one verification from taking an edge's memory.
const (
	passwordMemory  = 19 * 1024 // KiB
	passwordTime    = 2
	passwordThreads = 1
	passwordSaltLen = 16
	passwordKeyLen  = 32

	MinPasswordLen = 4
	MaxPasswordLen = 256

	maxHashMemory  = 64 * 1024 // KiB
	maxHashTime    = 10
	maxHashThreads = 2
	// maxHashCost bounds memory times passes: four times the default's.
	maxHashCost = 4 * passwordMemory * passwordTime
)

// HashPassword returns the argon2id hash of password.
func HashPassword(password string) string {
	salt := make([]byte, passwordSaltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, passwordTime, passwordMemory, passwordThreads, passwordKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, passwordMemory, passwordTime, passwordThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// passwordHash is a parsed hash.
type passwordHash struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

func parsePasswordHash(h string) (passwordHash, string) {
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return passwordHash{}, "must be an argon2id hash in the PHC format ($argon2id$v=19$m=...,t=...,p=...$salt$hash)"
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return passwordHash{}, fmt.Sprintf("must be argon2 version %d", argon2.Version)
	}
	var p passwordHash
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &p.threads); err != nil ||
		fmt.Sprintf("m=%d,t=%d,p=%d", p.memory, p.time, p.threads) != parts[3] {
		return passwordHash{}, "has unreadable parameters (want m=KiB,t=passes,p=lanes)"
	}
	if p.memory < 8*uint32(max(p.threads, 1)) || p.memory > maxHashMemory || p.time < 1 || p.time > maxHashTime || p.threads < 1 || p.threads > maxHashThreads ||
		uint64(p.memory)*uint64(p.time) > maxHashCost {
		return passwordHash{}, fmt.Sprintf("has parameters out of bounds (m at most %d KiB, t 1 to %d, p 1 to %d, m times t at most %d)",
			maxHashMemory, maxHashTime, maxHashThreads, maxHashCost)
	}
	var err error
	b64 := base64.RawStdEncoding
	if p.salt, err = b64.DecodeString(parts[4]); err != nil || len(p.salt) < 8 || len(p.salt) > 64 {
		return passwordHash{}, "has a bad salt (8 to 64 bytes, unpadded base64)"
	}
	if p.key, err = b64.DecodeString(parts[5]); err != nil || len(p.key) < 16 || len(p.key) > 64 {
		return passwordHash{}, "has a bad hash (16 to 64 bytes, unpadded base64)"
	}
	return p, ""
}

// CheckPasswordHash returns why h is not a password hash qredge accepts,
// or "" if it is.
func CheckPasswordHash(h string) string {
	_, msg := parsePasswordHash(h)
	return msg
}

// VerifyPassword reports whether password matches the hash h (false for a
// hash CheckPasswordHash refuses). It costs what the hash's parameters say:
// callers bound how many run at once.
func VerifyPassword(h, password string) bool {
	p, msg := parsePasswordHash(h)
	if msg != "" {
		return false
	}
	key := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1
}
