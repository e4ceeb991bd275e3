// Package claims reads who a caller is from the claims coven_jwt verified: their Discord user id
// and whether they are an administrator, as coven_rooms and coven_media configure it.
package claims

import (
	"encoding/json"
	"strconv"

	"github.com/spellcoven/gateway/event"
)

// Defaults of the claims that identify callers.
const (
	DefaultUserIDClaim = "discord_id"
	DefaultAdminClaim  = "admin"
	DefaultAdminValue  = "true"
)

// Source is what is read of verified claims; *auth.Claims provides it.
type Source interface {
	String(name string) (string, bool)
	Get(name string) (any, bool)
}

// DiscordID returns the caller's Discord user id from claim name, "" when it is absent or not
// a snowflake.
func DiscordID(c Source, name string) string {
	if id, ok := c.String(name); ok && event.ValidSnowflake(id) {
		return id
	}
	return ""
}

// Holds reports whether claim name equals want: a string or number with that text, a boolean
// (want "true" or "false"), or an array holding such a value (e.g. "roles": ["coven-admin"]).
func Holds(c Source, name, want string) bool {
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
