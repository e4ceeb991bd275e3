// Package authtest is an identity provider for tests and local development: it generates real signing
// keys at start, publishes them as a JWKS over HTTP and mints signed JWTs.
//
// The auth package's tests, the integration tests and the sandbox's dev identity provider use it. Keys
// live only in memory; nothing here is fit to guard production traffic.
package authtest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// JWKSPath is where an Issuer serves its JWKS.
const JWKSPath = "/.well-known/jwks.json"

// Algorithms an Issuer can sign with.
const (
	RS256 = "RS256" // RSA 2048-bit, PKCS #1 v1.5 with SHA-256; the default
	ES256 = "ES256" // ECDSA P-256 with SHA-256
	EdDSA = "EdDSA" // Ed25519
)

// Option configures NewIssuer.
type Option func(*options)

type options struct {
	alg    string
	maxAge time.Duration
	typ    *string
}

// WithAlgorithm selects the algorithm of the first signing key (and of keys made by Rotate): RS256
// (the default), ES256 or EdDSA.
func WithAlgorithm(alg string) Option {
	return func(o *options) { o.alg = alg }
}

// WithType sets the typ header of every token minted (default "JWT"; "" leaves it out), as an
// identity provider typing its access tokens ("at+jwt", RFC 9068) does.
func WithType(typ string) Option {
	return func(o *options) { o.typ = &typ }
}

// WithJWKSMaxAge makes JWKS responses carry Cache-Control: max-age with the given duration, in whole
// seconds. Without it responses carry no Cache-Control header.
func WithJWKSMaxAge(d time.Duration) Option {
	return func(o *options) { o.maxAge = d }
}

// Issuer holds signing keys and mints tokens in the name of one issuer URL. It is an http.Handler
// serving its JWKS at JWKSPath. It is safe for concurrent use.
type Issuer struct {
	url          string
	cacheControl string
	typ          string
	requests     atomic.Int64

	mu      sync.RWMutex
	keys    []*signingKey // published keys, oldest first
	signing *signingKey   // the key Mint uses
	jwks    []byte        // the JWKS document, rebuilt when keys change
}

type signingKey struct {
	kid     string
	alg     jwa.SignatureAlgorithm
	private jwk.Key
	public  jwk.Key
}

// NewIssuer returns an Issuer whose tokens carry iss = issuerURL, with one freshly generated signing
// key.
func NewIssuer(issuerURL string, opts ...Option) (*Issuer, error) {
	if issuerURL == "" {
		return nil, errors.New("authtest: issuer URL is required")
	}
	o := options{alg: RS256}
	for _, opt := range opts {
		opt(&o)
	}
	if o.maxAge < 0 {
		return nil, errors.New("authtest: JWKS max-age must not be negative")
	}
	i := &Issuer{url: issuerURL, typ: "JWT"}
	if o.typ != nil {
		i.typ = *o.typ
	}
	if o.maxAge > 0 {
		i.cacheControl = "public, max-age=" + strconv.FormatInt(int64(o.maxAge/time.Second), 10)
	}
	if _, err := i.AddKey(o.alg); err != nil {
		return nil, err
	}
	return i, nil
}

// URL returns the issuer URL, the iss of every token MintFor makes.
func (i *Issuer) URL() string { return i.url }

// SigningKeyID returns the kid of the key Mint signs with.
func (i *Issuer) SigningKeyID() string {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.signing.kid
}

// KeyIDs returns the kids of every published key, oldest first.
func (i *Issuer) KeyIDs() []string {
	i.mu.RLock()
	defer i.mu.RUnlock()
	kids := make([]string, len(i.keys))
	for n, k := range i.keys {
		kids[n] = k.kid
	}
	return kids
}

// AddKey generates a key for the algorithm (RS256, ES256 or EdDSA), publishes it and makes it the
// signing key. It returns the new kid, the key's RFC 7638 thumbprint.
func (i *Issuer) AddKey(alg string) (string, error) {
	key, err := generateKey(alg)
	if err != nil {
		return "", err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys = append(i.keys, key)
	i.signing = key
	return key.kid, i.publishLocked()
}

// Rotate publishes a new key of the signing key's algorithm and signs with it from now on. The old
// key stays published, so tokens it signed keep verifying until Retire removes it.
func (i *Issuer) Rotate() (string, error) {
	i.mu.RLock()
	alg := i.signing.alg.String()
	i.mu.RUnlock()
	return i.AddKey(alg)
}

// Retire stops publishing a key. The signing key cannot be retired; Rotate first.
func (i *Issuer) Retire(kid string) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.signing.kid == kid {
		return fmt.Errorf("authtest: key %q is the signing key; rotate before retiring it", kid)
	}
	n := slices.IndexFunc(i.keys, func(k *signingKey) bool { return k.kid == kid })
	if n < 0 {
		return fmt.Errorf("authtest: no published key has kid %q", kid)
	}
	i.keys = slices.Delete(i.keys, n, n+1)
	return i.publishLocked()
}

