package discordtest

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// withRateLimits turns REST rate limits on for a test, with the given route limit.
func withRateLimits(requests int, window time.Duration) func(*Config) {
	return func(c *Config) {
		c.REST.RateLimitsDisabled = false
		c.REST.RouteLimit = RouteLimit{Requests: requests, Window: window}
	}
}

func TestRateLimitHeadersAndRouteBuckets(t *testing.T) {
	s := startEmulator(t, withRateLimits(2, time.Minute))
	g := firstGuild(t, s)
	get := func(path string) (*http.Response, []byte) {
		return apiCall{method: "GET", path: path, auth: botAuth}.do(t, s)
	}
	category := "/api/v10/channels/" + g.RoomsCategoryID

	resp, _ := get(category)
	h := resp.Header
	if h.Get("X-RateLimit-Limit") != "2" || h.Get("X-RateLimit-Remaining") != "1" || h.Get("X-RateLimit-Bucket") == "" {
		t.Fatalf("first answer headers: %v", h)
	}
	resetAfter, err := strconv.ParseFloat(h.Get("X-RateLimit-Reset-After"), 64)
	if err != nil || resetAfter <= 0 || resetAfter > 60 {
		t.Fatalf("X-RateLimit-Reset-After %q", h.Get("X-RateLimit-Reset-After"))
	}
	reset, err := strconv.ParseFloat(h.Get("X-RateLimit-Reset"), 64)
	if now := float64(time.Now().Unix()); err != nil || reset < now || reset > now+61 {
		t.Fatalf("X-RateLimit-Reset %q is not an epoch within the window", h.Get("X-RateLimit-Reset"))
	}
	bucket := h.Get("X-RateLimit-Bucket")

	if resp, _ := get(category); resp.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("second answer: remaining %q", resp.Header.Get("X-RateLimit-Remaining"))
	}
	resp, body := get(category)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third request: %d, want 429", resp.StatusCode)
	}
	limited := decodeJSON[map[string]any](t, body)
	if limited["global"] != false || limited["message"] != "You are being rate limited." {
		t.Fatalf("429 body %s", body)
	}
	if ra, ok := limited["retry_after"].(float64); !ok || ra <= 0 || ra > 60 {
		t.Fatalf("retry_after %v", limited["retry_after"])
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Fatalf("Retry-After %q is not whole seconds", resp.Header.Get("Retry-After"))
	}
	if resp.Header.Get("X-RateLimit-Scope") != "user" || resp.Header.Get("X-RateLimit-Global") != "" {
		t.Fatalf("429 scope headers %v", resp.Header)
	}

	// The channel ID is the route's major parameter: another channel has its own bucket, with the
	// same bucket hash.
	other := s.State().Guilds[0].Channels[1].ID
	resp, _ = get("/api/v10/channels/" + other)
	if resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Bucket") != bucket {
		t.Fatalf("other channel: %d, bucket %q want %q", resp.StatusCode, resp.Header.Get("X-RateLimit-Bucket"), bucket)
	}
	// Another route has another bucket.
	if resp, _ := get("/api/v10/users/@me"); resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Bucket") == bucket {
		t.Fatalf("other route: %d, bucket %q", resp.StatusCode, resp.Header.Get("X-RateLimit-Bucket"))
	}
	if got := s.Stats().RESTStatus[429]; got != 1 || s.InvalidRequests() != 1 {
		t.Fatalf("429 answers %d, invalid requests %d; want 1 and 1", got, s.InvalidRequests())
	}
}

func TestRateLimitBucketRefills(t *testing.T) {
	// Long enough that the second request always falls in the first one's window.
	s := startEmulator(t, withRateLimits(1, 2*time.Second))
	me := apiCall{method: "GET", path: "/api/v10/users/@me", auth: botAuth}
	if resp, _ := me.do(t, s); resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	resp, body := me.do(t, s)
	if resp.StatusCode != 429 {
		t.Fatalf("second request: %d", resp.StatusCode)
	}
	wait := decodeJSON[map[string]any](t, body)["retry_after"].(float64)
	time.Sleep(time.Duration(wait*float64(time.Second)) + 20*time.Millisecond)
	if resp, _ := me.do(t, s); resp.StatusCode != 200 {
		t.Fatalf("after retry_after: %d, want 200", resp.StatusCode)
	}
}

