package auth

import (
	"errors"
	"strconv"
)

// Reasons a token is rejected. They are stable labels meant for metrics and logs: dashboards and alerts
// may key on them, so they never change once published.
const (
	// ReasonMalformed: the token is not a well-formed compact JWS carrying a JSON claims object, is larger
	// than Config.MaxTokenBytes, or uses a JWS feature this package does not accept (crit, b64).
	ReasonMalformed = "malformed"
	// ReasonAlgNotAllowed: the token's alg is not in Config.Algorithms, or it does not fit the key its kid
	// names (wrong key type or curve, or a different alg on the JWK).
	ReasonAlgNotAllowed = "alg_not_allowed"
	// ReasonUnknownKID: no published signing key has the token's kid, even after a re-fetch of the JWKS.
	ReasonUnknownKID = "unknown_kid"
	// ReasonBadSignature: the signature does not verify with the key the token names.
	ReasonBadSignature = "bad_signature"
	// ReasonExpired: exp (plus Config.Leeway) is in the past.
	ReasonExpired = "expired"
	// ReasonNotYetValid: nbf or iat (minus Config.Leeway) is in the future.
	ReasonNotYetValid = "not_yet_valid"
	// ReasonBadIssuer: iss differs from Config.Issuer.
	ReasonBadIssuer = "bad_issuer"
	// ReasonBadAudience: aud names none of Config.Audiences.
	ReasonBadAudience = "bad_audience"
	// ReasonMissingClaim: a required claim (iss, aud, exp, sub) is absent or empty.
	ReasonMissingClaim = "missing_claim"
	// ReasonBadType: Config.Types is set and the token's typ header is absent or not among them.
	ReasonBadType = "bad_type"
	// ReasonLifetimeTooLong: Config.MaxLifetime is set and the token is valid for longer.
	ReasonLifetimeTooLong = "lifetime_too_long"
	// ReasonJWKSUnavailable: no signing keys are held because the JWKS could not be fetched.
	ReasonJWKSUnavailable = "jwks_unavailable"
)

// Reasons lists every reason label, for metrics that start each at zero.
var Reasons = []string{ReasonMalformed, ReasonAlgNotAllowed, ReasonUnknownKID, ReasonBadSignature, ReasonExpired,
	ReasonNotYetValid, ReasonBadIssuer, ReasonBadAudience, ReasonMissingClaim, ReasonBadType, ReasonLifetimeTooLong,
	ReasonJWKSUnavailable}

// Error is the error Verify returns for every rejected token. Its message says what was wrong in terms
// an operator can act on; it never contains the token itself.
type Error struct {
	// Reason is one of the Reason* constants.
	Reason string
	// Detail explains the rejection, for logs.
	Detail string
	// Err is the underlying cause, if any (a fetch error, a context error, a signature error).
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	msg := "auth: " + e.Reason + ": " + e.Detail
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying cause, so errors.Is(err, context.Canceled) and friends work.
func (e *Error) Unwrap() error { return e.Err }

// Reason returns the stable reason label of an error returned by Verify (one of the Reason*
// constants), or "" when err is nil or did not come from this package.
func Reason(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

func reject(reason, detail string) *Error {
	return &Error{Reason: reason, Detail: detail}
}

func rejectWith(reason, detail string, cause error) *Error {
	return &Error{Reason: reason, Detail: detail, Err: cause}
}

// maxQuotedField bounds how much of an attacker-chosen header or claim value (a kid, an alg, an iss)
// is copied into an error message, so a hostile token cannot flood the logs.
const maxQuotedField = 64

// quoteField quotes a value taken from a token for an error message, truncating long values.
func quoteField(s string) string {
	if len(s) > maxQuotedField {
		return strconv.Quote(s[:maxQuotedField]) + "..."
	}
	return strconv.Quote(s)
}