// MintFor signs a token for subject sub and audience aud, issued now and expiring after ttl (a
// negative ttl makes an already expired token), with iss set to the issuer URL and a random jti.
// Entries of extra are added to the claims, replacing the standard ones; an entry whose value is nil
// removes that claim, which lets tests make tokens that lack a required claim.
func (i *Issuer) MintFor(sub, aud string, ttl time.Duration, extra map[string]any) (string, error) {
	now := time.Now()
	claims := map[string]any{
		"iss": i.url,
		"sub": sub,
		"aud": aud,
		"iat": now.Unix(),
		"exp": now.Add(ttl).Unix(),
		"jti": randomID(),
	}
	for name, v := range extra {
		if v == nil {
			delete(claims, name)
		} else {
			claims[name] = v
		}
	}
	return i.Mint(claims)
}

// Mint signs the claims with the signing key. time.Time values are encoded as NumericDate (seconds
// since the epoch); everything else is encoded as encoding/json does.
func (i *Issuer) Mint(claims map[string]any) (string, error) {
	i.mu.RLock()
	key := i.signing
	i.mu.RUnlock()
	return sign(key, i.typ, claims)
}

// MintWithKey signs the claims with a published key other than the signing key, for tests of
// rotation.
func (i *Issuer) MintWithKey(kid string, claims map[string]any) (string, error) {
	i.mu.RLock()
	n := slices.IndexFunc(i.keys, func(k *signingKey) bool { return k.kid == kid })
	var key *signingKey
	if n >= 0 {
		key = i.keys[n]
	}
	i.mu.RUnlock()
	if key == nil {
		return "", fmt.Errorf("authtest: no published key has kid %q", kid)
	}
	return sign(key, i.typ, claims)
}

// JWKS returns the JWKS document as served: the public halves of every published key.
func (i *Issuer) JWKS() []byte {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return slices.Clone(i.jwks)
}

// JWKSRequests counts the JWKS requests served so far; tests use it to see how often a verifier
// fetched.
func (i *Issuer) JWKSRequests() int64 { return i.requests.Load() }

// ServeHTTP serves the JWKS at JWKSPath to GET and HEAD, and 404 elsewhere.
func (i *Issuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != JWKSPath {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	i.requests.Add(1)
	doc := i.JWKS()
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Content-Length", strconv.Itoa(len(doc)))
	if i.cacheControl != "" {
		w.Header().Set("Cache-Control", i.cacheControl)
	}
	if r.Method == http.MethodGet {
		_, _ = w.Write(doc)
	}
}

// publishLocked rebuilds the JWKS document from i.keys. i.mu must be held for writing.
func (i *Issuer) publishLocked() error {
	set := jwk.NewSet()
	for _, k := range i.keys {
		if err := set.AddKey(k.public); err != nil {
			return fmt.Errorf("authtest: building JWKS: %w", err)
		}
	}
	doc, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("authtest: encoding JWKS: %w", err)
	}
	i.jwks = doc
	return nil
}

func generateKey(alg string) (*signingKey, error) {
	var raw any
	var err error
	var sigAlg jwa.SignatureAlgorithm
	switch alg {
	case RS256:
		sigAlg = jwa.RS256()
		raw, err = rsa.GenerateKey(rand.Reader, 2048)
	case ES256:
		sigAlg = jwa.ES256()
		raw, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		sigAlg = jwa.EdDSA()
		_, raw, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("authtest: unsupported algorithm %q (use RS256, ES256 or EdDSA)", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("authtest: generating %s key: %w", alg, err)
	}
	private, err := jwk.Import(raw)
	if err != nil {
		return nil, fmt.Errorf("authtest: importing %s key: %w", alg, err)
	}
	if err := jwk.AssignKeyID(private); err != nil {
		return nil, fmt.Errorf("authtest: assigning kid: %w", err)
	}
	for name, v := range map[string]any{jwk.AlgorithmKey: sigAlg, jwk.KeyUsageKey: "sig"} {
		if err := private.Set(name, v); err != nil {
			return nil, fmt.Errorf("authtest: setting %s: %w", name, err)
		}
	}
	public, err := private.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("authtest: deriving public key: %w", err)
	}
	kid, _ := private.KeyID()
	return &signingKey{kid: kid, alg: sigAlg, private: private, public: public}, nil
}

func sign(key *signingKey, typ string, claims map[string]any) (string, error) {
	encoded := maps.Clone(claims)
	for name, v := range encoded {
		if t, ok := v.(time.Time); ok {
			encoded[name] = t.Unix()
		}
	}
	payload, err := json.Marshal(encoded)
	if err != nil {
		return "", fmt.Errorf("authtest: encoding claims: %w", err)
	}
	hdr := jws.NewHeaders()
	fields := map[string]any{jws.KeyIDKey: key.kid}
	if typ != "" {
		fields[jws.TypeKey] = typ
	}
	for name, v := range fields {
		if err := hdr.Set(name, v); err != nil {
			return "", fmt.Errorf("authtest: setting header %s: %w", name, err)
		}
	}
	token, err := jws.Sign(payload, jws.WithKey(key.alg, key.private, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("authtest: signing: %w", err)
	}
	return string(token), nil
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
