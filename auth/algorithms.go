package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"slices"

	"github.com/lestrrat-go/jwx/v3/jwa"
)

// keyFamily is the kind of public key an algorithm verifies with.
type keyFamily int

const (
	familyRSA keyFamily = iota + 1
	familyEC
	familyEd25519
)

// algorithm describes one supported JWS algorithm and the only key that may verify it. Binding each
// algorithm to a key family (and, for ECDSA, a curve) is what defeats algorithm-substitution attacks:
// a token cannot pick how a published key is used.
type algorithm struct {
	name   string
	jws    jwa.SignatureAlgorithm
	family keyFamily
	curve  elliptic.Curve // for familyEC only
}

// supportedAlgorithms holds every algorithm Config.Algorithms may name. There is deliberately no
// "none" and no HMAC entry.
var supportedAlgorithms = map[string]algorithm{
	"RS256":   {name: "RS256", jws: jwa.RS256(), family: familyRSA},
	"RS384":   {name: "RS384", jws: jwa.RS384(), family: familyRSA},
	"RS512":   {name: "RS512", jws: jwa.RS512(), family: familyRSA},
	"PS256":   {name: "PS256", jws: jwa.PS256(), family: familyRSA},
	"PS384":   {name: "PS384", jws: jwa.PS384(), family: familyRSA},
	"PS512":   {name: "PS512", jws: jwa.PS512(), family: familyRSA},
	"ES256":   {name: "ES256", jws: jwa.ES256(), family: familyEC, curve: elliptic.P256()},
	"ES384":   {name: "ES384", jws: jwa.ES384(), family: familyEC, curve: elliptic.P384()},
	"ES512":   {name: "ES512", jws: jwa.ES512(), family: familyEC, curve: elliptic.P521()},
	"EdDSA":   {name: "EdDSA", jws: jwa.EdDSA(), family: familyEd25519},
	"Ed25519": {name: "Ed25519", jws: jwa.EdDSAEd25519(), family: familyEd25519},
}

func supportedAlgorithmNames() []string {
	names := make([]string, 0, len(supportedAlgorithms))
	for name := range supportedAlgorithms {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// fits reports whether k may verify a signature made with a. A key whose JWK names its own alg may
// only be used with exactly that alg (RFC 7517 section 4.4).
func (a algorithm) fits(k *publicKey) bool {
	if k.alg != "" && k.alg != a.name {
		return false
	}
	switch pub := k.key.(type) {
	case *rsa.PublicKey:
		return a.family == familyRSA
	case *ecdsa.PublicKey:
		return a.family == familyEC && pub.Curve == a.curve
	case ed25519.PublicKey:
		return a.family == familyEd25519
	default:
		return false
	}
}
