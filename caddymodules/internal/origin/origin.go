// Package origin matches the Origin header of browser requests against an allowlist, for CORS
// (coven_cors) and for refusing cross-site WebSocket hijacking (coven_ws).
package origin

import (
	"fmt"
	"net/url"
	"strings"
)

// List is a parsed allowlist. Entries are origins ("https://app.example.com", "http://localhost:5173"),
// origins with a leading wildcard label ("https://*.example.com" matches any subdomain, not the apex),
// or "*" for any origin.
type List struct {
	any      bool
	exact    map[string]bool
	suffixes []wildcard
}

type wildcard struct{ scheme, suffix string }

// Parse validates and parses entries.
func Parse(entries []string) (*List, error) {
	l := &List{exact: make(map[string]bool)}
	for _, e := range entries {
		if e == "*" {
			l.any = true
			continue
		}
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, fmt.Errorf("origin %q must be scheme://host[:port], e.g. https://app.example.com", e)
		}
		host := strings.ToLower(u.Host)
		if strings.HasPrefix(host, "*.") {
			if strings.Contains(host[2:], "*") {
				return nil, fmt.Errorf("origin %q: only a leading *. wildcard is supported", e)
			}
			l.suffixes = append(l.suffixes, wildcard{scheme: u.Scheme, suffix: host[1:]})
			continue
		}
		if strings.Contains(host, "*") {
			return nil, fmt.Errorf("origin %q: only a leading *. wildcard is supported", e)
		}
		l.exact[u.Scheme+"://"+host] = true
	}
	return l, nil
}

// Any reports whether the list allows every origin.
func (l *List) Any() bool { return l.any }

// Empty reports whether the list has no entries.
func (l *List) Empty() bool { return !l.any && len(l.exact) == 0 && len(l.suffixes) == 0 }

// Allows reports whether the Origin header value o is allowed.
func (l *List) Allows(o string) bool {
	if l.any {
		return true
	}
	o = strings.ToLower(o)
	if l.exact[o] {
		return true
	}
	scheme, host, ok := strings.Cut(o, "://")
	if !ok {
		return false
	}
	for _, w := range l.suffixes {
		if scheme == w.scheme && strings.HasSuffix(host, w.suffix) && len(host) > len(w.suffix) {
			return true
		}
	}
	return false
}
