package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/spellcoven/gateway/auth/authtest"
)

// Audience is the audience of the sandbox's tokens.
const Audience = "spell-coven-sandbox"

// DemoUser is a user the sandbox's identity provider signs tokens for. DiscordID links the player
// to the emulated Discord user of the same name.
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

// idp is the sandbox's identity provider: a JWKS, and a token endpoint that signs a token for any
// demo user without a password. It is for local development only: anyone who reaches it is anyone.
type idp struct {
	issuer   *authtest.Issuer
	audience string
	ttl      time.Duration
	log      *partLog

	mu     sync.Mutex
	issued map[string]int
}

func newIdP(issuer *authtest.Issuer, ttl time.Duration, log *partLog) *idp {
	return &idp{issuer: issuer, audience: Audience, ttl: ttl, log: log, issued: make(map[string]int)}
}

// ServeHTTP serves the JWKS, GET /users (the demo users), POST /token?user=<sub> and POST /rotate
// (a new signing key; the old one stays published so tokens it signed keep working).
func (p *idp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case authtest.JWKSPath:
		p.issuer.ServeHTTP(w, r)
	case "/users":
		if !allowMethod(w, r, http.MethodGet) {
			return
		}
		writeJSON(w, http.StatusOK, DemoUsers)
	case "/token":
		if !allowMethod(w, r, http.MethodPost) {
			return
		}
		p.token(w, r.URL.Query().Get("user"))
	case "/rotate":
		if !allowMethod(w, r, http.MethodPost) {
			return
		}
		kid, err := p.issuer.Rotate()
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, errorBody("internal", "no new key: "+err.Error()))
			return
		}
		p.log.say("rotated the signing key; new key " + kid)
		writeJSON(w, http.StatusOK, map[string]any{"kid": kid, "published": p.issuer.KeyIDs()})
	default:
		writeJSON(w, http.StatusNotFound, errorBody("not_found", "no such endpoint"))
	}
}

func (p *idp) token(w http.ResponseWriter, sub string) {
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
		p.mu.Lock()
		p.issued[sub]++
		n := p.issued[sub]
		p.mu.Unlock()
		// The token itself is never logged.
		if p.log.sink.verbose {
			p.log.say(fmt.Sprintf("token %d for %s, valid %v", n, sub, p.ttl))
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"token": tok, "expires_in": int(p.ttl.Seconds()), "user": u,
		})
		return
	}
	writeJSON(w, http.StatusNotFound, errorBody("unknown_user", fmt.Sprintf("no demo user %q", sub)))
}

// tokensIssued is how many tokens were signed for the demo user.
func (p *idp) tokensIssued(sub string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.issued[sub]
}

func allowMethod(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method {
		return true
	}
	w.Header().Set("Allow", method)
	writeJSON(w, http.StatusMethodNotAllowed, errorBody("method_not_allowed", "use "+method))
	return false
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