func TestRateLimitRouteOverride(t *testing.T) {
	s := startEmulator(t, func(c *Config) {
		withRateLimits(100, time.Minute)(c)
		c.REST.Routes = map[string]RouteLimit{"GET /users/@me": {Requests: 1, Window: time.Minute}}
	})
	me := apiCall{method: "GET", path: "/api/v10/users/@me", auth: botAuth}
	if resp, _ := me.do(t, s); resp.Header.Get("X-RateLimit-Limit") != "1" {
		t.Fatalf("override not applied: limit %q", resp.Header.Get("X-RateLimit-Limit"))
	}
	if resp, _ := me.do(t, s); resp.StatusCode != 429 {
		t.Fatalf("second request: %d, want 429", resp.StatusCode)
	}
}

func TestGlobalRateLimit(t *testing.T) {
	s := startEmulator(t, func(c *Config) {
		withRateLimits(100, time.Minute)(c)
		c.REST.GlobalLimit = 3
		c.REST.GlobalWindow = time.Minute
	})
	g := firstGuild(t, s)
	paths := []string{"/api/v10/users/@me", "/api/v10/guilds/" + g.ID, "/api/v10/channels/" + g.RoomsCategoryID}
	for _, p := range paths {
		if resp, _ := (apiCall{method: "GET", path: p, auth: botAuth}).do(t, s); resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", p, resp.StatusCode)
		}
	}
	resp, body := apiCall{method: "GET", path: "/api/v10/guilds/" + g.ID + "/channels", auth: botAuth}.do(t, s)
	if resp.StatusCode != 429 || resp.Header.Get("X-RateLimit-Global") != "true" || resp.Header.Get("X-RateLimit-Scope") != "global" {
		t.Fatalf("4th request: %d %v", resp.StatusCode, resp.Header)
	}
	if decodeJSON[map[string]any](t, body)["global"] != true {
		t.Fatalf("body %s", body)
	}
	// The unauthenticated GET /gateway is outside the bot's global limit.
	if resp, _ := (apiCall{method: "GET", path: "/api/v10/gateway"}).do(t, s); resp.StatusCode != 200 {
		t.Fatalf("GET /gateway: %d", resp.StatusCode)
	}
}

func TestRateLimitsDisabled(t *testing.T) {
	s := startEmulator(t, func(c *Config) {
		c.REST.RouteLimit = RouteLimit{Requests: 1, Window: time.Minute}
		c.REST.GlobalLimit = 1
	})
	for i := range 5 {
		resp, _ := apiCall{method: "GET", path: "/api/v10/users/@me", auth: botAuth}.do(t, s)
		if resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Limit") != "" {
			t.Fatalf("request %d: %d, headers %v", i, resp.StatusCode, resp.Header)
		}
	}
}

func TestInvalidRequestsGetClientBanned(t *testing.T) {
	s := startEmulator(t, func(c *Config) {
		c.REST.InvalidRequestLimit = 3
		c.REST.BanDuration = 200 * time.Millisecond
	})
	for range 3 {
		if resp, _ := (apiCall{method: "GET", path: "/api/v10/users/@me", auth: "Bot nope"}).do(t, s); resp.StatusCode != 401 {
			t.Fatalf("bad token: %d", resp.StatusCode)
		}
	}
	resp, body := apiCall{method: "GET", path: "/api/v10/users/@me", auth: botAuth}.do(t, s)
	if resp.StatusCode != 403 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "1015") {
		t.Fatalf("banned client: %d %q", resp.StatusCode, body)
	}
	waitFor(t, "the ban to end", 5*time.Second, func() bool {
		resp, _ := apiCall{method: "GET", path: "/api/v10/users/@me", auth: botAuth}.do(t, s)
		return resp.StatusCode == 200
	})
}

