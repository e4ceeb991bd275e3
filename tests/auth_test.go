package tests

import (
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"github.com/spellcoven/gateway/auth/authtest"
	"github.com/spellcoven/gateway/internal/edgetest"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// forgeToken builds a compact JWS by hand, for attacks a correct library refuses to produce.
func forgeToken(t *testing.T, header, claims map[string]any, sign func(input []byte) []byte) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(header) + "." + enc(claims)
	var sig []byte
	if sign != nil {
		sig = sign([]byte(input))
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// rsaPublicKeyPEM returns the PEM of the identity provider's RSA public key, as published in its JWKS.
func rsaPublicKeyPEM(t *testing.T, s *stack) []byte {
	t.Helper()
	var set struct {
		Keys []struct{ Kid, Kty, N, E string }
	}
	if err := json.Unmarshal(s.idp.JWKS(), &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("JWKS: %v", err)
	}
	k := set.Keys[0]
	n, _ := base64.RawURLEncoding.DecodeString(k.N)
	e, _ := base64.RawURLEncoding.DecodeString(k.E)
	pub := &rsa.PublicKey{E: 0}
	pub.N = new(big.Int).SetBytes(n)
	for _, b := range e {
		pub.E = pub.E<<8 | int(b)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestBadTokensAreRejected(t *testing.T) {
	s := newStack(t, nil)
	b := &edgetest.Batches{Epoch: "ep1"}
	s.seed(t, b)
	now := time.Now()
	mint := func(claims map[string]any) string {
		tok, err := s.idp.Mint(claims)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	base := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"iss": s.idp.URL(), "aud": edgetest.Audience, "sub": "mallory", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
		mod(c)
		return c
	}
	kid := s.idp.SigningKeyID()
	cases := []struct {
		name   string
		token  string
		reason string
		close  websocket.StatusCode
	}{
		{"expired", mint(base(func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() })), "expired", 4003},
		{"not yet valid", mint(base(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() })), "not_yet_valid", 4001},
		{"wrong audience", mint(base(func(c map[string]any) { c["aud"] = "another-app" })), "bad_audience", 4001},
		{"wrong issuer", mint(base(func(c map[string]any) { c["iss"] = "https://evil.example" })), "bad_issuer", 4001},
		{"no exp", mint(base(func(c map[string]any) { delete(c, "exp") })), "missing_claim", 4001},
		{"alg none", forgeToken(t, map[string]any{"alg": "none", "typ": "JWT", "kid": kid}, base(func(map[string]any) {}), nil), "alg_not_allowed", 4001},
		{"HS256 signed with the RSA public key", forgeToken(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}, base(func(map[string]any) {}), func(in []byte) []byte {
			m := hmac.New(sha256.New, rsaPublicKeyPEM(t, s))
			m.Write(in)
			return m.Sum(nil)
		}), "alg_not_allowed", 4001},
		{"unknown kid", forgeToken(t, map[string]any{"alg": "RS256", "typ": "JWT", "kid": "no-such-key"}, base(func(map[string]any) {}), func([]byte) []byte { return make([]byte, 256) }), "unknown_kid", 4001},
		{"tampered payload", func() string {
			parts := strings.Split(mint(base(func(map[string]any) {})), ".")
			claims := base(func(c map[string]any) { c["sub"] = "admin" })
			b, _ := json.Marshal(claims)
			parts[1] = base64.RawURLEncoding.EncodeToString(b)
			return strings.Join(parts, ".")
		}(), "bad_signature", 4001},
		{"garbage", "not.a.token", "malformed", 4001},
	}
	t.Run("no token over HTTP", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, s.edge.URL("/api/me"), nil)
		if status, body := edgetest.Do(t, req); status != http.StatusUnauthorized || !strings.Contains(string(body), `"reason":"missing"`) {
			t.Fatalf("got %d %s, want 401 with reason missing", status, body)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name+" over HTTP", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, s.edge.URL("/api/me"), nil)
			req.Header.Set("Authorization", "Bearer "+tc.token)
			status, body := edgetest.Do(t, req)
			if status != http.StatusUnauthorized || !strings.Contains(string(body), `"code":"unauthorized","reason":"`+tc.reason+`"`) {
				t.Fatalf("got %d %s, want 401 unauthorized with reason %s", status, body, tc.reason)
			}
		})
		t.Run(tc.name+" over WebSocket", func(t *testing.T) {
			c, _, err := edgetest.Dial(t, s.edge, edgetest.DialOptions{Origin: edgetest.Origin})
			if err != nil {
				t.Fatal(err)
			}
			c.Auth(tc.token, nil)
			f := c.Next(5 * time.Second)
			if f.Type != "error" || f.Code != "unauthorized" || !strings.Contains(f.Message, tc.reason) {
				t.Fatalf("got %s, want an unauthorized error naming %s", f.Raw, tc.reason)
			}
			if code := c.CloseStatus(5 * time.Second); code != tc.close {
				t.Fatalf("closed with %d, want %d", code, tc.close)
			}
		})
	}
	// The valid token still works, over both.
	req, _ := http.NewRequest(http.MethodGet, s.edge.URL("/api/me"), nil)
	req.Header.Set("Authorization", "Bearer "+s.token(t, "alice", time.Minute))
	if status, body := edgetest.Do(t, req); status != 200 || string(body) != "hello alice" {
		t.Fatalf("valid token: %d %s", status, body)
	}
	metrics := get(t, s.edge.URL("/metrics"))
	for _, want := range []string{`coven_auth_failures_total{reason="expired",source="ws"} 1`, `coven_auth_failures_total{reason="alg_not_allowed",source="http"} 2`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestJWKSKeyRotation(t *testing.T) {
	s := newStack(t, nil)
	s.seed(t, &edgetest.Batches{Epoch: "ep1"})
	s.connect(t, "before-rotation", nil)
	before := s.idp.JWKSRequests()
	if _, err := s.idp.Rotate(); err != nil {
		t.Fatal(err)
	}
	// A token signed with the new key triggers one re-fetch, then verifies.
	s.connect(t, "after-rotation", nil)
	for i := 0; i < 5; i++ {
		s.connect(t, "again", nil)
	}
	if got := s.idp.JWKSRequests() - before; got != 1 {
		t.Fatalf("JWKS fetched %d times after rotation, want 1", got)
	}
}

func TestWebSocketProtocolLimits(t *testing.T) {
	// Long enough that a client of these tests, however starved, sends its auth message in time.
	s := newStack(t, func(c *edgetest.Config) { c.WS = "auth_timeout 3s\nread_limit 1KiB" })
	s.seed(t, &edgetest.Batches{Epoch: "ep1"})

	t.Run("cross-origin upgrade is refused", func(t *testing.T) {
		_, resp, err := edgetest.Dial(t, s.edge, edgetest.DialOptions{Origin: "https://evil.example"})
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("got %v %v, want 403", resp, err)
		}
	})
	t.Run("no auth in time closes 4002", func(t *testing.T) {
		c, _, err := edgetest.Dial(t, s.edge, edgetest.DialOptions{Origin: edgetest.Origin})
		if err != nil {
			t.Fatal(err)
		}
		f := c.Next(5 * time.Second)
		if f.Type != "error" || f.Code != "auth_timeout" {
			t.Fatalf("got %s", f.Raw)
		}
		if code := c.CloseStatus(5 * time.Second); code != 4002 {
			t.Fatalf("closed with %d, want 4002", code)
		}
	})
	t.Run("oversized frame closes 1009", func(t *testing.T) {
		c, _ := s.connect(t, "alice", nil)
		c.Send(map[string]string{"type": "ping", "pad": strings.Repeat("x", 2048)})
		if code := c.CloseStatus(5 * time.Second); code != websocket.StatusMessageTooBig {
			t.Fatalf("closed with %d, want 1009", code)
		}
	})
	t.Run("ping is answered with pong", func(t *testing.T) {
		c, _ := s.connect(t, "alice", nil)
		c.Send(map[string]string{"type": "ping"})
		if f := c.Next(5 * time.Second); f.Type != "pong" {
			t.Fatalf("got %s", f.Raw)
		}
	})
	t.Run("unknown message closes with an error", func(t *testing.T) {
		c, _ := s.connect(t, "alice", nil)
		c.Send(map[string]string{"type": "subscribe"})
		if f := c.Next(5 * time.Second); f.Type != "error" || f.Code != "bad_message" {
			t.Fatalf("got %s", f.Raw)
		}
		if code := c.CloseStatus(5 * time.Second); code != websocket.StatusPolicyViolation {
			t.Fatalf("closed with %d, want 1008", code)
		}
	})
	t.Run("bearer header authenticates the upgrade", func(t *testing.T) {
		c, _, err := edgetest.Dial(t, s.edge, edgetest.DialOptions{Header: http.Header{"Authorization": {"Bearer " + s.token(t, "bot", time.Hour)}}})
		if err != nil {
			t.Fatal(err)
		}
		c.Auth("", nil)
		c.Hello()
		_, resp, err := edgetest.Dial(t, s.edge, edgetest.DialOptions{Header: http.Header{"Authorization": {"Bearer nope"}}})
		if err == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("bad bearer upgrade: %v %v", resp, err)
		}
	})
}

