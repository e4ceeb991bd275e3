package sandbox

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/spellcoven/gateway/auth/authtest"
)

// DemoUser is a user the sandbox's identity provider signs tokens for. DiscordID links the player to
// an emulated Discord user of the same name.
type DemoUser struct {
	Subject     string `json:"sub"`
	Name        string `json:"name"`
	DiscordID   string `json:"discord_id"`
	Admin       bool   `json:"admin,omitempty"`
	AvatarColor string `json:"avatar_color"`
}

// DemoUsers are the players of the sandbox.
var DemoUsers = []DemoUser{
	{Subject: "alice", Name: "Alice", DiscordID: "1300000000000000001", Admin: true, AvatarColor: "#b5446e"},
	{Subject: "bob", Name: "Bob", DiscordID: "1300000000000000002", AvatarColor: "#3d6cb9"},
	{Subject: "carol", Name: "Carol", DiscordID: "1300000000000000003", AvatarColor: "#4f8a3c"},
}

// idp is the sandbox's identity provider: the JWKS, plus a token endpoint that signs a short-lived
// token for any demo user without a password. It is for local development only.
type idp struct {
	issuer   *authtest.Issuer
	audience string
	ttl      time.Duration
}

// ServeHTTP serves the JWKS, GET /users (the demo users) and POST /token?user=<sub>.
func (p *idp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case authtest.JWKSPath:
		p.issuer.ServeHTTP(w, r)
	case "/users":
		writeJSON(w, http.StatusOK, DemoUsers)
	case "/token":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeJSON(w, http.StatusMethodNotAllowed, errorBody("method_not_allowed", "use POST"))
			return
		}
		sub := r.URL.Query().Get("user")
		for _, u := range DemoUsers {
			if u.Subject != sub {
				continue
			}
			tok, err := p.issuer.MintFor(u.Subject, p.audience, p.ttl, map[string]any{
				"name": u.Name, "discord_id": u.DiscordID, "admin": u.Admin,
			})
			if err != nil {
				writeJSON(w, http.StatusInternalServerError, errorBody("internal", "signing failed"))
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{
				"token": tok, "expires_in": int(p.ttl.Seconds()), "user": u,
			})
			return
		}
		writeJSON(w, http.StatusNotFound, errorBody("unknown_user", "no demo user "+sub))
	default:
		writeJSON(w, http.StatusNotFound, errorBody("not_found", "no such endpoint"))
	}
}

func errorBody(code, msg string) map[string]any {
	return map[string]any{"error": map[string]string{"code": code, "message": msg}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
