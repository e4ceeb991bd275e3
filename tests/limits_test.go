package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/internal/edgetest"
	"github.com/spellcoven/gateway/webhook"
)

// TestStreamLimits: the limits of coven_ws on a real edge behind a trusted proxy, each refusal on the
// wire and in the metrics.
func TestStreamLimits(t *testing.T) {
	s := newStack(t, func(c *edgetest.Config) {
		c.Servers = "trusted_proxies static 127.0.0.1/32\n\t\tclient_ip_headers X-Forwarded-For"
		c.WS = "max_per_ip 2\nmax_per_subject 1\nmessage_rate 0.001/s 2"
	})
	s.seed(t, &edgetest.Batches{Epoch: "ep1"})
	from := func(ip string) edgetest.DialOptions {
		return edgetest.DialOptions{Origin: edgetest.Origin, Header: http.Header{"X-Forwarded-For": {ip}}}
	}
	dial := func(t *testing.T, ip string) *edgetest.Client {
		t.Helper()
		c, resp, err := edgetest.Dial(t, s.edge, from(ip))
		if err != nil {
			t.Fatalf("upgrade from %s: %v %v", ip, resp, err)
		}
		return c
	}

	t.Run("per client IP, as the trusted proxy forwards it", func(t *testing.T) {
		dial(t, "203.0.113.1")
		dial(t, "203.0.113.1")
		_, resp, err := edgetest.Dial(t, s.edge, from("203.0.113.1"))
		if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "5" {
			t.Fatalf("third socket from one address: %v %v, want 429 with Retry-After 5", resp, err)
		}
		// Another address behind the same proxy has its own budget.
		dial(t, "203.0.113.2")
		if m := get(t, s.edge.URL("/metrics")); !strings.Contains(m, `coven_ws_rejected_total{reason="max_per_ip"} 1`) {
			t.Fatal("the refusal is not counted")
		}
	})
	t.Run("per subject", func(t *testing.T) {
		first := dial(t, "198.51.100.1")
		first.Auth(s.token(t, "alice", time.Hour), nil)
		first.Hello()
		second := dial(t, "198.51.100.2")
		second.Auth(s.token(t, "alice", time.Hour), nil)
		if f := second.Next(10 * time.Second); f.Type != "error" || f.Code != "too_many_streams" {
			t.Fatalf("got %s", f.Raw)
		}
		if code := second.CloseStatus(10 * time.Second); code != 4005 {
			t.Fatalf("closed with %d, want 4005", code)
		}
	})
	t.Run("message rate", func(t *testing.T) {
		c := dial(t, "198.51.100.3")
		c.Auth(s.token(t, "bob", time.Hour), nil)
		c.Hello()
		for i := 0; i < 2; i++ { // the burst, the auth message not counted
			c.Send(map[string]string{"type": "ping"})
			if f := c.Next(10 * time.Second); f.Type != "pong" {
				t.Fatalf("got %s", f.Raw)
			}
		}
		c.Send(map[string]string{"type": "ping"})
		if f := c.Next(10 * time.Second); f.Type != "error" || f.Code != "rate_limited" {
			t.Fatalf("got %s", f.Raw)
		}
		if code := c.CloseStatus(10 * time.Second); code != 4029 {
			t.Fatalf("closed with %d, want 4029", code)
		}
		if m := get(t, s.edge.URL("/metrics")); !strings.Contains(m, `coven_ws_dropped_total{reason="message_rate"} 1`) {
			t.Fatal("the drop is not counted")
		}
	})
	if !strings.Contains(s.edge.Logs.String(), "stream refused: over a limit") {
		t.Error("no refusal logged")
	}
}

// TestWebhookHeadersAreCheckedBeforeTheBody: a delivery without a valid signature header, or with a
// stale timestamp, is refused before its body is read: a client announcing a large body and never
// sending it gets its 401 at once instead of holding the edge.
func TestWebhookHeadersAreCheckedBeforeTheBody(t *testing.T) {
	s := newStack(t, nil)
	stale := strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)
	for name, headers := range map[string]string{
		"no signature headers": "",
		"a stale timestamp":    "X-Coven-Timestamp: " + stale + "\r\nX-Coven-Signature: sha256=" + strings.Repeat("0", 64) + "\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			host := strings.TrimPrefix(s.edge.URL(""), "http://")
			conn, err := net.Dial("tcp", host)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// The body is announced and never sent.
			fmt.Fprintf(conn, "POST /internal/events HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n%s\r\n", host, headers)
			conn.SetReadDeadline(time.Now().Add(15 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer while the body is withheld: %v", err)
			}
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("answered %s, want 401", resp.Status)
			}
		})
	}
}

