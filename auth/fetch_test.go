package auth

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// newJWKSServer serves handler on 127.0.0.1 for the duration of the test and returns its JWKS URL.
func newJWKSServer(t *testing.T, handler http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv.URL + "/.well-known/jwks.json"
}

func TestFetchFailures(t *testing.T) {
	idp := newTestIdP(t)
	if _, err := idp.AddKey("ES256"); err != nil {
		t.Fatalf("AddKey: %v", err)
	}
	jwks := idp.JWKS()
	closedURL := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		return "http://" + addr + "/jwks.json"
	}()

	tests := []struct {
		name    string
		handler http.HandlerFunc // nil: use url
		url     string
		change  func(*Config)
		wantErr string
	}{
		{
			name:    "server error",
			handler: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) },
			wantErr: "unexpected status 500",
		},
		{
			name:    "declared length over MaxJWKSBytes",
			handler: func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(jwks) },
			change:  func(c *Config) { c.MaxJWKSBytes = 128 },
			wantErr: "exceeds the limit of 128",
		},
		{
			name: "streamed body over MaxJWKSBytes",
			handler: func(w http.ResponseWriter, r *http.Request) {
				for range 8 {
					_, _ = w.Write(bytes.Repeat([]byte(" "), 512))
					w.(http.Flusher).Flush() // no Content-Length: the limit must hold while reading
				}
				_, _ = w.Write(jwks)
			},
			change:  func(c *Config) { c.MaxJWKSBytes = 2048 },
			wantErr: "body exceeds the limit of 2048 bytes",
		},
		{
			name: "valid JWKS padded past the default 1 MiB",
			handler: func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write(append(bytes.Repeat([]byte(" "), DefaultMaxJWKSBytes), jwks...))
			},
			wantErr: "exceeds the limit",
		},
		{
			name:    "more keys than MaxJWKSKeys",
			handler: func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(jwks) },
			change:  func(c *Config) { c.MaxJWKSKeys = 1 },
			wantErr: "parsing JWKS",
		},
		{
			name:    "login page instead of a JWKS",
			handler: func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<html>sign in</html>")) },
			wantErr: "parsing JWKS",
		},
		{
			name: "only encryption keys",
			handler: func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write(bytes.ReplaceAll(jwks, []byte(`"use":"sig"`), []byte(`"use":"enc"`)))
			},
			wantErr: "no usable signing key",
		},
		{
			name:    "connection refused",
			url:     closedURL + "?api_key=SECRET-IN-QUERY",
			wantErr: "connection refused",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := idp.config()
			cfg.JWKSURL = tt.url
			if tt.handler != nil {
				cfg.JWKSURL = newJWKSServer(t, tt.handler)
			}
			if tt.change != nil {
				tt.change(&cfg)
			}
			v := newTestVerifier(t, cfg)
			_, err := verifyWithin(t, v, context.Background(), mint(t, idp.Issuer, idp.SigningKeyID(), validClaims(nil)))
			if Reason(err) != ReasonJWKSUnavailable {
				t.Fatalf("Verify = %v, want reason %s", err, ReasonJWKSUnavailable)
			}
			st := v.Status()
			if st.KeysLoaded || st.LastError == nil || !strings.Contains(st.LastError.Error(), tt.wantErr) {
				t.Fatalf("Status = %+v, want no keys and an error containing %q", st, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Verify error %q does not say why: want %q", err, tt.wantErr)
			}
			if strings.Contains(st.LastError.Error(), "SECRET") || strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error leaks the JWKS URL's query string: %v", st.LastError)
			}
		})
	}
}

func TestSlowJWKSHitsFetchTimeout(t *testing.T) {
	idp := newTestIdP(t)
	release := make(chan struct{})
	url := newJWKSServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) }) // runs before the server closes
	cfg := idp.config()
	cfg.JWKSURL = url
	cfg.FetchTimeout = 50 * time.Millisecond
	v := newTestVerifier(t, cfg)

	_, err := verifyWithin(t, v, context.Background(), mint(t, idp.Issuer, idp.SigningKeyID(), validClaims(nil)))
	if Reason(err) != ReasonJWKSUnavailable || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Verify against a JWKS server that never answers = %v, want %s from the fetch deadline", err, ReasonJWKSUnavailable)
	}
	if st := v.Status(); !errors.Is(st.LastError, context.DeadlineExceeded) {
		t.Fatalf("Status.LastError = %v, want the fetch deadline", st.LastError)
	}
}

func TestVerifyStopsWaitingWhenItsContextEnds(t *testing.T) {
	idp := newTestIdP(t)
	release := make(chan struct{})
	url := newJWKSServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })
	cfg := idp.config()
	cfg.JWKSURL = url
	cfg.FetchTimeout = time.Hour
	v, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = verifyWithin(t, v, ctx, mint(t, idp.Issuer, idp.SigningKeyID(), validClaims(nil)))
	if Reason(err) != ReasonJWKSUnavailable || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Verify with an expiring context = %v, want %s wrapping the context error", err, ReasonJWKSUnavailable)
	}

	// The fetch is still in flight (FetchTimeout is an hour); Stop must end it rather than wait.
	stopped := make(chan struct{})
	go func() {
		v.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not cancel the in-flight fetch")
	}
}

func TestRedactedURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://idp.test/.well-known/jwks.json", "https://idp.test/.well-known/jwks.json"},
		{"https://user:pass@idp.test/jwks?key=secret", "https://idp.test/jwks"},
		{"http://127.0.0.1:8080/a%20b", "http://127.0.0.1:8080/a%20b"},
	}
	for _, tt := range tests {
		if got := redactedURL(tt.in); got != tt.want {
			t.Errorf("redactedURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
