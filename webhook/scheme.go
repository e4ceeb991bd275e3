package webhook

import (
	"errors"
	"fmt"
	"time"
)

// Scheme names a webhook signature scheme.
type Scheme string

const (
	// SchemeCoven is the project's own scheme: X-Coven-Timestamp and X-Coven-Signature.
	SchemeCoven Scheme = "coven"
	// SchemeStandard is Standard Webhooks with symmetric (v1, HMAC-SHA256) signatures:
	// webhook-id, webhook-timestamp and webhook-signature.
	SchemeStandard Scheme = "standard"
)

// Header names, in the canonical form net/http stores them in. The Standard Webhooks
// specification writes its names in lower case; HTTP header names are case-insensitive,
// so "webhook-id" on the wire is [HeaderStandardID] here.
const (
	HeaderCovenTimestamp    = "X-Coven-Timestamp"
	HeaderCovenSignature    = "X-Coven-Signature"
	HeaderStandardID        = "Webhook-Id"
	HeaderStandardTimestamp = "Webhook-Timestamp"
	HeaderStandardSignature = "Webhook-Signature"
)

// Default tolerances: how far a request's timestamp may be from the verifier's clock,
// in either direction, when [VerifierConfig.Tolerance] is zero.
const (
	// DefaultCovenTolerance is short because worker and edge are operated together
	// and run synchronized clocks.
	DefaultCovenTolerance = 60 * time.Second
	// DefaultStandardTolerance is the Standard Webhooks specification's five minutes,
	// which third-party senders expect.
	DefaultStandardTolerance = 5 * time.Minute
)

// errUnknownScheme does not echo the rejected value: a secret written in the scheme's
// place by mistake must not end up in a log.
var errUnknownScheme = fmt.Errorf("webhook: unknown scheme (want %q or %q)", SchemeCoven, SchemeStandard)

// ParseScheme returns the scheme named s, which must be exactly "coven" or "standard".
func ParseScheme(s string) (Scheme, error) {
	switch scheme := Scheme(s); scheme {
	case SchemeCoven, SchemeStandard:
		return scheme, nil
	case "":
		return "", errors.New("webhook: scheme is required")
	default:
		return "", errUnknownScheme
	}
}

// DefaultTolerance returns the tolerance s uses when none is configured, or zero when s
// is not a known scheme.
func (s Scheme) DefaultTolerance() time.Duration {
	switch s {
	case SchemeCoven:
		return DefaultCovenTolerance
	case SchemeStandard:
		return DefaultStandardTolerance
	default:
		return 0
	}
}
