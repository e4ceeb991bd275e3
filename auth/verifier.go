// Package auth verifies the JSON Web Tokens that browsers and services present to the gateway, against
// the signing keys an identity provider publishes as a JSON Web Key Set (JWKS).
//
// The Caddy module coven_jwt, the WebSocket event stream (for the token in the first client message)
// and the rooms API all wrap one Verifier. The package does not import Caddy.
//
// A Verifier holds the identity provider's keys in memory and keeps them fresh:
//
//   - New only validates configuration; it does no network I/O, because Caddy provisions modules
//     during `caddy validate` too.
//   - Start runs a background refresh every Config.RefreshInterval (sooner if the JWKS response's
//     Cache-Control max-age says so), retrying a failing identity provider with exponential backoff,
//     so an identity provider that is down at start does not leave authentication broken for a full
//     refresh interval.
//   - Verify fetches the keys itself when it finds none (rate limited by the same backoff), and
//     re-fetches once when a token names an unknown kid, as happens right after a key rotation; those
//     re-fetches are rate limited by Config.UnknownKIDCooldown. All concurrent fetches are coalesced
//     into one request.
//   - A failed refresh keeps the keys from the last good one.
//
// The fetch loop is this package's own rather than jwk.Cache because its policies (body and key-count
// limits, backoff while the identity provider is down, the unknown-kid cooldown, Status for health
// endpoints) are the point of the package; jwx still parses the keys and checks the signatures.
//
// Every rejection is an *Error with a stable reason label (see Reason), for metrics and logs.
package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jws"
)

// Verifier verifies tokens issued by one identity provider. It is safe for concurrent use.
type Verifier struct {
	cfg      Config
	algs     map[string]algorithm // the allowlist
	jwksName string               // redacted JWKS URL, for messages

	keys  atomic.Pointer[keySet] // nil until the first successful fetch
	cache *tokenCache            // tokens verified against keys

	// life is cancelled by Stop; it bounds every fetch and the refresher.
	life     context.Context
	stopLife context.CancelFunc
	workers  sync.WaitGroup // the refresher and in-flight fetches

	mu             sync.Mutex
	inflight       *fetchCall // the fetch every caller joins, nil when none runs
	started        bool
	stopped        bool
	lastSuccess    time.Time
	lastAttempt    time.Time
	lastErr        error
	failures       int           // consecutive failed fetches
	retryAt        time.Time     // no on-demand fetch before this, after a failure
	refreshAfter   time.Duration // delay until the next scheduled refresh, after a success
	lastUnknownKID time.Time     // when an unknown kid last caused a fetch
	fetches        uint64        // fetches ended
	fetchFailures  uint64        // of which failed
	lastFailureLog time.Time     // when a failed fetch was last logged
}

// New checks cfg, fills in its defaults and returns a Verifier. It does no network I/O: keys are
// fetched by Start and, on demand, by Verify.
func New(cfg Config) (*Verifier, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("auth: invalid config: %w", err)
	}
	v := &Verifier{
		cfg:      cfg,
		algs:     make(map[string]algorithm, len(cfg.Algorithms)),
		jwksName: redactedURL(cfg.JWKSURL),
		cache:    newTokenCache(cfg.CacheSize),
	}
	for _, name := range cfg.Algorithms {
		v.algs[name] = supportedAlgorithms[name]
	}
	v.life, v.stopLife = context.WithCancel(context.Background())
	return v, nil
}

// tokenHeader is the part of the JOSE header Verify needs before it has a key.
type tokenHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// Verify checks a compact-serialized JWT and returns its claims. The token must be signed with an
// allowed algorithm by a key of the JWKS that fits that algorithm, and carry iss equal to
// Config.Issuer, an aud naming one of Config.Audiences, a future exp, a non-empty sub, and nbf and iat
// (when present) not in the future; times are compared with Config.Leeway.
//
// A token verified before against the current key set is not verified again (see Config.CacheSize);
// its claims are checked again. ctx bounds only the wait for a JWKS fetch this call needs. Every error
// is an *Error.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if len(token) > v.cfg.MaxTokenBytes {
		return nil, reject(ReasonMalformed, fmt.Sprintf("token is longer than %d bytes", v.cfg.MaxTokenBytes))
	}
	cacheKey := tokenKey(token)
	if ks := v.keys.Load(); ks != nil {
		if claims, ok := v.cache.get(cacheKey, ks); ok {
			if err := v.checkClaims(claims, time.Now()); err != nil {
				return nil, err
			}
			return claims, nil
		}
	}
	headerSeg, rest, ok := strings.Cut(token, ".")
	if !ok || strings.Count(rest, ".") != 1 {
		return nil, reject(ReasonMalformed, "token is not a compact JWS of three segments")
	}
	var hdr tokenHeader
	if raw, err := base64.RawURLEncoding.DecodeString(headerSeg); err != nil || json.Unmarshal(raw, &hdr) != nil {
		return nil, reject(ReasonMalformed, "token header is not base64url-encoded JSON")
	}
	if hdr.Alg == "" {
		return nil, reject(ReasonMalformed, "token header has no alg")
	}
	alg, ok := v.algs[hdr.Alg]
	if !ok {
		return nil, reject(ReasonAlgNotAllowed, "algorithm "+quoteField(hdr.Alg)+" is not allowed")
	}
	if len(v.cfg.Types) > 0 && !v.typeAllowed(hdr.Typ) {
		return nil, reject(ReasonBadType, "token type "+quoteField(hdr.Typ)+" is not one of the configured types")
	}

	key, ks, err := v.keyFor(ctx, hdr.Kid, alg)
	if err != nil {
		return nil, err
	}
	payload, err := jws.VerifyCompactFast(key.key, []byte(token), alg.jws)
	if err != nil {
		if errors.Is(err, jws.ErrCritPresent()) || errors.Is(err, jws.ErrB64Present()) {
			return nil, reject(ReasonMalformed, "token uses the crit or b64 header, which are not supported")
		}
		return nil, rejectWith(ReasonBadSignature, "signature does not verify with key "+quoteField(key.kid), err)
	}
	claims, err := decodeClaims(payload)
	if err != nil {
		return nil, rejectWith(ReasonMalformed, "token claims", err)
	}
	if err := v.checkClaims(claims, time.Now()); err != nil {
		return nil, err
	}
	v.cache.put(cacheKey, claims, ks)
	return claims, nil
}