// TestHealthDetailsOnlyForPrivateClients: /healthz shows its details (errors, counts) to clients on
// private networks, as Caddy determines the client IP behind a trusted proxy; others get the status
// alone, with the same status code.
func TestHealthDetailsOnlyForPrivateClients(t *testing.T) {
	s := newStack(t, func(c *edgetest.Config) {
		c.Servers = "trusted_proxies static 127.0.0.1/32"
		c.Site = "coven_health /healthz-never {\n\t\tdetails never\n\t}\n\tcoven_health /healthz-ops {\n\t\tdetails 198.51.100.0/24\n\t}"
	})
	s.seed(t, &edgetest.Batches{Epoch: "ep1"})
	ask := func(path, from string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.edge.URL(path), nil)
		req.Header.Set("X-Forwarded-For", from)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, doc
	}
	cases := []struct {
		path, from string
		detailed   bool
	}{
		{"/healthz", "10.1.2.3", true},
		{"/healthz", "203.0.113.9", false},
		{"/healthz-never", "10.1.2.3", false},
		{"/healthz-ops", "198.51.100.7", true},
		{"/healthz-ops", "10.1.2.3", false},
	}
	for _, c := range cases {
		code, doc := ask(c.path, c.from)
		_, hasHub := doc["hub"]
		if code != http.StatusOK || doc["status"] == nil || hasHub != c.detailed || (!c.detailed && len(doc) != 1) {
			t.Errorf("%s from %s: %d %v, want detailed=%v", c.path, c.from, code, doc, c.detailed)
		}
	}
}

// TestStandardWebhookIDsReachTheHandlerOnce: under Standard Webhooks, a delivery repeated with the
// same webhook-id within the tolerance (a replay, or a sender's retry) gets the first answer again,
// marked Webhook-Duplicate, and never reaches the next handler a second time.
func TestStandardWebhookIDsReachTheHandlerOnce(t *testing.T) {
	const secret = "whsec_c3RhbmRhcmQtd2ViaG9vay1rZXktYnJhdm8tMzJieXQ="
	s := newStack(t, func(c *edgetest.Config) {
		c.Site = "route /hook {\n\t\tcoven_hmac " + secret + " {\n\t\t\tscheme standard\n\t\t}\n\t\trespond \"handled {http.request.uuid}\" 202\n\t}"
	})
	signer, err := webhook.NewSigner(webhook.SchemeStandard, secret)
	if err != nil {
		t.Fatal(err)
	}
	post := func(id string) (int, string, string) {
		t.Helper()
		body := []byte(`{"type":"room.created"}`)
		req, _ := http.NewRequest(http.MethodPost, s.edge.URL("/hook"), bytes.NewReader(body))
		if err := signer.Sign(req.Header, body, time.Now(), id); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header.Get("Webhook-Duplicate")
	}
	code, first, dup := post("msg_1")
	if code != http.StatusAccepted || !strings.HasPrefix(first, "handled ") || dup != "" {
		t.Fatalf("first delivery: %d %q duplicate %q", code, first, dup)
	}
	for i := 0; i < 3; i++ {
		code, again, dup := post("msg_1")
		if code != http.StatusAccepted || again != first || dup != "true" {
			t.Fatalf("repeat %d: %d %q duplicate %q, want the first answer %q", i, code, again, dup, first)
		}
	}
	if code, other, dup := post("msg_2"); code != http.StatusAccepted || other == first || dup != "" {
		t.Fatalf("another id: %d %q duplicate %q", code, other, dup)
	}
	if m := get(t, s.edge.URL("/metrics")); !strings.Contains(m, `coven_webhook_rejected_total{reason="duplicate_id"} 3`) {
		t.Fatal("the repeats are not counted")
	}
}

// TestNewConnectionsArePaced: with coven_accept, a storm of new connections is served a burst at
// once and then at the rate, each answered in its turn, and the waits are counted.
func TestNewConnectionsArePaced(t *testing.T) {
	const (
		rate  = 10 // one connection per 100ms
		burst = 2
		conns = 6
	)
	s := newStack(t, func(c *edgetest.Config) {
		c.Servers = fmt.Sprintf("listener_wrappers {\n\t\t\tcoven_accept {\n\t\t\t\trate %d\n\t\t\t\tburst %d\n\t\t\t}\n\t\t}", rate, burst)
	})
	s.seed(t, &edgetest.Batches{Epoch: "ep1"})
	host := strings.TrimPrefix(s.edge.URL(""), "http://")
	start := time.Now()
	answered := make(chan time.Duration, conns)
	for range conns {
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		go func() {
			_ = c.SetDeadline(time.Now().Add(time.Minute))
			if _, err := fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host); err != nil {
				answered <- -1
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil || resp.StatusCode != http.StatusOK {
				answered <- -1
				return
			}
			answered <- time.Since(start)
		}()
	}
	var last time.Duration
	for range conns {
		d := <-answered
		if d < 0 {
			t.Fatal("a paced connection was not answered 200")
		}
		last = max(last, d)
	}
	// At most a burst is served at once; the others wait their turn, one per 1/rate.
	if earliest := time.Duration(conns-burst) * time.Second / rate; last < earliest {
		t.Fatalf("%d new connections all answered within %v, before the pace allows (%v)", conns, last, earliest)
	}
	m := get(t, s.edge.URL("/metrics"))
	re := regexp.MustCompile(`(?m)^coven_accept_delayed_total (\d+)`)
	if g := re.FindStringSubmatch(m); g == nil || g[1] == "0" {
		t.Fatalf("coven_accept_delayed_total: %v, want the waits counted", g)
	}
}
