package main

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// The edge's stream timers in a run with abusive clients: short, so that a client that stops
// answering is gone within the window.
const (
	abusePingInterval = 2 * time.Second
	abusePingTimeout  = 2 * time.Second
	abuseAuthTimeout  = 5 * time.Second // the edge's default
)

// oversized is the message an abusive client sends after its hello: over the edge's 4 KiB read limit.
var oversized = []byte(`{"type":"ping","pad":"` + strings.Repeat("x", 8<<10) + `"}`)

// Kinds of abusive clients, in the proportions the soak runs them: half never authenticate; the
// rest, in turn, send an oversized message after their hello, stop answering pings (a phone that
// lost its network), or reconnect in a tight loop with one shared token.
const (
	kindSilent = iota
	kindOversized
	kindNoPong
	kindLoop
)

func abuseKind(i int) int {
	if i%2 == 0 {
		return kindSilent
	}
	return 1 + (i/2)%3
}

// AbuseReport is what the abusive clients did and what the edge did with them.
type AbuseReport struct {
	Clients int `json:"clients"`
	// Silent, Oversized, NoPong, Loopers count the clients of each kind.
	Silent    int `json:"silent"`
	Oversized int `json:"oversized"`
	NoPong    int `json:"no_pong"`
	Loopers   int `json:"loopers"`
	// SilentClosed and OversizedClosed count those the edge closed with 4002 and 1009.
	SilentClosed    int64 `json:"silent_closed_4002"`
	OversizedClosed int64 `json:"oversized_closed_1009"`
	// Reconnects counts the loopers' connections; TooMany those closed 4005 (the subject's limit of
	// streams), RateLimited those closed 4029 (its rate of new streams); Streamed those that got
	// their hello.
	Reconnects  int64 `json:"reconnects"`
	TooMany     int64 `json:"closed_4005"`
	RateLimited int64 `json:"closed_4029"`
	Streamed    int64 `json:"streamed"`
	// GoneSeconds is how long after the window the edge still held sockets beyond the measured
	// clients: the silent ones wait out auth_timeout from their connection, the others are ended at
	// once or within ping_interval + ping_timeout.
	GoneSeconds float64 `json:"gone_seconds"`
	// QuietSeconds is how long after the window the edge ran no more goroutines than
	// GoroutinesBefore, its count before the abusive clients came, give or take a few: the timers
	// and close handshakes of their sessions had ended too.
	QuietSeconds     float64 `json:"quiet_seconds"`
	GoroutinesBefore float64 `json:"goroutines_before"`
}

// abusers are the abusive clients of a run, in the process that runs them (see abuseproc.go).
type abusers struct {
	report *AbuseReport
	cancel context.CancelFunc // stops the loopers
	wg     sync.WaitGroup
	mu     sync.Mutex
	held   []*websocket.Conn // the no-pong clients' connections, closed by close
}

// abuseConfig is what the abusive clients need: the stream's URL, a token for each client (empty for
// the loopers, which share one) and the loopers' shared token.
type abuseConfig struct {
	URL    string   `json:"url"`
	Tokens []string `json:"tokens"`
	Shared string   `json:"shared"`
}

// startAbusers starts one abusive client per token of cfg.
func startAbusers(ctx context.Context, cfg abuseConfig) *abusers {
	loopCtx, cancel := context.WithCancel(ctx)
	n := len(cfg.Tokens)
	a := &abusers{report: &AbuseReport{Clients: n}, cancel: cancel}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for i := range n {
		kind := abuseKind(i)
		switch kind {
		case kindSilent:
			a.report.Silent++
		case kindOversized:
			a.report.Oversized++
		case kindNoPong:
			a.report.NoPong++
		case kindLoop:
			a.report.Loopers++
		}
		a.wg.Go(func() {
			// Only the loopers stop with the window; the others wait for the edge to end them.
			if kind == kindLoop {
				a.run(loopCtx, hc, cfg.URL, kind, cfg.Shared)
			} else {
				a.run(ctx, hc, cfg.URL, kind, cfg.Tokens[i])
			}
		})
	}
	return a
}

func (a *abusers) run(ctx context.Context, hc *http.Client, url string, kind int, token string) {
	auth := []byte(`{"type":"auth","token":"` + token + `"}`)
	for {
		conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc})
		if err != nil {
			if kind == kindLoop && ctx.Err() == nil {
				continue // a refused upgrade: try again, as an abuser would
			}
			return
		}
		conn.SetReadLimit(clientReadLimit)
		switch kind {
		case kindSilent:
			if code := readUntilClosed(ctx, conn); code == 4002 {
				atomic.AddInt64(&a.report.SilentClosed, 1)
			}
			return
		case kindOversized:
			if conn.Write(ctx, websocket.MessageText, auth) == nil && readHello(ctx, conn) &&
				conn.Write(ctx, websocket.MessageText, oversized) == nil {
				if code := readUntilClosed(ctx, conn); code == websocket.StatusMessageTooBig {
					atomic.AddInt64(&a.report.OversizedClosed, 1)
				}
			}
			conn.CloseNow()
			return
		case kindNoPong:
			// After the hello this client reads nothing more, so it answers no ping.
			if conn.Write(ctx, websocket.MessageText, auth) == nil && readHello(ctx, conn) {
				a.mu.Lock()
				a.held = append(a.held, conn)
				a.mu.Unlock()
				return
			}
			conn.CloseNow()
			return
		case kindLoop:
			atomic.AddInt64(&a.report.Reconnects, 1)
			if conn.Write(ctx, websocket.MessageText, auth) == nil {
				_, msg, err := conn.Read(ctx)
				switch {
				case err == nil && strings.HasPrefix(string(msg), `{"type":"hello"`):
					atomic.AddInt64(&a.report.Streamed, 1)
				case err == nil && strings.Contains(string(msg), `"too_many_streams"`), websocket.CloseStatus(err) == 4005:
					atomic.AddInt64(&a.report.TooMany, 1)
				case err == nil && strings.Contains(string(msg), `"rate_limited"`), websocket.CloseStatus(err) == 4029:
					atomic.AddInt64(&a.report.RateLimited, 1)
				}
			}
			conn.CloseNow()
			if ctx.Err() != nil {
				return
			}
		}
	}
}

// readHello reads the first message and reports whether it was the hello.
func readHello(ctx context.Context, conn *websocket.Conn) bool {
	_, msg, err := conn.Read(ctx)
	return err == nil && strings.HasPrefix(string(msg), `{"type":"hello"`)
}

// readUntilClosed reads until the connection ends and returns the close code (-1 without one).
func readUntilClosed(ctx context.Context, conn *websocket.Conn) websocket.StatusCode {
	for {
		if _, _, err := conn.Read(ctx); err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

// stop ends the loopers and waits for every abusive goroutine (the others end when the edge closes
// their connection), but not for the connections held without reading.
func (a *abusers) stop() {
	a.cancel()
	a.wg.Wait()
}

// close closes the connections still held on this side.
func (a *abusers) close() {
	a.stop()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.held {
		c.CloseNow()
	}
	a.held = nil
}
