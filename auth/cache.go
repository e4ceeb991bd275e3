package auth

import (
	"crypto/sha256"
	"sync"
)

// tokenCache remembers the claims of tokens whose signature verified, so that a token presented
// again (a client reconnecting, each rooms API call of a page, one token replayed in a loop) costs a
// hash and the claim checks instead of a signature check. Only verified tokens enter it, so filling it
// takes valid tokens. An entry is used only while the key set it was verified against is the current
// one: after a JWKS refresh the token is verified again, so a key withdrawn from the set stops its
// tokens at once. The time claims are checked on every use.
type tokenCache struct {
	max     int
	mu      sync.Mutex
	entries map[[sha256.Size]byte]cachedToken
}

type cachedToken struct {
	claims *Claims
	keys   *keySet // the key set the signature verified against
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, entries: make(map[[sha256.Size]byte]cachedToken)}
}

func tokenKey(token string) [sha256.Size]byte { return sha256.Sum256([]byte(token)) }

// get returns the claims of a token verified against keys.
func (c *tokenCache) get(key [sha256.Size]byte, keys *keySet) (*Claims, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	if e.keys != keys {
		delete(c.entries, key)
		return nil, false
	}
	return e.claims, true
}

// put remembers a verified token. A full cache forgets an arbitrary entry first (Go's map order):
// cheap, and no order of arrivals can pin the entries of others.
func (c *tokenCache) put(key [sha256.Size]byte, claims *Claims, keys *keySet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = cachedToken{claims: claims, keys: keys}
}

// len is the number of tokens remembered.
func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// clear forgets every token.
func (c *tokenCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}
