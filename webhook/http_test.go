package webhook_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/spellcoven/gateway/webhook"
)

// guard is the shape of an HTTP endpoint protected by a Verifier: read the body under a
// limit (413 before any HMAC work), then verify (401 with the reason).
func guard(v *webhook.Verifier, maxBody int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				http.Error(w, "too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if err := v.Verify(r.Header, body); err != nil {
			http.Error(w, webhook.Reason(err), http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// TestOverHTTP sends signed requests through a real server on a loopback socket, so
// header names and values go through net/http's wire format both ways.
func TestOverHTTP(t *testing.T) {
	const maxBody = 1 << 10
	covenVerifier := newVerifier(t, webhook.VerifierConfig{Scheme: webhook.SchemeCoven, Secrets: []string{covenSecretA}, Now: time.Now})
	standardVerifier := newVerifier(t, webhook.VerifierConfig{Scheme: webhook.SchemeStandard, Secrets: []string{standardSecretA}, Now: time.Now})
	mux := http.NewServeMux()
	mux.Handle("/coven", guard(covenVerifier, maxBody))
	mux.Handle("/standard", guard(standardVerifier, maxBody))
	server := httptest.NewServer(mux)
	defer server.Close()
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()

	covenSigner, err := webhook.NewSigner(webhook.SchemeCoven, covenSecretA)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"epoch":"e1","events":[]}`)

	cases := []struct {
		name       string
		path       string
		body       []byte
		header     func() http.Header
		wantStatus int
		wantReason string
	}{
		{
			name: "coven signed by Signer", path: "/coven", body: body, wantStatus: http.StatusNoContent,
			header: func() http.Header {
				h := http.Header{}
				if err := covenSigner.Sign(h, body, time.Now(), ""); err != nil {
					t.Fatal(err)
				}
				return h
			},
		},
		{
			// Sent exactly as the specification spells the names, lower case.
			name: "standard with lower-case header names", path: "/standard", body: body, wantStatus: http.StatusNoContent,
			header: func() http.Header {
				ts := time.Now().Unix()
				return http.Header{
					"webhook-id":        {"msg_wire"},
					"webhook-timestamp": {strconv.FormatInt(ts, 10)},
					"webhook-signature": {webhook.SignStandard(standardKeyA, "msg_wire", ts, body)},
				}
			},
		},
		{
			name: "coven tampered in transit", path: "/coven", body: append([]byte(" "), body...), wantStatus: http.StatusUnauthorized, wantReason: "mismatch",
			header: func() http.Header {
				h := http.Header{}
				if err := covenSigner.Sign(h, body, time.Now(), ""); err != nil {
					t.Fatal(err)
				}
				return h
			},
		},
		{
			name: "coven request to the standard endpoint", path: "/standard", body: body, wantStatus: http.StatusUnauthorized, wantReason: "missing_headers",
			header: func() http.Header {
				h := http.Header{}
				if err := covenSigner.Sign(h, body, time.Now(), ""); err != nil {
					t.Fatal(err)
				}
				return h
			},
		},
		{
			name: "body over the limit is refused before verification", path: "/coven", body: bytes.Repeat([]byte("x"), maxBody+1), wantStatus: http.StatusRequestEntityTooLarge,
			header: func() http.Header { return http.Header{} },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, server.URL+tc.path, bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			for name, values := range tc.header() {
				req.Header[name] = values
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			reply, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d (%s), want %d", resp.StatusCode, bytes.TrimSpace(reply), tc.wantStatus)
			}
			if tc.wantReason != "" && string(bytes.TrimSpace(reply)) != tc.wantReason {
				t.Fatalf("reason = %q, want %q", bytes.TrimSpace(reply), tc.wantReason)
			}
		})
	}
}

// TestConcurrentUse verifies and signs from many goroutines at once; run with -race it
// checks that pooled HMAC states are never shared between calls.
func TestConcurrentUse(t *testing.T) {
	const (
		goroutines = 8
		rounds     = 200
	)
	v := newVerifier(t, webhook.VerifierConfig{Scheme: webhook.SchemeStandard, Secrets: []string{standardSecretA, standardSecretB}})
	signer, err := webhook.NewSigner(webhook.SchemeStandard, standardSecretB)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				body := []byte(strconv.Itoa(g*rounds + i))
				h := http.Header{}
				if err := signer.Sign(h, body, testNow, "msg_"+strconv.Itoa(i)); err != nil {
					errs <- err
					return
				}
				if err := v.Verify(h, body); err != nil {
					errs <- err
					return
				}
				// A body signed for another goroutine must never pass.
				if err := v.Verify(h, append(body, '!')); !errors.Is(err, webhook.ErrNoMatchingSignature) {
					errs <- errors.New("tampered body passed: " + strconv.Quote(string(body)))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
