package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/spellcoven/gateway/internal/backoff"
)

// errStopped is the fetch error after Stop.
var errStopped = errors.New("verifier is stopped")

// fetchCall is one JWKS fetch that any number of callers wait for.
type fetchCall struct {
	done chan struct{}
	err  error // set before done is closed
}

// wait blocks until the fetch ends or ctx is done.
func (c *fetchCall) wait(ctx context.Context) error {
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Start begins refreshing the keys in the background: at once if none are held yet, then every
// Config.RefreshInterval (or sooner, per Cache-Control max-age), and with exponential backoff while
// fetches fail. The refresher stops when ctx is done or Stop is called. Start returns an error if the
// Verifier was already started or stopped.
func (v *Verifier) Start(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case v.stopped:
		return errors.New("auth: verifier is stopped")
	case v.started:
		return errors.New("auth: verifier is already started")
	}
	v.started = true
	v.workers.Add(1)
	go v.refreshLoop(ctx)
	return nil
}

// Stop ends the background refresh and any in-flight fetch, and waits for them. Afterwards Verify
// keeps working with the keys already held but fetches no more. Stop may be called more than once.
func (v *Verifier) Stop() {
	v.mu.Lock()
	v.stopped = true
	v.mu.Unlock()
	v.stopLife()
	v.workers.Wait()
}

// Refresh fetches the JWKS now, or joins the fetch already in flight, and waits for it within ctx.
// It is for administrative reloads; Verify and Start fetch by themselves.
func (v *Verifier) Refresh(ctx context.Context) error {
	v.mu.Lock()
	call := v.joinOrFetchLocked()
	v.mu.Unlock()
	return call.wait(ctx)
}

func (v *Verifier) refreshLoop(ctx context.Context) {
	defer v.workers.Done()
	var delay time.Duration
	if v.keys.Load() != nil {
		delay = v.nextRefresh()
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-v.life.Done():
			return
		case <-timer.C:
		}
		v.mu.Lock()
		call := v.joinOrFetchLocked()
		v.mu.Unlock()
		// The fetch is bounded by FetchTimeout and by Stop; ctx ending just stops the wait.
		_ = call.wait(ctx)
		timer.Reset(v.nextRefresh())
	}
}

// nextRefresh is the delay before the refresher's next fetch: the backoff after a failure, else the
// refresh interval.
func (v *Verifier) nextRefresh() time.Duration {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.failures > 0 {
		return max(time.Until(v.retryAt), 0)
	}
	return v.refreshAfter
}

// fetchWhenEmpty is Verify's fetch when no keys are held. While fetches keep failing it waits out the
// backoff instead of fetching, so a down identity provider sees at most one request per backoff step
// however many tokens arrive.
func (v *Verifier) fetchWhenEmpty(ctx context.Context) error {
	v.mu.Lock()
	if v.keys.Load() != nil {
		v.mu.Unlock()
		return nil
	}
	call := v.inflight
	if call == nil {
		if now := time.Now(); now.Before(v.retryAt) {
			err := v.lastErr
			v.mu.Unlock()
			return fmt.Errorf("next attempt in %s: %w", v.retryAt.Sub(now).Round(time.Millisecond), err)
		}
		call = v.joinOrFetchLocked()
	}
	v.mu.Unlock()
	return call.wait(ctx)
}

// fetchForUnknownKID re-fetches the keys for a token whose kid is unknown, at most once per
// Config.UnknownKIDCooldown; a fetch already in flight is joined instead. It reports whether the
// keys may have changed, that is, whether the caller should look again.
func (v *Verifier) fetchForUnknownKID(ctx context.Context) bool {
	v.mu.Lock()
	call := v.inflight
	if call == nil {
		now := time.Now()
		if !v.lastUnknownKID.IsZero() && now.Sub(v.lastUnknownKID) < v.cfg.UnknownKIDCooldown {
			v.mu.Unlock()
			return false
		}
		v.lastUnknownKID = now
		call = v.joinOrFetchLocked()
	}
	v.mu.Unlock()
	return call.wait(ctx) == nil
}

