package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"sync"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// testKeys are raw keys generated once for the key-set tests.
type testKeys struct {
	rsa, rsa2, rsaSmall *rsa.PrivateKey
	ec                  *ecdsa.PrivateKey
	ed                  ed25519.PrivateKey
}

// generateTestKeys generates the keys once per test binary: RSA generation is slow under -race.
var generateTestKeys = sync.OnceValues(func() (testKeys, error) {
	var k testKeys
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return k, err
	}
	if k.rsa2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return k, err
	}
	if k.rsaSmall, err = rsa.GenerateKey(rand.Reader, 1024); err != nil {
		return k, err
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return k, err
	}
	_, k.ed, err = ed25519.GenerateKey(rand.Reader)
	return k, err
})

func testKeyMaterial(t *testing.T) testKeys {
	t.Helper()
	k, err := generateTestKeys()
	if err != nil {
		t.Fatalf("generating keys: %v", err)
	}
	return k
}

// rsaJWKWithoutChecks encodes an RSA public key by hand, for keys jwk.Import refuses to encode.
func rsaJWKWithoutChecks(pub *rsa.PublicKey, kid string) map[string]any {
	return map[string]any{
		"kty": "RSA",
		"kid": kid,
		"n":   base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e":   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}
}

// jwkJSON encodes a raw key as a JWK object with extra members set (nil removes a member).
func jwkJSON(t *testing.T, raw any, members map[string]any) map[string]any {
	t.Helper()
	key, err := jwk.Import(raw)
	if err != nil {
		t.Fatalf("jwk.Import: %v", err)
	}
	b, err := json.Marshal(key)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for name, v := range members {
		if v == nil {
			delete(m, name)
		} else {
			m[name] = v
		}
	}
	return m
}

func jwksJSON(t *testing.T, keys ...map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseKeySet(t *testing.T) {
	k := testKeyMaterial(t)
	tests := []struct {
		name     string
		doc      func(t *testing.T) []byte
		maxKeys  int
		wantKIDs []string // usable keys, in order
		wantErr  string
	}{
		{
			name: "signing keys of every family",
			doc: func(t *testing.T) []byte {
				return jwksJSON(t,
					jwkJSON(t, &k.rsa.PublicKey, map[string]any{"kid": "r"}),
					jwkJSON(t, &k.ec.PublicKey, map[string]any{"kid": "e"}),
					jwkJSON(t, k.ed.Public(), map[string]any{"kid": "d"}))
			},
			wantKIDs: []string{"r", "e", "d"},
		},
		{
			name: "encryption key skipped",
			doc: func(t *testing.T) []byte {
				return jwksJSON(t,
					jwkJSON(t, &k.rsa.PublicKey, map[string]any{"kid": "enc", "use": "enc"}),
					jwkJSON(t, &k.ec.PublicKey, map[string]any{"kid": "sig", "use": "sig"}))
			},
			wantKIDs: []string{"sig"},
		},
		{
			name: "key_ops without verify skipped",
			doc: func(t *testing.T) []byte {
				return jwksJSON(t,
					jwkJSON(t, &k.rsa.PublicKey, map[string]any{"kid": "wrap", "key_ops": []string{"wrapKey"}}),
					jwkJSON(t, &k.rsa2.PublicKey, map[string]any{"kid": "verify", "key_ops": []string{"verify"}}))
			},
			wantKIDs: []string{"verify"},
		},
		{
			name: "symmetric key skipped",
			doc: func(t *testing.T) []byte {
				return jwksJSON(t,
					map[string]any{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"},
					jwkJSON(t, &k.rsa.PublicKey, map[string]any{"kid": "r"}))
			},
			wantKIDs: []string{"r"},
		},
		{
			name: "unknown key type skipped",
			doc: func(t *testing.T) []byte {
				return jwksJSON(t,
					map[string]any{"kty": "ML-DSA", "kid": "pq", "pub": "AAAA"},
					jwkJSON(t, &k.rsa.PublicKey, map[string]any{"kid": "r"}))
			},
			wantKIDs: []string{"r"},
		},
		{
			name: "RSA key below 2048 bits skipped",
			doc: func(t *testing.T) []byte {
				return jwksJSON(t,
					rsaJWKWithoutChecks(&k.rsaSmall.PublicKey, "weak"),
					jwkJSON(t, &k.rsa.PublicKey, map[string]any{"kid": "r"}))
			},
			wantKIDs: []string{"r"},
		},
		{
			name: "published private key kept as its public half",
			doc: func(t *testing.T) []byte {
				return jwksJSON(t, jwkJSON(t, k.rsa, map[string]any{"kid": "oops"}))
			},
			wantKIDs: []string{"oops"},
		},
		{
			name: "no usable key",
			doc: func(t *testing.T) []byte {
				return jwksJSON(t, jwkJSON(t, &k.rsa.PublicKey, map[string]any{"kid": "enc", "use": "enc"}))
			},
			wantErr: "no usable signing key",
		},
		{
			name:    "empty set",
			doc:     func(t *testing.T) []byte { return []byte(`{"keys":[]}`) },
			wantErr: "no usable signing key",
		},
		{
			name: "more keys than allowed",
			doc: func(t *testing.T) []byte {
				return jwksJSON(t,
					jwkJSON(t, &k.rsa.PublicKey, map[string]any{"kid": "1"}),
					jwkJSON(t, &k.rsa2.PublicKey, map[string]any{"kid": "2"}),
					jwkJSON(t, &k.ec.PublicKey, map[string]any{"kid": "3"}))
			},
			maxKeys: 2,
			wantErr: "parsing JWKS",
		},
		{
			name:    "not JSON",
			doc:     func(t *testing.T) []byte { return []byte("<html>login</html>") },
			wantErr: "parsing JWKS",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			maxKeys := tt.maxKeys
			if maxKeys == 0 {
				maxKeys = DefaultMaxJWKSKeys
			}
			ks, err := parseKeySet(tt.doc(t), maxKeys)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseKeySet error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseKeySet: %v", err)
			}
			var kids []string
			for _, key := range ks.all {
				kids = append(kids, key.kid)
				switch key.key.(type) {
				case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
				default:
					t.Errorf("key %q holds %T, want a public key", key.kid, key.key)
				}
			}
			if strings.Join(kids, ",") != strings.Join(tt.wantKIDs, ",") {
				t.Fatalf("usable kids = %v, want %v", kids, tt.wantKIDs)
			}
		})
	}
}

func TestKeySetKeyFor(t *testing.T) {
	k := testKeyMaterial(t)
	rs256, es256, eddsa := supportedAlgorithms["RS256"], supportedAlgorithms["ES256"], supportedAlgorithms["EdDSA"]
	es384 := supportedAlgorithms["ES384"]
	tests := []struct {
		name      string
		keys      []map[string]any
		kid       string
		alg       algorithm
		wantKID   string // "" means no key
		wantFound bool
	}{
		{
			name:    "kid and family match",
			keys:    []map[string]any{jwkJSON(t, &k.rsa.PublicKey, map[string]any{"kid": "r"})},
			kid:     "r",
			alg:     rs256,
			wantKID: "r", wantFound: true,
		},
		{
			name:      "kid matches a key of another family",
			keys:      []map[string]any{jwkJSON(t, &k.rsa.PublicKey, map[string]any{"kid": "r"})},
			kid:       "r",
			alg:       es256,
			wantFound: true,
		},
		{
			name:      "EC key on another curve",
			keys:      []map[string]any{jwkJSON(t, &k.ec.PublicKey, map[string]any{"kid": "e"})},
			kid:       "e",
			alg:       es384,
			wantFound: true,
		},
		{
			name:      "JWK alg restricts the key",
			keys:      []map[string]any{jwkJSON(t, &k.rsa.PublicKey, map[string]any{"kid": "r", "alg": "RS384"})},
			kid:       "r",
			alg:       rs256,
			wantFound: true,
		},
		{
			name:    "JWK alg matches",
			keys:    []map[string]any{jwkJSON(t, k.ed.Public(), map[string]any{"kid": "d", "alg": "EdDSA"})},
			kid:     "d",
			alg:     eddsa,
			wantKID: "d", wantFound: true,
		},
		{
			name: "unknown kid",
			keys: []map[string]any{jwkJSON(t, &k.rsa.PublicKey, map[string]any{"kid": "r"})},
			kid:  "other",
			alg:  rs256,
		},
		{
			name: "same kid on two families picks by algorithm",
			keys: []map[string]any{
				jwkJSON(t, &k.rsa.PublicKey, map[string]any{"kid": "k"}),
				jwkJSON(t, &k.ec.PublicKey, map[string]any{"kid": "k"}),
			},
			kid:     "k",
			alg:     es256,
			wantKID: "k", wantFound: true,
		},
		{
			name: "no kid and exactly one fitting key",
			keys: []map[string]any{
				jwkJSON(t, &k.rsa.PublicKey, map[string]any{"kid": "r"}),
				jwkJSON(t, &k.ec.PublicKey, map[string]any{"kid": "e"}),
			},
			alg:     es256,
			wantKID: "e", wantFound: true,
		},
		{
			name: "no kid and two fitting keys",
			keys: []map[string]any{
				jwkJSON(t, &k.rsa.PublicKey, map[string]any{"kid": "r1"}),
				jwkJSON(t, &k.rsa2.PublicKey, map[string]any{"kid": "r2"}),
			},
			alg: rs256,
		},
		{
			name: "no kid and no fitting key",
			keys: []map[string]any{jwkJSON(t, &k.rsa.PublicKey, map[string]any{"kid": "r"})},
			alg:  eddsa,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := parseKeySet(jwksJSON(t, tt.keys...), DefaultMaxJWKSKeys)
			if err != nil {
				t.Fatalf("parseKeySet: %v", err)
			}
			key, found := ks.keyFor(tt.kid, tt.alg)
			if found != tt.wantFound {
				t.Errorf("found = %v, want %v", found, tt.wantFound)
			}
			gotKID := ""
			if key != nil {
				gotKID = key.kid
				if !tt.alg.fits(key) {
					t.Errorf("returned key %q does not fit %s", key.kid, tt.alg.name)
				}
			}
			if gotKID != tt.wantKID {
				t.Errorf("key = %q, want %q", gotKID, tt.wantKID)
			}
		})
	}
}
