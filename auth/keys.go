package auth

import (
	"errors"
	"fmt"
	"slices"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// publicKey is one usable signing key from the JWKS, exported once to its crypto type so that
// verifying a token does no key conversion.
type publicKey struct {
	kid string
	alg string // the JWK's own alg, "" when the JWK does not restrict it
	key any    // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// keySet is an immutable snapshot of the usable keys of one JWKS document. Verifiers read it without
// locks; a refresh replaces it whole.
type keySet struct {
	byKID map[string][]*publicKey // a kid may repeat across key types (RFC 7517 allows it)
	all   []*publicKey
}

// parseKeySet turns a JWKS document into the keys usable for verifying signatures. Entries that are
// not signing keys (use "enc", key_ops without "verify", symmetric keys) or that cannot be parsed
// (unknown kty, RSA shorter than jwx's 2048-bit floor) are skipped, so that one odd entry does not
// take the whole set down; a set left with no usable key is an error.
func parseKeySet(doc []byte, maxKeys int) (*keySet, error) {
	set, err := jwk.Parse(doc, jwk.WithMaxKeys(maxKeys), jwk.WithStrictKeySetParsing(false))
	if err != nil {
		return nil, fmt.Errorf("parsing JWKS: %w", err)
	}
	ks := &keySet{byKID: make(map[string][]*publicKey, set.Len())}
	for i := range set.Len() {
		key, _ := set.Key(i)
		pk, ok := usableKey(key)
		if !ok {
			continue
		}
		ks.all = append(ks.all, pk)
		if pk.kid != "" {
			ks.byKID[pk.kid] = append(ks.byKID[pk.kid], pk)
		}
	}
	if len(ks.all) == 0 {
		return nil, errors.New("JWKS holds no usable signing key")
	}
	return ks, nil
}

// usableKey converts a JWK to a publicKey, or reports false for a key that must not verify tokens.
func usableKey(key jwk.Key) (*publicKey, bool) {
	if key == nil || jwk.IsUnsupportedKey(key) || key.KeyType() == jwa.OctetSeq() {
		return nil, false
	}
	if use, ok := key.KeyUsage(); ok && use != "sig" {
		return nil, false
	}
	if ops, ok := key.KeyOps(); ok && !slices.Contains(ops, jwk.KeyOpVerify) {
		return nil, false
	}
	// An identity provider that publishes a private key by mistake must not make us hold it.
	public, err := key.PublicKey()
	if err != nil {
		return nil, false
	}
	var raw any
	if err := jwk.Export(public, &raw); err != nil {
		return nil, false
	}
	pk := &publicKey{key: raw}
	pk.kid, _ = key.KeyID()
	if alg, ok := key.Algorithm(); ok {
		pk.alg = alg.String()
	}
	return pk, true
}

// keyFor picks the key that verifies a token with the given kid and algorithm. found reports whether
// any key carries the kid at all (so the caller can tell an unknown kid from an algorithm mismatch).
//
// A token without a kid is accepted only when exactly one published key fits its algorithm, as the
// jose library does: trying every key would let one token cost many signature checks.
func (ks *keySet) keyFor(kid string, alg algorithm) (key *publicKey, found bool) {
	candidates := ks.all
	if kid != "" {
		candidates = ks.byKID[kid]
	}
	var match *publicKey
	for _, k := range candidates {
		if !alg.fits(k) {
			continue
		}
		if kid == "" && match != nil {
			return nil, false // ambiguous
		}
		match = k
		if kid != "" {
			break
		}
	}
	if kid == "" {
		return match, match != nil
	}
	return match, len(candidates) > 0
}
