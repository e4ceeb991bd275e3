package auth

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Defaults applied by New to the zero-valued fields of Config.
const (
	DefaultLeeway             = 30 * time.Second
	DefaultFetchTimeout       = 5 * time.Second
	DefaultRefreshInterval    = 15 * time.Minute
	DefaultMinRefreshInterval = time.Minute
	DefaultUnknownKIDCooldown = 30 * time.Second
	DefaultRetryBackoffMin    = time.Second
	DefaultRetryBackoffMax    = 30 * time.Second
	DefaultMaxJWKSBytes       = 1 << 20
	DefaultMaxJWKSKeys        = 100
	DefaultMaxTokenBytes      = 16 << 10
	DefaultCacheSize          = 10000
)

// DefaultAlgorithms is the allowlist used when Config.Algorithms is empty: the asymmetric algorithms
// identity providers actually issue (RS256 is the OpenID Connect default; ES256 and EdDSA are the common
// elliptic-curve choices).
var DefaultAlgorithms = []string{"RS256", "ES256", "EdDSA"}

// Config configures a Verifier. The zero value of every optional field selects its documented default.
type Config struct {
	// JWKSURL is the http or https URL of the identity provider's JSON Web Key Set. Required.
	JWKSURL string
	// Issuer is the exact value the token's iss claim must have. Required.
	Issuer string
	// Audiences lists the accepted audiences: the token's aud must contain at least one. At least one is
	// required.
	Audiences []string
	// Algorithms is the allowlist of JWS algorithms, from RS256, RS384, RS512, PS256, PS384, PS512,
	// ES256, ES384, ES512, EdDSA and Ed25519. Default DefaultAlgorithms. "none" and the HMAC algorithms
	// are refused: a JWKS publishes public keys, and accepting HS256 with one is the key-confusion attack.
	Algorithms []string
	// Leeway tolerates clock skew between this host and the identity provider when checking exp, nbf
	// and iat. Default 30s.
	Leeway time.Duration
	// FetchTimeout bounds one JWKS request, connection and body included. Default 5s.
	FetchTimeout time.Duration
	// RefreshInterval is the longest time between two JWKS fetches while the identity provider is
	// healthy. A shorter Cache-Control max-age on the JWKS response is honoured, down to
	// MinRefreshInterval. Default 15m.
	RefreshInterval time.Duration
	// MinRefreshInterval is the floor applied to a Cache-Control max-age, so an identity provider that
	// sends max-age=0 is not polled in a loop. Default 1m.
	MinRefreshInterval time.Duration
	// UnknownKIDCooldown is the minimum time between two JWKS re-fetches caused by tokens whose kid is
	// unknown, so a flood of tokens with invented kids cannot turn into a flood of fetches. Default 30s.
	UnknownKIDCooldown time.Duration
	// RetryBackoffMin is the wait after the first failed fetch; each further consecutive failure doubles
	// it, up to RetryBackoffMax. Waits are jittered down to half their value so that many edge instances
	// do not retry in lockstep. Defaults 1s and 30s.
	RetryBackoffMin time.Duration
	// RetryBackoffMax caps the wait between retries of a failing fetch. Default 30s.
	RetryBackoffMax time.Duration
	// MaxJWKSBytes caps the size of a JWKS response body; a larger one fails the fetch. Default 1 MiB.
	MaxJWKSBytes int64
	// MaxJWKSKeys caps the number of keys in a JWKS; a set with more fails the fetch. Default 100.
	MaxJWKSKeys int
	// MaxTokenBytes caps the length of a token given to Verify; a longer one is rejected as malformed
	// before any decoding. Default 16 KiB.
	MaxTokenBytes int
	// Types, when set, lists the accepted values of the token header's typ (RFC 8725 section 3.11:
	// an identity provider that types its access tokens, e.g. "at+jwt" per RFC 9068, keeps its other
	// JWTs from being replayed as them). They compare case-insensitively, an "application/" prefix
	// ignored; a token without typ is refused. Default: any typ, or none.
	Types []string
	// MaxLifetime, when set, refuses tokens valid for longer: exp minus iat (or minus the present
	// when the token has no iat). Default 0: no bound.
	MaxLifetime time.Duration
	// CacheSize is the number of verified tokens whose claims are remembered, so that a token
	// presented again is not verified again (until the key set changes; exp and nbf are checked on
	// every use). Default 10000: an entry holds the token's claims, so about 10 MiB with 1 KiB tokens.
	CacheSize int
	// Logger receives a warning when a JWKS fetch fails (the first of a run of failures, then at most
	// once a minute) and an info line when fetching recovers. Default: no logs.
	Logger *zap.Logger
	// HTTPClient fetches the JWKS. Default: a client using http.DefaultTransport. Its own Timeout, if
	// any, applies in addition to FetchTimeout.
	HTTPClient *http.Client
}