func TestTokenExpiryClosesUnlessReauthenticated(t *testing.T) {
	s := newStack(t, nil)
	b := &edgetest.Batches{Epoch: "ep1"}
	s.seed(t, b)
	short := func(sub string) *edgetest.Client {
		c, _, err := edgetest.Dial(t, s.edge, edgetest.DialOptions{Origin: edgetest.Origin})
		if err != nil {
			t.Fatal(err)
		}
		// exp is in whole seconds: a token of 4s expires 3 to 4 seconds from now.
		c.Auth(s.token(t, sub, 4*time.Second), nil)
		c.Hello()
		return c
	}
	stays := short("alice")
	stays.Auth(s.token(t, "alice", time.Hour), nil)
	expires := short("bob")
	f := expires.Next(10 * time.Second)
	if f.Type != "error" || f.Code != "token_expired" {
		t.Fatalf("got %s", f.Raw)
	}
	if code := expires.CloseStatus(5 * time.Second); code != 4003 {
		t.Fatalf("closed with %d, want 4003", code)
	}
	s.edge.Post(edgetest.EncodeBatch(t, "ep1", joinEvent(t, b, 1)))
	stays.ExpectEvents(2, 1, 5*time.Second)

	// Re-authenticating as someone else is refused.
	stays.Auth(s.token(t, "mallory", time.Hour), nil)
	if f := stays.Next(5 * time.Second); f.Type != "error" || f.Code != "unauthorized" {
		t.Fatalf("got %s", f.Raw)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 32*1024)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return sb.String()
}

