package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// DefaultMaxSignatures is how many entries a webhook-signature list may hold when
// [VerifierConfig.MaxSignatures] is zero. Senders list one signature per live key, so a
// handful covers any rotation; the bound keeps a hostile header from costing much work.
const DefaultMaxSignatures = 8

// VerifierConfig configures a [Verifier].
type VerifierConfig struct {
	// Scheme is the only scheme the verifier accepts. Required.
	Scheme Scheme
	// Secrets lists every secret currently accepted; a request signed with any of them
	// passes. During rotation, list the new secret and the old one. At least one is
	// required. A coven secret is at least [MinCovenSecretLen] bytes and is used as the
	// key as is. A standard secret is "whsec_<base64>" or bare padded standard base64,
	// decoding to [MinStandardKeyLen] to [MaxStandardKeyLen] bytes. Secrets with leading
	// or trailing white space are rejected.
	Secrets []string
	// Tolerance is how far, in either direction, a request's timestamp may be from the
	// verifier's clock. Timestamps have one-second resolution, so it must be at least a
	// second; parts of a second are ignored. Zero means the scheme's default,
	// [DefaultCovenTolerance] or [DefaultStandardTolerance].
	Tolerance time.Duration
	// MaxSignatures is the most entries a webhook-signature list may hold; a longer list
	// is malformed. Used by [SchemeStandard] only. Zero means [DefaultMaxSignatures].
	MaxSignatures int
	// Now is the verifier's clock. Nil means [time.Now].
	Now func() time.Time
}

// Verifier checks the signature and timestamp of webhook requests under one scheme.
// Create one with [NewVerifier]; it is safe for concurrent use.
type Verifier struct {
	scheme        Scheme
	secretCount   int
	tolerance     time.Duration
	maxSignatures int
	now           func() time.Time
	macs          *macPool
}

// NewVerifier validates cfg and returns a verifier for it. Errors say which setting or
// which secret (by position) is wrong, never the secret itself.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	scheme, err := ParseScheme(string(cfg.Scheme))
	if err != nil {
		return nil, err
	}
	if len(cfg.Secrets) == 0 {
		return nil, errors.New("webhook: at least one secret is required")
	}
	keys := make([][]byte, len(cfg.Secrets))
	for i, secret := range cfg.Secrets {
		if keys[i], err = parseKey(scheme, secret); err != nil {
			return nil, fmt.Errorf("webhook: secret %d of %d: %w", i+1, len(cfg.Secrets), err)
		}
	}
	tolerance := cfg.Tolerance
	switch {
	case tolerance == 0:
		tolerance = scheme.DefaultTolerance()
	case tolerance < time.Second:
		return nil, fmt.Errorf("webhook: tolerance %s is below one second", tolerance)
	}
	maxSignatures := cfg.MaxSignatures
	switch {
	case maxSignatures == 0:
		maxSignatures = DefaultMaxSignatures
	case maxSignatures < 0:
		return nil, fmt.Errorf("webhook: max signatures %d is negative", maxSignatures)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Verifier{
		scheme:        scheme,
		secretCount:   len(keys),
		tolerance:     tolerance,
		maxSignatures: maxSignatures,
		now:           now,
		macs:          newMACPool(keys),
	}, nil
}

// Scheme returns the scheme v accepts.
func (v *Verifier) Scheme() Scheme { return v.scheme }

// Tolerance returns the timestamp tolerance v applies, defaults resolved.
func (v *Verifier) Tolerance() time.Duration { return v.tolerance }

// String describes v without its secrets, so a logged verifier leaks nothing.
func (v *Verifier) String() string {
	return fmt.Sprintf("webhook.Verifier{scheme: %s, secrets: %d, tolerance: %s}", v.scheme, v.secretCount, v.tolerance)
}

// GoString is String, so that %#v does not print the keys either.
func (v *Verifier) GoString() string { return v.String() }

// Verify checks that h and body form a request signed under v's scheme with one of v's
// secrets, within the tolerance of v's clock. It returns nil, or an error wrapping one
// of the package's sentinel errors (see [Reason]).
//
// body must be the exact bytes received, read by the caller under a size limit: Verify
// hashes all of it once per configured secret.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	if v.scheme == SchemeCoven {
		return v.verifyCoven(h, body)
	}
	return v.verifyStandard(h, body)
}

// CheckHeaders checks everything about a request that does not need its body: the signature
// headers are present and well formed and the timestamp is within the tolerance. A receiver calls
// it before reading the body, so that a request that cannot pass costs no read; Verify checks the
// same again with the signature. It returns nil or an error as Verify does.
func (v *Verifier) CheckHeaders(h http.Header) error {
	var err error
	if v.scheme == SchemeCoven {
		_, _, _, err = v.covenHeaders(h)
	} else {
		_, _, _, _, err = v.standardHeaders(h)
	}
	return err
}