func TestInjectedRateLimitIsSharedOnTheRoutesBucket(t *testing.T) {
	s := startEmulator(t, withRateLimits(5, time.Minute))
	path := "/api/v10/channels/" + firstGuild(t, s).RoomsCategoryID
	get := apiCall{method: "GET", path: path, auth: botAuth}
	resp, _ := get.do(t, s)
	bucket := resp.Header.Get("X-RateLimit-Bucket")
	if err := s.AddRESTFault(RESTFault{Kind: FaultRateLimit, Route: "GET /channels/{channel.id}", Count: 1, RetryAfter: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	resp, body := get.do(t, s)
	h := resp.Header
	if resp.StatusCode != 429 || h.Get("X-RateLimit-Scope") != "shared" || h.Get("X-RateLimit-Bucket") != bucket ||
		h.Get("X-RateLimit-Limit") != "5" || h.Get("X-RateLimit-Remaining") != "4" || h.Get("Retry-After") != "2" {
		t.Fatalf("injected 429: %d %v", resp.StatusCode, h)
	}
	if got := decodeJSON[map[string]any](t, body); got["retry_after"] != 2.0 || got["global"] != false {
		t.Fatalf("injected 429 body %s", body)
	}
	// Discord does not count shared 429s towards the ban, and the bucket was not taken.
	if n := s.InvalidRequests(); n != 0 {
		t.Fatalf("InvalidRequests() = %d after a shared 429, want 0", n)
	}
	if resp, _ := get.do(t, s); resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Remaining") != "3" {
		t.Fatalf("after the fault: %d remaining %s, want 200 and 3", resp.StatusCode, resp.Header.Get("X-RateLimit-Remaining"))
	}
	// A fault with scope "user" is one the bot is blamed for.
	if err := s.AddRESTFault(RESTFault{Kind: FaultRateLimit, Scope: "user", Count: 1}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := get.do(t, s); resp.StatusCode != 429 || resp.Header.Get("X-RateLimit-Scope") != "user" || s.InvalidRequests() != 1 {
		t.Fatalf("user-scope fault: %d %v, %d invalid requests", resp.StatusCode, resp.Header, s.InvalidRequests())
	}
}

func TestChannelRenameLimit(t *testing.T) {
	s := startEmulator(t, withRateLimits(50, time.Minute))
	lobby, general := channelNamed(t, s, "Lobby"), channelNamed(t, s, "general")
	patch := func(id string, body map[string]any) (*http.Response, []byte) {
		return apiCall{method: "PATCH", path: "/api/v10/channels/" + id, auth: botAuth, body: body}.do(t, s)
	}
	for i, body := range []map[string]any{{"name": "Lobby 2"}, {"topic": "x", "name": "Lobby 3"}} {
		if resp, body := patch(lobby.ID, body); resp.StatusCode != 200 {
			t.Fatalf("rename %d: %d %s", i+1, resp.StatusCode, body)
		}
	}
	// Changes that touch neither the name nor the topic, and an unchanged name, are not limited.
	if resp, _ := patch(lobby.ID, map[string]any{"name": "Lobby 3", "user_limit": 4}); resp.StatusCode != 200 {
		t.Fatalf("change without a rename: %d", resp.StatusCode)
	}
	resp, body := patch(lobby.ID, map[string]any{"name": "Lobby 4"})
	h := resp.Header
	retry, _ := strconv.Atoi(h.Get("Retry-After"))
	if resp.StatusCode != 429 || h.Get("X-RateLimit-Scope") != "shared" || retry < 590 || retry > 600 || h.Get("X-RateLimit-Remaining") == "0" {
		t.Fatalf("third rename: %d %v", resp.StatusCode, h)
	}
	if got := decodeJSON[map[string]any](t, body); got["retry_after"].(float64) < 590 || got["global"] != false {
		t.Fatalf("third rename body %s", body)
	}
	if c := channelNamed(t, s, "Lobby 3"); c.ID != lobby.ID || s.InvalidRequests() != 0 {
		t.Fatalf("after the refused rename: %+v, %d invalid requests", c, s.InvalidRequests())
	}
	if resp, _ := patch(lobby.ID, map[string]any{"topic": "y"}); resp.StatusCode != 429 {
		t.Fatalf("topic change past the limit: %d", resp.StatusCode)
	}
	// The limit is per channel.
	if resp, _ := patch(general.ID, map[string]any{"name": "lounge"}); resp.StatusCode != 200 {
		t.Fatalf("renaming another channel: %d", resp.StatusCode)
	}
}
