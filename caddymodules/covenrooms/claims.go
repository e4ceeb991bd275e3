package covenrooms

import (
	"encoding/json"
	"strconv"

	"github.com/spellcoven/gateway/auth"
)

// claimSource is what caller reads of verified claims; *auth.Claims provides it.
type claimSource interface {
	String(name string) (string, bool)
	Get(name string) (any, bool)
	subject() string
}

// verifiedClaims adapts *auth.Claims.
type verifiedClaims struct{ *auth.Claims }

func (c verifiedClaims) subject() string { return c.Subject }

// claimHolds reports whether claim name equals want: a string or number with that text, a boolean
// (want "true" or "false"), or an array holding such a value (e.g. "roles": ["coven-admin"]).
func claimHolds(c claimSource, name, want string) bool {
	v, ok := c.Get(name)
	if !ok {
		return false
	}
	if list, ok := v.([]any); ok {
		for _, item := range list {
			if scalarText(item) == want {
				return true
			}
		}
		return false
	}
	return scalarText(v) == want
}

// scalarText renders a scalar claim as text, "\x00" for anything else (which matches no value).
func scalarText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	default:
		return "\x00"
	}
}