// keyFor returns the key that verifies a token with this kid and algorithm and the key set it is
// from, fetching the JWKS when no keys are held or, once per cooldown, when the kid is unknown.
func (v *Verifier) keyFor(ctx context.Context, kid string, alg algorithm) (*publicKey, *keySet, error) {
	ks := v.keys.Load()
	if ks == nil {
		if err := v.fetchWhenEmpty(ctx); err != nil {
			return nil, nil, rejectWith(ReasonJWKSUnavailable, "no signing keys are loaded", err)
		}
		ks = v.keys.Load()
	}
	key, found := ks.keyFor(kid, alg)
	if !found && kid != "" && v.fetchForUnknownKID(ctx) {
		ks = v.keys.Load()
		key, found = ks.keyFor(kid, alg)
	}
	switch {
	case !found && kid == "":
		return nil, nil, reject(ReasonUnknownKID, "token has no kid and the JWKS does not hold exactly one key for "+alg.name)
	case !found:
		return nil, nil, reject(ReasonUnknownKID, "no signing key has kid "+quoteField(kid))
	case key == nil:
		return nil, nil, reject(ReasonAlgNotAllowed, "key "+quoteField(kid)+" does not fit algorithm "+alg.name)
	}
	return key, ks, nil
}

// checkClaims applies the claim rules of Verify.
func (v *Verifier) checkClaims(c *Claims, now time.Time) *Error {
	leeway := v.cfg.Leeway
	switch {
	case c.Issuer == "":
		return reject(ReasonMissingClaim, "claim iss is missing")
	case c.Issuer != v.cfg.Issuer:
		return reject(ReasonBadIssuer, "issuer "+quoteField(c.Issuer)+" is not the configured issuer")
	case len(c.Audience) == 0:
		return reject(ReasonMissingClaim, "claim aud is missing")
	case !slices.ContainsFunc(c.Audience, func(a string) bool { return slices.Contains(v.cfg.Audiences, a) }):
		return reject(ReasonBadAudience, "audience names none of the configured audiences")
	case c.Expiry.IsZero():
		return reject(ReasonMissingClaim, "claim exp is missing")
	case !now.Before(c.Expiry.Add(leeway)):
		return reject(ReasonExpired, "token expired at "+c.Expiry.Format(time.RFC3339))
	case now.Add(leeway).Before(c.NotBefore):
		return reject(ReasonNotYetValid, "token is not valid before "+c.NotBefore.Format(time.RFC3339))
	case now.Add(leeway).Before(c.IssuedAt):
		return reject(ReasonNotYetValid, "token is issued in the future, at "+c.IssuedAt.Format(time.RFC3339))
	case c.Subject == "":
		return reject(ReasonMissingClaim, "claim sub is missing")
	}
	if max := v.cfg.MaxLifetime; max > 0 {
		from := c.IssuedAt
		if from.IsZero() {
			from = now
		}
		if life := c.Expiry.Sub(from); life > max {
			return reject(ReasonLifetimeTooLong, fmt.Sprintf("token is valid for %v, more than the %v allowed", life.Round(time.Second), max))
		}
	}
	return nil
}

// typeAllowed reports whether typ is one of Config.Types, compared as RFC 7515 section 4.1.9 says
// media types are: case-insensitively, with the "application/" prefix optional.
func (v *Verifier) typeAllowed(typ string) bool {
	norm := func(t string) string {
		t = strings.ToLower(t)
		return strings.TrimPrefix(t, "application/")
	}
	if typ == "" {
		return false
	}
	got := norm(typ)
	return slices.ContainsFunc(v.cfg.Types, func(t string) bool { return norm(t) == got })
}
