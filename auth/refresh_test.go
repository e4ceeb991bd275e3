package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestKeyRotation(t *testing.T) {
	idp := newTestIdP(t)
	v := newTestVerifier(t, idp.config())
	ctx := context.Background()

	oldKID := idp.SigningKeyID()
	oldToken := mint(t, idp.Issuer, oldKID, validClaims(nil))
	if _, err := v.Verify(ctx, oldToken); err != nil {
		t.Fatalf("Verify before rotation: %v", err)
	}
	if got := idp.attempts.Load(); got != 1 {
		t.Fatalf("first Verify made %d JWKS requests, want 1", got)
	}

	// The identity provider adds a key and signs with it: the unknown kid causes exactly one re-fetch.
	newKID, err := idp.Rotate()
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	newToken := mint(t, idp.Issuer, newKID, validClaims(nil))
	if _, err := v.Verify(ctx, newToken); err != nil {
		t.Fatalf("Verify of a token from the new key: %v", err)
	}
	if got := idp.attempts.Load(); got != 2 {
		t.Fatalf("JWKS requests after rotation = %d, want 2", got)
	}
	for i := 0; i < 5; i++ {
		for name, token := range map[string]string{"old": oldToken, "new": newToken} {
			if _, err := v.Verify(ctx, token); err != nil {
				t.Fatalf("Verify of a token from the %s key while both are published: %v", name, err)
			}
		}
	}
	if got := idp.attempts.Load(); got != 2 {
		t.Fatalf("verifying with known keys fetched again: %d requests, want 2", got)
	}

	// The old key is retired: after the next refresh its tokens are refused.
	if err := idp.Retire(oldKID); err != nil {
		t.Fatalf("Retire: %v", err)
	}
	if err := v.Refresh(ctx); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	_, err = v.Verify(ctx, oldToken)
	if Reason(err) != ReasonUnknownKID {
		t.Fatalf("Verify of a token from the retired key = %v, want reason %s", err, ReasonUnknownKID)
	}
	if _, err := v.Verify(ctx, newToken); err != nil {
		t.Fatalf("Verify of a token from the current key after refresh: %v", err)
	}
}

func TestBackgroundRefreshDropsRetiredKey(t *testing.T) {
	idp := newTestIdP(t)
	cfg := idp.config()
	cfg.RefreshInterval = 20 * time.Millisecond
	cfg.MinRefreshInterval = 20 * time.Millisecond
	cfg.UnknownKIDCooldown = time.Hour // only the scheduled refresh may notice the retirement
	v := newTestVerifier(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := v.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}

	oldKID := idp.SigningKeyID()
	oldToken := mint(t, idp.Issuer, oldKID, validClaims(nil))
	eventually(t, "keys to load", func() bool { return v.Status().KeysLoaded })
	if _, err := v.Verify(ctx, oldToken); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if _, err := idp.Rotate(); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if err := idp.Retire(oldKID); err != nil {
		t.Fatalf("Retire: %v", err)
	}
	eventually(t, "the retired key to be dropped", func() bool {
		_, err := v.Verify(ctx, oldToken)
		return Reason(err) == ReasonUnknownKID
	})
}