// covenHeaders reads and checks the coven scheme's headers.
func (v *Verifier) covenHeaders(h http.Header) (tsText string, ts int64, mac [32]byte, err error) {
	var vals [len(covenHeaders)]string
	if err := readHeaders(h, covenHeaders[:], vals[:]); err != nil {
		return "", 0, mac, err
	}
	tsText, sigText := vals[0], vals[1]
	ts, ok := parseTimestamp(tsText)
	if !ok {
		return "", 0, mac, fmt.Errorf("%w: %s is not unix seconds", ErrMalformedTimestamp, HeaderCovenTimestamp)
	}
	mac, ok = parseCovenSignature(sigText)
	if !ok {
		return "", 0, mac, fmt.Errorf("%w: %s is not sha256=<64 lowercase hex digits>", ErrMalformedSignature, HeaderCovenSignature)
	}
	if err := checkTimestamp(ts, v.now(), v.tolerance); err != nil {
		return "", 0, mac, err
	}
	return tsText, ts, mac, nil
}

func (v *Verifier) verifyCoven(h http.Header, body []byte) error {
	tsText, _, mac, err := v.covenHeaders(h)
	if err != nil {
		return err
	}
	set := v.macs.get()
	defer v.macs.put(set)
	set.sumCoven(tsText, body)
	if !set.matchesAny(&mac) {
		return ErrNoMatchingSignature
	}
	return nil
}

// standardHeaders reads and checks the standard scheme's headers.
func (v *Verifier) standardHeaders(h http.Header) (id, tsText, list string, ts int64, err error) {
	var vals [len(standardHeaders)]string
	if err := readHeaders(h, standardHeaders[:], vals[:]); err != nil {
		return "", "", "", 0, err
	}
	id, tsText, list = vals[0], vals[1], vals[2]
	if !validMessageID(id) {
		return "", "", "", 0, fmt.Errorf("%w: %s must be printable ASCII without spaces or '.'", ErrMalformedID, HeaderStandardID)
	}
	ts, ok := parseTimestamp(tsText)
	if !ok {
		return "", "", "", 0, fmt.Errorf("%w: %s is not unix seconds", ErrMalformedTimestamp, HeaderStandardTimestamp)
	}
	v1Count, err := checkStandardSignatures(list, v.maxSignatures)
	if err != nil {
		return "", "", "", 0, err
	}
	if err := checkTimestamp(ts, v.now(), v.tolerance); err != nil {
		return "", "", "", 0, err
	}
	if v1Count == 0 {
		return "", "", "", 0, fmt.Errorf("%w: no %s signature", ErrNoMatchingSignature, standardVersion)
	}
	return id, tsText, list, ts, nil
}

func (v *Verifier) verifyStandard(h http.Header, body []byte) error {
	id, tsText, list, _, err := v.standardHeaders(h)
	if err != nil {
		return err
	}
	set := v.macs.get()
	defer v.macs.put(set)
	set.sumStandard(id, tsText, body)
	matched := false
	// The list was validated above; this pass only compares. Every entry is compared
	// against every secret, so the time taken does not depend on which one matched.
	for entry, rest := nextEntry(list); entry != ""; entry, rest = nextEntry(rest) {
		mac, isV1, _ := parseStandardEntry(entry)
		if !isV1 {
			continue
		}
		same := set.matchesAny(&mac)
		matched = matched || same
	}
	if !matched {
		return ErrNoMatchingSignature
	}
	return nil
}

// checkTimestamp rejects a timestamp further than tolerance from now, either way.
// Distances are whole seconds between ts and now.Unix(), the resolution of the header.
func checkTimestamp(ts int64, now time.Time, tolerance time.Duration) error {
	nowSec := now.Unix()
	limit := uint64(tolerance / time.Second)
	// The differences are taken in uint64, where they cannot overflow whatever the
	// clock and the (attacker-chosen) timestamp say.
	if ts > nowSec {
		if ahead := uint64(ts) - uint64(nowSec); ahead > limit {
			return fmt.Errorf("%w: %ds in the future, tolerance %s", ErrTimestampTooNew, ahead, tolerance)
		}
		return nil
	}
	if behind := uint64(nowSec) - uint64(ts); behind > limit {
		return fmt.Errorf("%w: %ds in the past, tolerance %s", ErrTimestampTooOld, behind, tolerance)
	}
	return nil
}
