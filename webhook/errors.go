package webhook

import "errors"

// Sentinel errors returned (wrapped, with detail) by [Verifier.Verify]. Test for them
// with [errors.Is]; every one of them means the request is not authenticated (HTTP 401).
var (
	// ErrMissingHeaders means a header the scheme requires is absent or empty.
	ErrMissingHeaders = errors.New("webhook: missing signature headers")
	// ErrMalformedTimestamp means the timestamp header is repeated or not canonical
	// unix seconds.
	ErrMalformedTimestamp = errors.New("webhook: malformed timestamp")
	// ErrMalformedSignature means the signature header is repeated, does not follow the
	// scheme's syntax, or lists more entries than allowed.
	ErrMalformedSignature = errors.New("webhook: malformed signature")
	// ErrMalformedID means the webhook-id header (Standard Webhooks) is repeated or holds
	// characters the signed content cannot carry unambiguously.
	ErrMalformedID = errors.New("webhook: malformed message id")
	// ErrTimestampTooOld means the timestamp is further in the past than the tolerance.
	ErrTimestampTooOld = errors.New("webhook: timestamp too old")
	// ErrTimestampTooNew means the timestamp is further in the future than the tolerance.
	ErrTimestampTooNew = errors.New("webhook: timestamp too new")
	// ErrNoMatchingSignature means no signature matched any configured secret.
	ErrNoMatchingSignature = errors.New("webhook: no matching signature")
)

// Reason labels, stable for use in metrics.
const (
	ReasonMissingHeaders = "missing_headers"
	ReasonMalformed      = "malformed"
	ReasonStale          = "stale"
	ReasonFuture         = "future"
	ReasonMismatch       = "mismatch"
	ReasonUnknown        = "unknown"
)

// Reason returns a short stable label for a verification error, for a metrics label or
// a log field: "missing_headers", "malformed", "stale", "future" or "mismatch". It
// returns "" for a nil error and "unknown" for an error that wraps none of the
// sentinel errors.
func Reason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrMissingHeaders):
		return ReasonMissingHeaders
	case errors.Is(err, ErrMalformedTimestamp),
		errors.Is(err, ErrMalformedSignature),
		errors.Is(err, ErrMalformedID):
		return ReasonMalformed
	case errors.Is(err, ErrTimestampTooOld):
		return ReasonStale
	case errors.Is(err, ErrTimestampTooNew):
		return ReasonFuture
	case errors.Is(err, ErrNoMatchingSignature):
		return ReasonMismatch
	default:
		return ReasonUnknown
	}
}