func TestIdentityProviderDownAtStart(t *testing.T) {
	// The edge starts while nothing listens at the JWKS URL; users are refused with a clear,
	// retryable answer, and sign-in works within seconds of the identity provider coming up, not at
	// the next refresh interval.
	port := edgetest.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	idp, err := authtest.NewIssuer(base)
	if err != nil {
		t.Fatal(err)
	}
	e := edgetest.Start(t, edgetest.Config{Bin: caddyBin, JWKSURL: base + authtest.JWKSPath, Issuer: base})
	tok, err := idp.MintFor("alice", edgetest.Audience, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	me := func() (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, e.URL("/api/me"), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		return edgetest.Do(t, req)
	}
	if status, body := me(); status != http.StatusServiceUnavailable || !strings.Contains(string(body), "auth_unavailable") {
		t.Fatalf("with the identity provider down: %d %s", status, body)
	}
	// The admin sees why: a warning in the log, and the metrics.
	if logs := e.Logs.String(); !strings.Contains(logs, `"msg":"JWKS fetch failed"`) || !strings.Contains(logs, `"level":"warn"`) {
		t.Fatalf("no warning about the failing JWKS in the log:\n%s", logs)
	}
	if m := get(t, e.URL("/metrics")); !strings.Contains(m, "coven_jwks_keys 0") || strings.Contains(m, "coven_jwks_fetch_failures_total 0") ||
		!strings.Contains(m, "coven_jwks_age_seconds NaN") ||
		!strings.Contains(m, `coven_ws_rejected_total{reason="max_per_subject"} 0`) || !strings.Contains(m, `coven_ws_dropped_total{reason="ping_timeout"} 0`) {
		t.Fatalf("JWKS metrics while it fails, and counters at zero:\n%s", grepLines(m, "coven_"))
	}
	srv, err := idp.Start(fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	deadline := time.Now().Add(45 * time.Second)
	for {
		status, body := me()
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sign-in still failing 45s after the identity provider came up: %d %s", status, body)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if logs := e.Logs.String(); !strings.Contains(logs, `"msg":"JWKS fetch recovered"`) {
		t.Fatalf("no line about the JWKS recovering in the log:\n%s", logs)
	}
	if m := get(t, e.URL("/metrics")); !strings.Contains(m, "coven_jwks_keys 1") {
		t.Fatalf("JWKS metrics after recovery:\n%s", grepLines(m, "coven_jwks_"))
	}
}

// grepLines returns the lines of text that contain substr.
func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestStreamsThatStopAnsweringEnd: a client over read_limit after its hello, and one that stops
// answering WebSocket pings (a phone that lost its network), are gone from the edge: closed, no longer
// counted in coven_ws_connections, counted in coven_ws_dropped_total.
func TestStreamsThatStopAnsweringEnd(t *testing.T) {
	s := newStack(t, func(c *edgetest.Config) { c.WS = "read_limit 1KiB\nping_interval 200ms\nping_timeout 300ms" })
	s.seed(t, &edgetest.Batches{Epoch: "ep1"})
	waitMetrics := func(t *testing.T, want ...string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			m := get(t, s.edge.URL("/metrics"))
			missing := ""
			for _, w := range want {
				if !strings.Contains(m, w) {
					missing = w
				}
			}
			if missing == "" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("metrics lack %q after 15s", missing)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	t.Run("over read_limit after hello", func(t *testing.T) {
		c, _ := s.connect(t, "alice", nil)
		c.Send(map[string]string{"type": "ping", "pad": strings.Repeat("x", 5*1024)})
		if code := c.CloseStatus(10 * time.Second); code != websocket.StatusMessageTooBig {
			t.Fatalf("closed with %d, want 1009", code)
		}
		waitMetrics(t, "coven_ws_connections 0", `coven_ws_dropped_total{reason="read_limit"} 1`)
	})
	t.Run("no pongs", func(t *testing.T) {
		// coder/websocket answers pings only while it reads: this client reads its hello, then stops.
		c, _, err := websocket.Dial(contextFor(t, 10*time.Second), s.edge.WSURL(), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {edgetest.Origin}}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		if err := c.Write(contextFor(t, 5*time.Second), websocket.MessageText, []byte(`{"type":"auth","token":"`+s.token(t, "bob", time.Hour)+`"}`)); err != nil {
			t.Fatal(err)
		}
		if _, hello, err := c.Read(contextFor(t, 10*time.Second)); err != nil || !strings.Contains(string(hello), `"hello"`) {
			t.Fatalf("hello %q %v", hello, err)
		}
		waitMetrics(t, "coven_ws_connections 0", `coven_ws_dropped_total{reason="ping_timeout"} 1`)
		// Reading now answers nothing: the edge closed the TCP connection.
		if _, _, err := c.Read(contextFor(t, 10*time.Second)); err == nil {
			t.Fatal("the connection is still open")
		}
	})
}
