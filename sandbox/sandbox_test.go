package sandbox

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestSandboxServesTheStreamOverTLS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	var log strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := Start(ctx, Config{Port: port, RepoRoot: "..", Dir: t.TempDir(), Log: &lockedWriter{w: &log}})
	if err != nil {
		t.Fatalf("start: %v\n%s", err, log.String())
	}
	defer s.Close()

	// A demo user gets a token from the development identity provider, through the edge.
	resp, err := s.Client.Post(s.URL+"/dev-idp/token?user=bob", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		Token string
		User  DemoUser
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || tok.Token == "" || tok.User.DiscordID != "1300000000000000002" {
		t.Fatalf("token: %v %+v", err, tok)
	}
	if resp, _ := s.Client.Post(s.URL+"/dev-idp/token?user=mallory", "", nil); resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown demo user: %v", resp)
	}

	// The stream answers over TLS with a certificate from the sandbox's own CA.
	pem, err := os.ReadFile(s.RootCA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	wsURL := "wss" + strings.TrimPrefix(s.URL, "https") + "/ws"
	c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"auth","token":"`+tok.Token+`"}`)); err != nil {
		t.Fatal(err)
	}
	_, msg, err := c.Read(ctx)
	if err != nil || !strings.Contains(string(msg), `"type":"hello"`) {
		t.Fatalf("hello: %s %v", msg, err)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
