package covenrooms

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// mapClaims is a claim set as JSON decoding with numbers kept exact yields it.
type mapClaims map[string]any

func (m mapClaims) Get(name string) (any, bool) { v, ok := m[name]; return v, ok }
func (m mapClaims) String(name string) (string, bool) {
	switch v := m[name].(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	}
	return "", false
}
func (m mapClaims) subject() string { s, _ := m["sub"].(string); return s }

func TestCallerFromClaims(t *testing.T) {
	cases := []struct {
		name      string
		h         Handler
		claims    mapClaims
		discordID string
		admin     bool
	}{
		{"defaults", Handler{}, mapClaims{"sub": "alice", "discord_id": "1300000000000000001", "admin": true}, "1300000000000000001", true},
		{"a numeric id keeps every digit", Handler{}, mapClaims{"sub": "a", "discord_id": json.Number("1300000000000000001")}, "1300000000000000001", false},
		{"not a snowflake", Handler{}, mapClaims{"sub": "a", "discord_id": "alice#1234"}, "", false},
		{"admin false", Handler{}, mapClaims{"sub": "a", "admin": false}, "", false},
		{"admin as a string", Handler{}, mapClaims{"sub": "a", "admin": "true"}, "", true},
		{"the subject is the Discord id", Handler{UserIDClaim: "sub"}, mapClaims{"sub": "1300000000000000002"}, "1300000000000000002", false},
		{"admin by role", Handler{AdminClaim: "roles", AdminValue: "coven-admin"}, mapClaims{"sub": "a", "roles": []any{"player", "coven-admin"}}, "", true},
		{"another role", Handler{AdminClaim: "roles", AdminValue: "coven-admin"}, mapClaims{"sub": "a", "roles": []any{"player"}}, "", false},
		{"an object never matches", Handler{AdminClaim: "roles", AdminValue: "coven-admin"}, mapClaims{"sub": "a", "roles": map[string]any{"coven-admin": true}}, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.h
			if h.UserIDClaim == "" {
				h.UserIDClaim = DefaultUserIDClaim
			}
			if h.AdminClaim == "" {
				h.AdminClaim, h.AdminValue = DefaultAdminClaim, DefaultAdminValue
			}
			c := h.caller(tc.claims, tc.claims.subject())
			if c.DiscordID != tc.discordID || c.Admin != tc.admin || c.Subject != tc.claims.subject() {
				t.Fatalf("caller %+v, want discord id %q admin %v", c, tc.discordID, tc.admin)
			}
		})
	}
}

func TestCaddyfile(t *testing.T) {
	cases := []struct {
		name, input string
		want        Handler
		err         string
	}{
		{"bare", "coven_rooms", Handler{}, ""},
		{"every option", `coven_rooms {
			base_path /v1/rooms
			user_id_claim sub
			admin_claim roles coven-admin
			max_body 8KiB
			request_timeout 5s
			max_owned_rooms 2
			max_creations 10
			creation_window 2m
			idempotency_ttl 1h
			idempotency_keys 500
		}`, Handler{BasePath: "/v1/rooms", UserIDClaim: "sub", AdminClaim: "roles", AdminValue: "coven-admin", MaxBody: 8192,
			RequestTimeout: 5e9, MaxOwnedRooms: 2, MaxCreations: 10, CreationWindow: 120e9, IdempotencyTTL: 3600e9, IdempotencyKeys: 500}, ""},
		{"an argument", "coven_rooms /x", Handler{}, "wrong argument count"},
		{"unknown option", "coven_rooms {\n bitrate 1\n}", Handler{}, `unknown option "bitrate"`},
		{"negative count", "coven_rooms {\n max_owned_rooms -1\n}", Handler{}, "not a non-negative whole number"},
		{"bad duration", "coven_rooms {\n request_timeout soon\n}", Handler{}, "not a duration"},
		{"admin claim without name", "coven_rooms {\n admin_claim\n}", Handler{}, "admin_claim"},
		{"voice bots", "coven_rooms {\n voice_bots 1300000000000000901 1300000000000000902\n voice_bots 1300000000000000903\n}",
			Handler{VoiceBots: []string{"1300000000000000901", "1300000000000000902", "1300000000000000903"}}, ""},
		{"voice bots without ids", "coven_rooms {\n voice_bots\n}", Handler{}, "voice_bots takes the voice bots' user ids"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.BasePath != tc.want.BasePath || h.UserIDClaim != tc.want.UserIDClaim || h.AdminClaim != tc.want.AdminClaim ||
				h.AdminValue != tc.want.AdminValue || h.MaxBody != tc.want.MaxBody || h.RequestTimeout != tc.want.RequestTimeout ||
				h.MaxOwnedRooms != tc.want.MaxOwnedRooms || h.MaxCreations != tc.want.MaxCreations ||
				h.CreationWindow != tc.want.CreationWindow || h.IdempotencyTTL != tc.want.IdempotencyTTL || h.IdempotencyKeys != tc.want.IdempotencyKeys ||
				!slices.Equal(h.VoiceBots, tc.want.VoiceBots) {
				t.Fatalf("got %+v, want %+v", h, tc.want)
			}
		})
	}
	var h Handler
	h.MaxOwnedRooms = -1
	if h.Validate() == nil {
		t.Fatal("a negative limit validated")
	}
}
