// Package webhook signs and verifies webhook requests with HMAC-SHA256.
//
// The worker uses a [Signer] to sign every delivery attempt afresh (a retry gets a new
// timestamp and signature), and the edge's coven_hmac Caddy module wraps a [Verifier]
// to guard /internal/events or any other webhook endpoint. The package does no I/O and
// imports nothing from Caddy.
//
// # Schemes
//
// A [Verifier] accepts exactly one [Scheme], chosen by configuration. It reads only
// that scheme's headers: a request signed only under the other scheme is rejected, and
// the other scheme's headers never count toward a request's authenticity. There is no
// downgrade and no guessing.
//
//   - [SchemeCoven]: X-Coven-Timestamp: <unix seconds> and
//     X-Coven-Signature: sha256=<lowercase hex of HMAC-SHA256(secret, "<ts>.<body>")>.
//     The secret's bytes are the HMAC key. Default tolerance: [DefaultCovenTolerance].
//   - [SchemeStandard] (Standard Webhooks, https://www.standardwebhooks.com):
//     webhook-id, webhook-timestamp and
//     webhook-signature: v1,<base64 of HMAC-SHA256(key, "<id>.<ts>.<body>")>, where the
//     signature header is a space-separated list and any valid v1 entry passes. Secrets
//     are "whsec_<base64>" or bare base64; the key is the decoded bytes. Default
//     tolerance: [DefaultStandardTolerance], the specification's five minutes.
//
// Both schemes reject a timestamp further than the tolerance in the past or in the
// future, and both accept several secrets at once so keys can be rotated without
// downtime: the verifier computes the expected MAC for every secret and compares all of
// them in constant time, without stopping at the first match.
//
// # Parsing rules
//
// Headers are parsed strictly, so that every accepted request has exactly one meaning:
//
//   - Each header must appear once; a repeated header is malformed. An empty value
//     counts as missing.
//   - Timestamps are unix seconds in canonical decimal: ASCII digits only, no sign, no
//     leading zero (except "0" itself), no surrounding white space.
//   - The coven signature is "sha256=" followed by exactly 64 lowercase hex digits;
//     upper-case hex or prefix is malformed.
//   - A Standard Webhooks signature list is split on runs of spaces; leading and
//     trailing spaces are ignored. Each entry is "<version>,<signature>". Entries with a
//     version other than exactly "v1" (such as "v1a" or "V1") are skipped, not errors.
//     A "v1" entry must be padded standard base64 of 32 bytes; any other form, or an
//     entry without a version, makes the whole header malformed. At most
//     [VerifierConfig.MaxSignatures] entries are read.
//   - A webhook-id must be printable ASCII without spaces or '.': a '.' would make the
//     signed content "<id>.<ts>.<body>" ambiguous and let an attacker shift bytes
//     between the id and the timestamp.
//   - Header names are matched as net/http canonicalizes them (webhook-id and Webhook-Id
//     are the same header); an [http.Header] built by hand must use canonical keys, as
//     [http.Header.Set] does.
//
// Verify checks, in order: presence, syntax, the timestamp window, then the MACs. The
// cheap checks come first so that garbage costs no HMAC work.
//
// # Errors
//
// Every verification failure wraps one of the sentinel errors ([ErrMissingHeaders],
// [ErrMalformedTimestamp], [ErrMalformedSignature], [ErrMalformedID],
// [ErrTimestampTooOld], [ErrTimestampTooNew], [ErrNoMatchingSignature]); HTTP callers
// answer all of them with 401 and use [Reason] for a metrics label. Errors name headers
// and limits but never contain a secret, an expected signature or a received header
// value.
//
// # Body size
//
// Verify hashes the whole body it is given. Callers must read the body with a size limit
// first and answer 413 for an oversized one before any HMAC work is done.
package webhook
