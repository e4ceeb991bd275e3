package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"time"

	"github.com/lestrrat-go/httpcc"
)

// fetchResult is the outcome of one successful JWKS fetch.
type fetchResult struct {
	keys *keySet
	// maxAge is the response's Cache-Control max-age, or -1 when it sent none.
	maxAge time.Duration
}

// fetchKeySet makes one bounded request for the JWKS and parses it. Errors name the JWKS by its
// redacted URL and never include the response body.
func (v *Verifier) fetchKeySet(ctx context.Context) (fetchResult, error) {
	ctx, cancel := context.WithTimeout(ctx, v.cfg.FetchTimeout)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
	if err != nil {
		return fetchResult{}, fmt.Errorf("fetching JWKS from %s: %w", v.jwksName, err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		// *url.Error repeats the full URL, query string included; the cause alone is enough.
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return fetchResult{}, fmt.Errorf("fetching JWKS from %s: %w", v.jwksName, err)
	}
	defer resp.Body.Close()

	if resp.StatusCode != http.StatusOK {
		// Drain a little so the connection can be reused, but never read an unbounded error page.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return fetchResult{}, fmt.Errorf("fetching JWKS from %s: unexpected status %s", v.jwksName, resp.Status)
	}
	limit := v.cfg.MaxJWKSBytes
	if resp.ContentLength > limit {
		return fetchResult{}, fmt.Errorf("fetching JWKS from %s: body of %d bytes exceeds the limit of %d", v.jwksName, resp.ContentLength, limit)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fetchResult{}, fmt.Errorf("fetching JWKS from %s: reading body: %w", v.jwksName, err)
	}
	if int64(len(body)) > limit {
		return fetchResult{}, fmt.Errorf("fetching JWKS from %s: body exceeds the limit of %d bytes", v.jwksName, limit)
	}
	keys, err := parseKeySet(body, v.cfg.MaxJWKSKeys)
	if err != nil {
		return fetchResult{}, fmt.Errorf("fetching JWKS from %s: %w", v.jwksName, err)
	}
	return fetchResult{keys: keys, maxAge: maxAge(resp.Header)}, nil
}

// maxAge returns the Cache-Control max-age of a response, or -1 when absent or unparsable.
func maxAge(h http.Header) time.Duration {
	cc := h.Get("Cache-Control")
	if cc == "" {
		return -1
	}
	dir, err := httpcc.ParseResponse(cc)
	if err != nil {
		return -1
	}
	secs, ok := dir.MaxAge()
	if !ok {
		return -1
	}
	const maxSeconds = uint64(math.MaxInt64 / int64(time.Second))
	return time.Duration(min(secs, maxSeconds)) * time.Second
}

// redactedURL names the JWKS in messages without credentials or query string, which may carry keys.
func redactedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid URL>"
	}
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}