// withDefaults returns a copy of c with defaults filled in; slices are copied so later changes by the
// caller do not reach the Verifier.
func (c Config) withDefaults() Config {
	c.Audiences = slices.Clone(c.Audiences)
	c.Types = slices.Clone(c.Types)
	if len(c.Algorithms) == 0 {
		c.Algorithms = DefaultAlgorithms
	}
	c.Algorithms = slices.Clone(c.Algorithms)
	setDefault(&c.Leeway, DefaultLeeway)
	setDefault(&c.FetchTimeout, DefaultFetchTimeout)
	setDefault(&c.RefreshInterval, DefaultRefreshInterval)
	setDefault(&c.MinRefreshInterval, DefaultMinRefreshInterval)
	setDefault(&c.UnknownKIDCooldown, DefaultUnknownKIDCooldown)
	setDefault(&c.RetryBackoffMin, DefaultRetryBackoffMin)
	setDefault(&c.RetryBackoffMax, DefaultRetryBackoffMax)
	setDefault(&c.MaxJWKSBytes, DefaultMaxJWKSBytes)
	setDefault(&c.MaxJWKSKeys, DefaultMaxJWKSKeys)
	setDefault(&c.MaxTokenBytes, DefaultMaxTokenBytes)
	setDefault(&c.CacheSize, DefaultCacheSize)
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

func setDefault[T comparable](field *T, value T) {
	var zero T
	if *field == zero {
		*field = value
	}
}

// validate reports every problem with a defaulted config at once.
func (c Config) validate() error {
	var errs []error
	if c.JWKSURL == "" {
		errs = append(errs, errors.New("jwks_url is required"))
	} else if u, err := url.Parse(c.JWKSURL); err != nil {
		errs = append(errs, errors.New("jwks_url is not a valid URL"))
	} else if u.Scheme != "http" && u.Scheme != "https" {
		errs = append(errs, fmt.Errorf("jwks_url must use http or https, not %q", u.Scheme))
	} else if u.Host == "" {
		errs = append(errs, errors.New("jwks_url has no host"))
	}
	if c.Issuer == "" {
		errs = append(errs, errors.New("issuer is required"))
	}
	if len(c.Audiences) == 0 {
		errs = append(errs, errors.New("at least one audience is required"))
	}
	if slices.Contains(c.Audiences, "") {
		errs = append(errs, errors.New("audiences must not be empty strings"))
	}
	for _, name := range c.Algorithms {
		if _, ok := supportedAlgorithms[name]; !ok {
			errs = append(errs, algorithmError(name))
		}
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{
		{"leeway", c.Leeway},
		{"fetch_timeout", c.FetchTimeout},
		{"refresh_interval", c.RefreshInterval},
		{"min_refresh_interval", c.MinRefreshInterval},
		{"unknown_kid_cooldown", c.UnknownKIDCooldown},
		{"retry_backoff_min", c.RetryBackoffMin},
		{"retry_backoff_max", c.RetryBackoffMax},
		{"max_lifetime", c.MaxLifetime},
	} {
		if d.value < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative", d.name))
		}
	}
	if c.MinRefreshInterval > c.RefreshInterval {
		errs = append(errs, errors.New("min_refresh_interval must not exceed refresh_interval"))
	}
	if c.RetryBackoffMin > c.RetryBackoffMax {
		errs = append(errs, errors.New("retry_backoff_min must not exceed retry_backoff_max"))
	}
	if c.MaxJWKSBytes < 0 {
		errs = append(errs, errors.New("max_jwks_bytes must not be negative"))
	}
	if c.MaxJWKSKeys < 0 {
		errs = append(errs, errors.New("max_jwks_keys must not be negative"))
	}
	if c.MaxTokenBytes < 0 {
		errs = append(errs, errors.New("max_token_bytes must not be negative"))
	}
	if c.CacheSize < 0 {
		errs = append(errs, errors.New("cache_size must not be negative"))
	}
	if slices.Contains(c.Types, "") {
		errs = append(errs, errors.New("types must not be empty strings"))
	}
	return errors.Join(errs...)
}

// algorithmError explains why an algorithm cannot be allowed.
func algorithmError(name string) error {
	switch {
	case strings.EqualFold(name, "none"):
		return errors.New(`algorithm "none" is never allowed: it means an unsigned token`)
	case strings.HasPrefix(strings.ToUpper(name), "HS"):
		return fmt.Errorf("algorithm %q is not allowed: HMAC needs a shared secret, and a JWKS publishes public keys", name)
	default:
		return fmt.Errorf("algorithm %q is not supported (supported: %s)", name, strings.Join(supportedAlgorithmNames(), ", "))
	}
}