func TestUnknownKIDFloodCausesOneFetch(t *testing.T) {
	idp := newTestIdP(t)
	cfg := idp.config()
	cfg.UnknownKIDCooldown = time.Minute // far longer than a flood takes, even on a loaded machine
	v := newTestVerifier(t, cfg)
	ctx := context.Background()
	if _, err := v.Verify(ctx, mint(t, idp.Issuer, idp.SigningKeyID(), validClaims(nil))); err != nil {
		t.Fatalf("warm-up Verify: %v", err)
	}

	flood := func() (fetches int64) {
		t.Helper()
		before := idp.attempts.Load()
		const tokens = 200
		errs := make(chan error, tokens)
		var wg sync.WaitGroup
		for range tokens {
			var kid [8]byte
			_, _ = rand.Read(kid[:])
			token := unsignedToken(t, map[string]any{"alg": "RS256", "kid": hex.EncodeToString(kid[:])}, validClaims(nil), make([]byte, 256))
			wg.Go(func() {
				_, err := v.Verify(ctx, token)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if Reason(err) != ReasonUnknownKID {
				t.Fatalf("token with a random kid: %v, want reason %s", err, ReasonUnknownKID)
			}
		}
		return idp.attempts.Load() - before
	}

	if got := flood(); got != 1 {
		t.Fatalf("200 concurrent unknown kids caused %d JWKS fetches, want 1", got)
	}
	if got := flood(); got != 0 {
		t.Fatalf("a second flood within the cooldown caused %d fetches, want 0", got)
	}
	// Let the cooldown pass without sleeping through it.
	v.mu.Lock()
	v.lastUnknownKID = v.lastUnknownKID.Add(-cfg.UnknownKIDCooldown)
	v.mu.Unlock()
	if got := flood(); got != 1 {
		t.Fatalf("a flood after the cooldown caused %d fetches, want 1", got)
	}
}

func TestIdPDownAtStartRecoversWithinBackoff(t *testing.T) {
	idp := newTestIdP(t)
	idp.down.Store(true)
	cfg := idp.config()
	cfg.RefreshInterval = time.Hour // recovery must not wait for this
	cfg.RetryBackoffMin = 10 * time.Millisecond
	cfg.RetryBackoffMax = 40 * time.Millisecond
	v := newTestVerifier(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := v.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	token := mint(t, idp.Issuer, idp.SigningKeyID(), validClaims(nil))

	eventually(t, "three failed fetches", func() bool { return v.Status().ConsecutiveFailures >= 3 })
	st := v.Status()
	if st.KeysLoaded || st.LastError == nil || !strings.Contains(st.LastError.Error(), "503") {
		t.Fatalf("Status while the IdP is down = %+v, want no keys and a 503 error", st)
	}
	if _, err := v.Verify(ctx, token); Reason(err) != ReasonJWKSUnavailable {
		t.Fatalf("Verify while the IdP is down = %v, want reason %s", err, ReasonJWKSUnavailable)
	}

	idp.down.Store(false)
	eventually(t, "keys after the IdP came back", func() bool { return v.Status().KeysLoaded })
	if _, err := v.Verify(ctx, token); err != nil {
		t.Fatalf("Verify after recovery: %v", err)
	}
	st = v.Status()
	if st.LastError != nil || st.ConsecutiveFailures != 0 || st.KeyCount != 1 || st.LastFetch.IsZero() {
		t.Fatalf("Status after recovery = %+v", st)
	}
}

func TestOnDemandFetchIsBoundedByBackoff(t *testing.T) {
	idp := newTestIdP(t)
	idp.down.Store(true)
	cfg := idp.config()
	cfg.RetryBackoffMin = time.Minute // far longer than the burst below takes, even on a loaded machine
	cfg.RetryBackoffMax = time.Minute
	v := newTestVerifier(t, cfg) // not started: only Verify fetches
	ctx := context.Background()
	token := mint(t, idp.Issuer, idp.SigningKeyID(), validClaims(nil))

	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, err := v.Verify(ctx, token); Reason(err) != ReasonJWKSUnavailable {
				t.Errorf("Verify while the IdP is down = %v, want reason %s", err, ReasonJWKSUnavailable)
			}
		})
	}
	wg.Wait()
	if got := idp.attempts.Load(); got != 1 {
		t.Fatalf("50 Verify calls with the IdP down made %d fetches, want 1 per backoff step", got)
	}
	_, err := v.Verify(ctx, token)
	if !strings.Contains(err.Error(), "next attempt in") || !strings.Contains(err.Error(), "503") {
		t.Fatalf("error during backoff = %q, want it to say when the next attempt is and why the last failed", err)
	}

	// The IdP recovers; once the backoff has passed, the next Verify fetches again.
	idp.down.Store(false)
	if _, err := v.Verify(ctx, token); Reason(err) != ReasonJWKSUnavailable {
		t.Fatalf("Verify within the backoff = %v, want reason %s without a fetch", err, ReasonJWKSUnavailable)
	}
	v.mu.Lock()
	v.retryAt = time.Now()
	v.mu.Unlock()
	if _, err := v.Verify(ctx, token); err != nil {
		t.Fatalf("Verify after the backoff: %v", err)
	}
	if got := idp.attempts.Load(); got != 2 {
		t.Fatalf("recovery took %d fetches in all, want 2", got)
	}
}

func TestFailedRefreshKeepsKeys(t *testing.T) {
	idp := newTestIdP(t)
	v := newTestVerifier(t, idp.config())
	ctx := context.Background()
	token := mint(t, idp.Issuer, idp.SigningKeyID(), validClaims(nil))
	if _, err := v.Verify(ctx, token); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	idp.down.Store(true)
	if err := v.Refresh(ctx); err == nil {
		t.Fatal("Refresh with the IdP down succeeded")
	}
	if _, err := v.Verify(ctx, token); err != nil {
		t.Fatalf("Verify after a failed refresh: %v", err)
	}
	if st := v.Status(); !st.KeysLoaded || st.ConsecutiveFailures != 1 || st.LastError == nil {
		t.Fatalf("Status after a failed refresh = %+v, want keys kept and the failure recorded", st)
	}
}

