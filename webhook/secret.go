package webhook

import (
	"encoding/base64"
	"errors"
	"strings"
)

// Secret rules. A coven secret is used as the HMAC key byte for byte; a Standard
// Webhooks secret is base64 and its decoded bytes are the key, sized as the
// specification requires for symmetric keys (192 to 512 bits).
const (
	// MinCovenSecretLen is the shortest coven secret accepted, in bytes.
	MinCovenSecretLen = 16
	// MinStandardKeyLen is the shortest decoded Standard Webhooks key accepted, in bytes.
	MinStandardKeyLen = 24
	// MaxStandardKeyLen is the longest decoded Standard Webhooks key accepted, in bytes.
	MaxStandardKeyLen = 64

	// standardSecretPrefix marks a Standard Webhooks secret; it is optional on input.
	standardSecretPrefix = "whsec_"
)

// strictBase64 rejects non-canonical encodings (stray bits in the final quantum), so a
// signature or secret has exactly one accepted spelling.
var strictBase64 = base64.StdEncoding.Strict()

// Secret errors say what is wrong with a secret without quoting any part of it.
var (
	errSecretEmpty      = errors.New("secret is empty")
	errSecretWhiteSpace = errors.New("secret has leading or trailing white space")
	errSecretCovenShort = errors.New("secret is shorter than 16 bytes")
	errSecretNotBase64  = errors.New(`secret is not padded standard base64 (optionally prefixed with "whsec_")`)
	errSecretKeyLength  = errors.New("secret's decoded key is not between 24 and 64 bytes")
)

// parseKey turns a configured secret into the HMAC key the scheme derives from it.
func parseKey(scheme Scheme, secret string) ([]byte, error) {
	if secret == "" {
		return nil, errSecretEmpty
	}
	// A trailing newline from a secrets file or an environment variable is the usual
	// way a correct secret turns into a wrong key; refuse it rather than guess.
	if strings.TrimSpace(secret) != secret {
		return nil, errSecretWhiteSpace
	}
	switch scheme {
	case SchemeCoven:
		if len(secret) < MinCovenSecretLen {
			return nil, errSecretCovenShort
		}
		return []byte(secret), nil
	case SchemeStandard:
		encoded := strings.TrimPrefix(secret, standardSecretPrefix)
		// The base64 decoder skips CR and LF; a key with line breaks inside is a
		// mangled key, not a valid one.
		if strings.ContainsAny(encoded, "\r\n") {
			return nil, errSecretNotBase64
		}
		key, err := strictBase64.DecodeString(encoded)
		if err != nil {
			return nil, errSecretNotBase64
		}
		if len(key) < MinStandardKeyLen || len(key) > MaxStandardKeyLen {
			return nil, errSecretKeyLength
		}
		return key, nil
	default:
		return nil, errUnknownScheme
	}
}