// joinOrFetchLocked returns the in-flight fetch, starting one if none runs. v.mu must be held.
func (v *Verifier) joinOrFetchLocked() *fetchCall {
	if v.inflight != nil {
		return v.inflight
	}
	call := &fetchCall{done: make(chan struct{})}
	if v.stopped {
		call.err = errStopped
		close(call.done)
		return call
	}
	v.inflight = call
	v.workers.Add(1)
	// The fetch runs on its own goroutine so that a caller whose context ends stops waiting without
	// cancelling the fetch for everyone else; Stop and FetchTimeout bound it.
	go func() {
		defer v.workers.Done()
		res, err := v.fetchKeySet(v.life)
		v.finishFetch(call, res, err)
	}()
	return call
}

// finishFetch records a fetch's outcome and releases its waiters.
func (v *Verifier) finishFetch(call *fetchCall, res fetchResult, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := time.Now()
	v.lastAttempt = now
	v.fetches++
	if err != nil {
		v.fetchFailures++
		v.lastErr = err
		v.failures++
		v.retryAt = now.Add(v.backoff(v.failures))
		v.logFailure(now, err)
	} else {
		if v.failures > 0 {
			v.cfg.Logger.Info("JWKS fetch recovered", zap.String("jwks", v.jwksName),
				zap.Int("failed_fetches", v.failures), zap.Int("keys", len(res.keys.all)))
		}
		v.keys.Store(res.keys)
		v.lastSuccess = now
		v.lastErr = nil
		v.failures = 0
		v.retryAt = time.Time{}
		v.refreshAfter = v.cfg.RefreshInterval
		if res.maxAge >= 0 {
			v.refreshAfter = min(max(res.maxAge, v.cfg.MinRefreshInterval), v.cfg.RefreshInterval)
		}
	}
	call.err = err
	v.inflight = nil
	close(call.done)
}

// FailureLogInterval is the least time between two warnings about failing JWKS fetches.
const FailureLogInterval = time.Minute

// logFailure warns about a failed fetch: the first of a run of failures, then at most once per
// FailureLogInterval. v.mu is held.
func (v *Verifier) logFailure(now time.Time, err error) {
	if v.failures > 1 && now.Sub(v.lastFailureLog) < FailureLogInterval {
		return
	}
	v.lastFailureLog = now
	v.cfg.Logger.Warn("JWKS fetch failed", zap.String("jwks", v.jwksName), zap.Error(err),
		zap.Int("consecutive_failures", v.failures), zap.Bool("keys_kept", v.keys.Load() != nil),
		zap.Duration("retry_in", v.retryAt.Sub(now).Round(time.Millisecond)))
}

// backoff is the jittered wait after the given number of consecutive failures (at least one):
// RetryBackoffMin doubled per further failure, capped at RetryBackoffMax, then drawn from its upper
// half.
func (v *Verifier) backoff(failures int) time.Duration {
	return backoff.Policy{Initial: v.cfg.RetryBackoffMin, Max: v.cfg.RetryBackoffMax}.Delay(max(failures-1, 0))
}

// Status describes the Verifier's keys, for health endpoints.
type Status struct {
	// KeysLoaded reports whether any signing keys are held; Verify can succeed only if so.
	KeysLoaded bool
	// KeyCount is the number of usable signing keys held.
	KeyCount int
	// LastFetch is when the keys were last fetched successfully; zero if never.
	LastFetch time.Time
	// LastAttempt is when the last fetch, successful or not, ended; zero if none has.
	LastAttempt time.Time
	// LastError is the error of the last fetch, nil if it succeeded or none has ended. It names the
	// JWKS by its URL without credentials or query string.
	LastError error
	// ConsecutiveFailures counts the failed fetches since the last successful one.
	ConsecutiveFailures int
	// Fetches and FetchFailures count every fetch that ended, and those that failed, since New.
	Fetches, FetchFailures uint64
}

// Status returns a snapshot of the key state.
func (v *Verifier) Status() Status {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := Status{
		LastFetch:           v.lastSuccess,
		LastAttempt:         v.lastAttempt,
		LastError:           v.lastErr,
		ConsecutiveFailures: v.failures,
		Fetches:             v.fetches,
		FetchFailures:       v.fetchFailures,
	}
	if ks := v.keys.Load(); ks != nil {
		s.KeysLoaded = true
		s.KeyCount = len(ks.all)
	}
	return s
}