func TestRefreshHonoursCacheControl(t *testing.T) {
	tests := []struct {
		name         string
		cacheControl string
		want         time.Duration
	}{
		{name: "no header", want: time.Hour},
		{name: "max-age within bounds", cacheControl: "public, max-age=600", want: 10 * time.Minute},
		{name: "max-age below the floor", cacheControl: "max-age=0", want: time.Minute},
		{name: "max-age above the interval", cacheControl: "max-age=86400", want: time.Hour},
		{name: "unparsable", cacheControl: "max-age=soon", want: time.Hour},
		{name: "no max-age", cacheControl: "public", want: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idp := newTestIdP(t)
			srv := newJWKSServer(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.cacheControl != "" {
					w.Header().Set("Cache-Control", tt.cacheControl)
				}
				idp.ServeHTTP(w, r)
			})
			cfg := idp.config()
			cfg.JWKSURL = srv
			cfg.RefreshInterval = time.Hour
			cfg.MinRefreshInterval = time.Minute
			v := newTestVerifier(t, cfg)
			if err := v.Refresh(context.Background()); err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			if got := v.nextRefresh(); got != tt.want {
				t.Fatalf("next refresh in %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	v, err := New(Config{
		JWKSURL: "https://idp.test/jwks", Issuer: testIssuer, Audiences: []string{testAudience},
		RetryBackoffMin: time.Second, RetryBackoffMax: 30 * time.Second,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer v.Stop()
	for _, tt := range []struct {
		failures int
		ceiling  time.Duration
	}{
		{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {5, 16 * time.Second},
		{6, 30 * time.Second}, {100, 30 * time.Second},
	} {
		for range 50 {
			got := v.backoff(tt.failures)
			if got < tt.ceiling/2 || got > tt.ceiling {
				t.Fatalf("backoff after %d failures = %v, want within [%v, %v]", tt.failures, got, tt.ceiling/2, tt.ceiling)
			}
		}
	}
}

func TestStartAndStop(t *testing.T) {
	idp := newTestIdP(t)
	v, err := New(idp.config())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := v.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := v.Start(ctx); err == nil {
		t.Error("second Start succeeded, want an error")
	}
	eventually(t, "the initial fetch", func() bool { return v.Status().KeysLoaded })
	cancel() // the refresher ends with its context; Stop still waits for it
	v.Stop()
	v.Stop()
	if err := v.Start(context.Background()); err == nil {
		t.Error("Start after Stop succeeded, want an error")
	}
	if err := v.Refresh(context.Background()); !errors.Is(err, errStopped) {
		t.Errorf("Refresh after Stop = %v, want %v", err, errStopped)
	}
	// Keys already held keep working after Stop.
	if _, err := v.Verify(context.Background(), mint(t, idp.Issuer, idp.SigningKeyID(), validClaims(nil))); err != nil {
		t.Errorf("Verify after Stop: %v", err)
	}
}

// A failing JWKS is logged when it starts failing (then at most once a minute) and when it recovers,
// and counted in Status.
func TestFetchFailuresAreLoggedAndCounted(t *testing.T) {
	idp := newTestIdP(t)
	idp.down.Store(true)
	core, logs := observer.New(zap.InfoLevel)
	cfg := idp.config()
	cfg.Logger = zap.New(core)
	v := newTestVerifier(t, cfg)
	ctx := context.Background()
	for range 3 {
		if err := v.Refresh(ctx); err == nil {
			t.Fatal("Refresh with the IdP down succeeded")
		}
	}
	warns := logs.FilterMessage("JWKS fetch failed").All()
	if len(warns) != 1 || warns[0].Level != zap.WarnLevel {
		t.Fatalf("three failed fetches logged %d warnings, want 1: %v", len(warns), logs.All())
	}
	f := warns[0].ContextMap()
	if !strings.Contains(fmt.Sprint(f["error"]), "503") || f["consecutive_failures"] != int64(1) || f["keys_kept"] != false {
		t.Fatalf("warning fields %v", f)
	}
	if st := v.Status(); st.Fetches != 3 || st.FetchFailures != 3 || st.ConsecutiveFailures != 3 {
		t.Fatalf("status %+v", st)
	}
	idp.down.Store(false)
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	rec := logs.FilterMessage("JWKS fetch recovered").All()
	if len(rec) != 1 || rec[0].Level != zap.InfoLevel || rec[0].ContextMap()["failed_fetches"] != int64(3) {
		t.Fatalf("recovery logged %v", rec)
	}
	if st := v.Status(); st.Fetches != 4 || st.FetchFailures != 3 || !st.KeysLoaded {
		t.Fatalf("status after recovery %+v", st)
	}
	// A new run of failures is logged again at once.
	idp.down.Store(true)
	_ = v.Refresh(ctx)
	if n := len(logs.FilterMessage("JWKS fetch failed").All()); n != 2 {
		t.Fatalf("a new run of failures logged %d warnings in all, want 2", n)
	}
	if f := logs.FilterMessage("JWKS fetch failed").All()[1].ContextMap(); f["keys_kept"] != true {
		t.Fatalf("the second warning says keys_kept %v, want true", f["keys_kept"])
	}
}
