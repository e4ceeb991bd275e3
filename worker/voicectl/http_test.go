package voicectl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/webhook"
	"github.com/spellcoven/gateway/worker/control"
)

const (
	testSecret      = "voice-control-secret-that-must-never-be-logged"
	otherSecret     = "another-secret-of-the-same-length-or-so-1234"
	standardSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	standardSecret2 = "whsec_dGhpcyBpcyBhbm90aGVyIGtleSBvZiAzMiBieXRlcw=="
)

// endpoint is a Controller's control endpoint on a real HTTP server on 127.0.0.1.
type endpoint struct {
	*harness
	srv    *httptest.Server
	signer *webhook.Signer
	client *Client
}

func newEndpoint(t *testing.T, scheme webhook.Scheme, secret string, mutate func(*HandlerConfig)) *endpoint {
	t.Helper()
	return newEndpointWith(t, harnessOptions{}, scheme, secret, mutate)
}

func newEndpointWith(t *testing.T, o harnessOptions, scheme webhook.Scheme, secret string, mutate func(*HandlerConfig)) *endpoint {
	t.Helper()
	h := newHarness(t, o)
	v, err := webhook.NewVerifier(webhook.VerifierConfig{Scheme: scheme, Secrets: []string{secret}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := HandlerConfig{Verifier: v, Logger: slog.New(slog.NewJSONHandler(h.logs, nil))}
	if mutate != nil {
		mutate(&cfg)
	}
	handler, err := NewHandler(h.ctl, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	signer, err := webhook.NewSigner(scheme, secret)
	if err != nil {
		t.Fatal(err)
	}
	client, err := NewClient(srv.URL, signer, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return &endpoint{harness: h, srv: srv, signer: signer, client: client}
}

// send makes one raw request; prepare signs it (or not) and may alter it afterwards.
func (e *endpoint) send(method, path string, body []byte, prepare func(req *http.Request)) (int, Error) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if prepare != nil {
		prepare(req)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(raw), testSecret) {
		e.t.Fatalf("an answer quotes the secret: %s", raw)
	}
	var eb struct {
		Error Error `json:"error"`
	}
	if resp.StatusCode != http.StatusOK {
		if err := json.Unmarshal(raw, &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
			e.t.Fatalf("error answer %d is not {error:{code,message}}: %s", resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, eb.Error
}

// signedAs signs a request as if it were method path with body, at at, with signer.
func signedAs(signer *webhook.Signer, method, path string, body []byte, at time.Time) func(*http.Request) {
	return func(req *http.Request) {
		origMethod, origPath := req.Method, req.URL.Path
		req.Method, req.URL.Path = method, path
		if err := control.SignRequest(req, body, signer, at); err != nil {
			panic(err)
		}
		req.Method, req.URL.Path = origMethod, origPath
	}
}

// TestControlThroughTheClient drives every operation through the signed client.
func TestControlThroughTheClient(t *testing.T) {
	e := newEndpoint(t, webhook.SchemeCoven, testSecret, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	steps := []struct {
		name  string
		do    func() (Status, error)
		check func(Status) bool
	}{
		{"status", func() (Status, error) { return e.client.Status(ctx) }, func(s Status) bool { return s.State == StateIdle }},
		{"join", func() (Status, error) { return e.client.Join(ctx, testRoom) }, func(s Status) bool { return s.State == StateConnected && s.SSRC != 0 }},
		{"play", func() (Status, error) { return e.client.Play(ctx, "tone-a.opus") }, func(s Status) bool { return s.Playing != nil }},
		{"stop playing", func() (Status, error) { return e.client.StopPlayback(ctx) }, func(s Status) bool { return s.LastPlayback != nil && s.LastPlayback.Stopped }},
		{"record", func() (Status, error) { return e.client.StartRecording(ctx, "") }, func(s Status) bool {
			return s.Recording != nil && strings.HasPrefix(s.Recording.Dir, testRoom+"-")
		}},
		{"stop recording", func() (Status, error) { return e.client.StopRecording(ctx) }, func(s Status) bool { return s.LastRecording != nil }},
		{"leave", func() (Status, error) { return e.client.Leave(ctx) }, func(s Status) bool { return s.State == StateIdle && s.LastEnd.Reason == EndLeft }},
	}
	for _, s := range steps {
		st, err := s.do()
		if err != nil || !s.check(st) {
			t.Fatalf("%s: %v %+v", s.name, err, st)
		}
	}
	_, err := e.client.Join(ctx, "1200000000000000099")
	var ce *Error
	if !errors.As(err, &ce) || ce.Status != http.StatusNotFound || ce.Code != CodeNotARoom {
		t.Fatalf("joining a channel that is not a room: %v", err)
	}
}

// TestControlStandardWebhooks: under the standard scheme, the same requests work.
func TestControlStandardWebhooks(t *testing.T) {
	e := newEndpoint(t, webhook.SchemeStandard, standardSecret, nil)
	st, err := e.client.Join(context.Background(), testRoom)
	if err != nil || st.State != StateConnected {
		t.Fatalf("Join: %v %+v", err, st)
	}
	other, _ := webhook.NewSigner(webhook.SchemeStandard, standardSecret2)
	code, _ := e.send(http.MethodGet, "/voice", nil, signedAs(other, http.MethodGet, "/voice", nil, time.Now()))
	if code != http.StatusUnauthorized {
		t.Fatalf("another key: %d", code)
	}
}

// TestControlRefuses: requests that are not signed for exactly what they ask are refused, and
// change nothing.
func TestControlRefuses(t *testing.T) {
	joinBody := []byte(`{"room_id":"` + testRoom + `"}`)
	other, _ := webhook.NewSigner(webhook.SchemeCoven, otherSecret)
	cases := []struct {
		name    string
		method  string
		path    string
		body    []byte
		sign    func(e *endpoint) func(*http.Request)
		status  int
		code    string
		message string
	}{
		{name: "unsigned", method: "POST", path: "/voice/join", body: joinBody,
			sign: func(*endpoint) func(*http.Request) { return nil }, status: 401, code: CodeUnauthorized, message: control.HeaderRequestID},
		{name: "no signature headers", method: "POST", path: "/voice/join", body: joinBody,
			sign: func(*endpoint) func(*http.Request) {
				return func(r *http.Request) { r.Header.Set(control.HeaderRequestID, "0123456789abcdef0123") }
			}, status: 401, code: CodeUnauthorized, message: "missing"},
		{name: "stale", method: "POST", path: "/voice/join", body: joinBody,
			sign: func(e *endpoint) func(*http.Request) {
				return signedAs(e.signer, "POST", "/voice/join", joinBody, time.Now().Add(-2*time.Minute))
			}, status: 401, code: CodeUnauthorized, message: "too old"},
		{name: "from the future", method: "POST", path: "/voice/join", body: joinBody,
			sign: func(e *endpoint) func(*http.Request) {
				return signedAs(e.signer, "POST", "/voice/join", joinBody, time.Now().Add(2*time.Minute))
			}, status: 401, code: CodeUnauthorized, message: "too new"},
		{name: "another secret", method: "POST", path: "/voice/join", body: joinBody,
			sign: func(*endpoint) func(*http.Request) {
				return signedAs(other, "POST", "/voice/join", joinBody, time.Now())
			}, status: 401, code: CodeUnauthorized, message: "no matching signature"},
		{name: "signed for another path", method: "POST", path: "/voice/join", body: joinBody,
			sign: func(e *endpoint) func(*http.Request) {
				return signedAs(e.signer, "POST", "/voice/play", joinBody, time.Now())
			}, status: 401, code: CodeUnauthorized},
		{name: "signed for another method", method: "POST", path: "/voice", body: nil,
			sign:   func(e *endpoint) func(*http.Request) { return signedAs(e.signer, "GET", "/voice", nil, time.Now()) },
			status: 401, code: CodeUnauthorized},
		{name: "body changed after signing", method: "POST", path: "/voice/join", body: []byte(`{"room_id":"` + testRoom2 + `"}`),
			sign: func(e *endpoint) func(*http.Request) {
				return signedAs(e.signer, "POST", "/voice/join", joinBody, time.Now())
			}, status: 401, code: CodeUnauthorized},
		{name: "body too large", method: "POST", path: "/voice/join", body: bytes.Repeat([]byte(" "), DefaultMaxRequestBytes+1),
			sign: func(e *endpoint) func(*http.Request) {
				return signedAs(e.signer, "POST", "/voice/join", bytes.Repeat([]byte(" "), DefaultMaxRequestBytes+1), time.Now())
			}, status: 413, code: CodeTooLarge},
		{name: "query", method: "GET", path: "/voice?state=idle", body: nil,
			sign:   func(e *endpoint) func(*http.Request) { return signedAs(e.signer, "GET", "/voice", nil, time.Now()) },
			status: 400, code: CodeBadRequest, message: "query"},
		{name: "unknown path", method: "POST", path: "/voice/dance", body: nil,
			sign: func(e *endpoint) func(*http.Request) {
				return signedAs(e.signer, "POST", "/voice/dance", nil, time.Now())
			},
			status: 404, code: CodeNotFound},
		{name: "wrong method", method: "GET", path: "/voice/join", body: nil,
			sign: func(e *endpoint) func(*http.Request) {
				return signedAs(e.signer, "GET", "/voice/join", nil, time.Now())
			},
			status: 405, code: CodeBadRequest},
		{name: "unknown field", method: "POST", path: "/voice/join", body: []byte(`{"room":"` + testRoom + `"}`),
			sign: func(e *endpoint) func(*http.Request) {
				return signedAs(e.signer, "POST", "/voice/join", []byte(`{"room":"`+testRoom+`"}`), time.Now())
			}, status: 400, code: CodeBadRequest, message: "unknown field"},
		{name: "two objects", method: "POST", path: "/voice/join", body: append(joinBody, joinBody...),
			sign: func(e *endpoint) func(*http.Request) {
				return signedAs(e.signer, "POST", "/voice/join", append(joinBody, joinBody...), time.Now())
			}, status: 400, code: CodeBadRequest},
		{name: "unknown action", method: "POST", path: "/voice/record", body: []byte(`{"action":"pause"}`),
			sign: func(e *endpoint) func(*http.Request) {
				return signedAs(e.signer, "POST", "/voice/record", []byte(`{"action":"pause"}`), time.Now())
			}, status: 400, code: CodeBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEndpoint(t, webhook.SchemeCoven, testSecret, nil)
			status, got := e.send(c.method, c.path, c.body, c.sign(e))
			if status != c.status || got.Code != c.code || !strings.Contains(got.Message, c.message) {
				t.Fatalf("answer %d %+v, want %d %s containing %q", status, got, c.status, c.code, c.message)
			}
			if len(e.discord.opsSent()) != 0 || e.ctl.Status().State != StateIdle {
				t.Fatal("a refused request changed something")
			}
		})
	}
}

// TestControlRefusesReplays: a signed request is good once; the memory of request ids is
// bounded, and full it refuses new ones rather than forgetting live ones.
func TestControlRefusesReplays(t *testing.T) {
	e := newEndpoint(t, webhook.SchemeCoven, testSecret, func(c *HandlerConfig) { c.MaxRecentRequests = 2 })
	var first *http.Request
	capture := func(r *http.Request) {
		control.SignRequest(r, nil, e.signer, time.Now())
		first = r
	}
	if code, _ := e.send("GET", "/voice", nil, capture); code != 200 {
		t.Fatalf("first request: %d", code)
	}
	code, got := e.send("GET", "/voice", nil, func(r *http.Request) { r.Header = first.Header.Clone() })
	if code != 401 || got.Code != CodeReplayed {
		t.Fatalf("replay: %d %+v", code, got)
	}
	if code, _ := e.send("GET", "/voice", nil, signedAs(e.signer, "GET", "/voice", nil, time.Now())); code != 200 {
		t.Fatalf("second request: %d", code)
	}
	code, got = e.send("GET", "/voice", nil, signedAs(e.signer, "GET", "/voice", nil, time.Now()))
	if code != http.StatusTooManyRequests || got.Code != CodeTooManyRequests {
		t.Fatalf("third request with room for two: %d %+v", code, got)
	}
	if v := metricValue(t, e.reg, "coven_worker_voice_control_rejected_total", map[string]string{"reason": "replayed"}); v != 1 {
		t.Fatalf("control_rejected_total{reason=replayed} = %v", v)
	}
}

// TestClientErrors: an unreachable worker and a bad address are clear errors.
func TestClientErrors(t *testing.T) {
	signer, _ := webhook.NewSigner(webhook.SchemeCoven, testSecret)
	for _, addr := range []string{"", "ftp://127.0.0.1:1", "127.0.0.1:1/voice", "http://127.0.0.1:1?x=1"} {
		if _, err := NewClient(addr, signer, nil); err == nil {
			t.Fatalf("NewClient(%q) accepted", addr)
		}
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.Listener.Addr().String()
	srv.Close()
	c, err := NewClient(addr, signer, &http.Client{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Status(context.Background())
	if err == nil || !strings.Contains(err.Error(), "cannot reach the worker at "+addr) {
		t.Fatalf("error %v", err)
	}
}
