package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Signer signs outgoing webhook requests under one scheme with one secret. Create one
// with [NewSigner]; it is safe for concurrent use.
//
// Sign every delivery attempt afresh, retries included: the timestamp is part of the
// signed content, and a receiver rejects one older than its tolerance.
type Signer struct {
	scheme Scheme
	macs   *macPool
}

// NewSigner returns a signer for scheme with secret, which follows the same rules as
// [VerifierConfig.Secrets].
func NewSigner(scheme Scheme, secret string) (*Signer, error) {
	scheme, err := ParseScheme(string(scheme))
	if err != nil {
		return nil, err
	}
	key, err := parseKey(scheme, secret)
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	return &Signer{scheme: scheme, macs: newMACPool([][]byte{key})}, nil
}

// Scheme returns the scheme s signs with.
func (s *Signer) Scheme() Scheme { return s.scheme }

// String describes s without its secret, so a logged signer leaks nothing.
func (s *Signer) String() string { return fmt.Sprintf("webhook.Signer{scheme: %s}", s.scheme) }

// GoString is String, so that %#v does not print the key either.
func (s *Signer) GoString() string { return s.String() }

// Sign sets on h (which must not be nil) the headers that authenticate body as sent at
// now, replacing any previous values of those headers.
//
// [SchemeCoven] sets X-Coven-Timestamp and X-Coven-Signature and ignores msgID.
// [SchemeStandard] sets webhook-id to msgID, webhook-timestamp and webhook-signature.
// msgID identifies the message, not the attempt: keep it across retries so the receiver
// can deduplicate. It must be printable ASCII without spaces or '.'.
//
// Sign fails, leaving h unchanged, on an invalid msgID or a time before 1970.
func (s *Signer) Sign(h http.Header, body []byte, now time.Time, msgID string) error {
	unix := now.Unix()
	if unix < 0 {
		return errors.New("webhook: cannot sign a time before the unix epoch")
	}
	if s.scheme == SchemeStandard && !validMessageID(msgID) {
		return errors.New("webhook: message id must be non-empty printable ASCII without spaces or '.'")
	}
	ts := strconv.FormatInt(unix, 10)
	set := s.macs.get()
	defer s.macs.put(set)
	switch s.scheme {
	case SchemeCoven:
		set.sumCoven(ts, body)
		h.Set(HeaderCovenTimestamp, ts)
		h.Set(HeaderCovenSignature, string(appendCovenSignature(nil, &set.sums[0])))
	case SchemeStandard:
		set.sumStandard(msgID, ts, body)
		h.Set(HeaderStandardID, msgID)
		h.Set(HeaderStandardTimestamp, ts)
		h.Set(HeaderStandardSignature, string(appendStandardSignature(nil, &set.sums[0])))
	}
	return nil
}

// SignCoven returns the X-Coven-Signature value for body sent at unix time ts:
// "sha256=" and the lowercase hex of HMAC-SHA256(secret, "<ts>.<body>"). It applies no
// secret rules; [NewSigner] does.
func SignCoven(secret []byte, ts int64, body []byte) string {
	set := newMACSet([][]byte{secret})
	set.sumCoven(strconv.FormatInt(ts, 10), body)
	return string(appendCovenSignature(nil, &set.sums[0]))
}

// SignStandard returns one Standard Webhooks signature entry for body with message id
// msgID sent at unix time ts: "v1," and the base64 of HMAC-SHA256(key, "<id>.<ts>.<body>").
// key is the decoded key (the bytes after "whsec_", base64-decoded). It applies no
// secret or id rules; [NewSigner] does.
func SignStandard(key []byte, msgID string, ts int64, body []byte) string {
	set := newMACSet([][]byte{key})
	set.sumStandard(msgID, strconv.FormatInt(ts, 10), body)
	return string(appendStandardSignature(nil, &set.sums[0]))
}
