package stream

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spellcoven/gateway/auth"
)

// TestStreamDeliversEventsAndAnswersPings: the hello, then every event in order, and a pong for a
// ping message.
func TestStreamDeliversEventsAndAnswersPings(t *testing.T) {
	r := newRig(t, Config{})
	c := r.connect("alice")
	r.ingest(r.roomRenamed("a"), r.roomRenamed("b"))
	for _, want := range []uint64{2, 3} {
		if f := c.next(); f.Type != string("room.updated") || f.Seq != want {
			t.Fatalf("frame %+v, want room.updated %d", f, want)
		}
	}
	c.sendJSON(map[string]string{"type": "ping"})
	if f := c.next(); f.Type != "pong" {
		t.Fatalf("frame %+v, want pong", f)
	}
}

// TestEverySessionEnds ends sessions in every way the client can cause, and checks for each the close
// code and error frame on the wire, and that the session is gone afterwards: no subscription left, no
// goroutine (goleak at the end of the package), and the Observer told why.
func TestEverySessionEnds(t *testing.T) {
	cases := []struct {
		name     string
		cfg      Config
		act      func(r *rig, c *client)
		authed   bool // connect (auth + hello) before act
		code     int
		errCode  string // error frame before the close, if any
		rejected string // Observer.Rejected reason, if any
		dropped  string // Observer.Dropped reason, if any
	}{
		{name: "no auth message in time", cfg: Config{AuthTimeout: 100 * time.Millisecond},
			act: func(*rig, *client) {}, code: int(CloseNoAuth), errCode: "auth_timeout", rejected: "auth_timeout"},
		{name: "first message over the read limit", cfg: Config{ReadLimit: 1024},
			act: func(_ *rig, c *client) {
				c.sendJSON(map[string]string{"type": "auth", "token": strings.Repeat("x", 5000)})
			}, code: int(CloseMessageTooBig), rejected: "read_limit"},
		{name: "message over the read limit after hello", authed: true,
			act: func(_ *rig, c *client) {
				c.sendJSON(map[string]string{"type": "ping", "pad": strings.Repeat("x", 5*1024)})
			}, code: int(CloseMessageTooBig), dropped: "read_limit"},
		{name: "a 100 KiB message after hello", authed: true,
			act:  func(_ *rig, c *client) { c.send(opText, []byte(strings.Repeat("y", 100*1024))) },
			code: int(CloseMessageTooBig), dropped: "read_limit"},
		{name: "first message not auth",
			act:  func(_ *rig, c *client) { c.sendJSON(map[string]string{"type": "ping"}) },
			code: int(ClosePolicyViolation), errCode: "bad_message", rejected: "bad_message"},
		{name: "first message not JSON",
			act:  func(_ *rig, c *client) { c.send(opText, []byte("hello")) },
			code: int(ClosePolicyViolation), errCode: "bad_message", rejected: "bad_message"},
		{name: "binary first message",
			act:  func(_ *rig, c *client) { c.send(opBinary, []byte(`{"type":"auth"}`)) },
			code: int(CloseUnsupportedData), errCode: "bad_message", rejected: "bad_message"},
		{name: "auth without a token",
			act:  func(_ *rig, c *client) { c.sendJSON(map[string]string{"type": "auth"}) },
			code: int(CloseUnauthorized), errCode: "unauthorized", rejected: "unauthorized"},
		{name: "a forged token",
			act: func(r *rig, c *client) {
				tok := r.token("alice", time.Hour)
				c.sendJSON(map[string]string{"type": "auth", "token": tok[:len(tok)-4] + "AAAA"})
			}, code: int(CloseUnauthorized), errCode: "unauthorized", rejected: "unauthorized"},
		{name: "an expired token",
			act: func(r *rig, c *client) {
				tok, err := r.idp.Issuer.Mint(map[string]any{"sub": "alice", "aud": testAudience, "iss": r.idp.Issuer.URL(),
					"exp": time.Now().Add(-time.Hour).Unix(), "iat": time.Now().Add(-2 * time.Hour).Unix()})
				if err != nil {
					c.t.Fatal(err)
				}
				c.sendJSON(map[string]string{"type": "auth", "token": tok})
			}, code: int(CloseTokenExpired), errCode: "unauthorized", rejected: "unauthorized"},
		{name: "unknown message after hello", authed: true,
			act:  func(_ *rig, c *client) { c.sendJSON(map[string]string{"type": "subscribe"}) },
			code: int(ClosePolicyViolation), errCode: "bad_message", dropped: "bad_message"},
		{name: "binary message after hello", authed: true,
			act:  func(_ *rig, c *client) { c.send(opBinary, []byte{1, 2, 3}) },
			code: int(CloseUnsupportedData), errCode: "bad_message", dropped: "bad_message"},
		{name: "resume in a re-auth", authed: true,
			act: func(r *rig, c *client) {
				c.sendJSON(map[string]any{"type": "auth", "token": r.token("alice", time.Hour), "resume": map[string]any{"epoch": testEpoch, "seq": 1}})
			}, code: int(ClosePolicyViolation), errCode: "bad_message", dropped: "bad_message"},
		{name: "re-auth as another user", authed: true,
			act: func(r *rig, c *client) {
				c.sendJSON(map[string]any{"type": "auth", "token": r.token("mallory", time.Hour)})
			}, code: int(CloseUnauthorized), errCode: "unauthorized", dropped: "unauthorized"},
		{name: "re-auth with a bad token", authed: true,
			act:  func(_ *rig, c *client) { c.sendJSON(map[string]any{"type": "auth", "token": "a.b.c"}) },
			code: int(CloseUnauthorized), errCode: "unauthorized", dropped: "unauthorized"},
		{name: "the token expires", cfg: Config{},
			act: func(r *rig, c *client) {
				c.sendJSON(map[string]any{"type": "auth", "token": r.token("alice", time.Second)})
				if f := c.next(); f.Type != "hello" {
					c.t.Fatalf("frame %+v, want hello", f)
				}
			}, code: int(CloseTokenExpired), errCode: "token_expired", dropped: "token_expired"},
		{name: "the client closes", authed: true,
			act:  func(_ *rig, c *client) { c.send(opClose, []byte{0x03, 0xe8}) }, // 1000
			code: 1000},
		{name: "no pong in time", authed: true, cfg: Config{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond},
			act:  func(_ *rig, c *client) { c.pongs = false },
			code: 0, dropped: "ping_timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.cfg)
			var c *client
			if tc.authed {
				c = r.connect("alice")
			} else {
				c = r.dial(nil)
			}
			tc.act(r, c)
			c.expectClose(tc.code, tc.errCode)
			r.waitEnded()
			// Events after the end reach nobody, and the client saw none after its close frame.
			r.ingest(r.roomRenamed("after"))
			if got := r.hub.Stats().Subscribers; got != 0 {
				t.Fatalf("%d subscribers after the end", got)
			}
			if tc.rejected != "" && r.counts.get(&r.counts.rejected, tc.rejected) != 1 {
				t.Errorf("rejected %v, want %s once", r.counts.rejected, tc.rejected)
			}
			if tc.dropped != "" && r.counts.get(&r.counts.dropped, tc.dropped) != 1 {
				t.Errorf("dropped %v, want %s once", r.counts.dropped, tc.dropped)
			}
		})
	}
}

// TestClientGoneEndsTheSession: a client whose TCP connection ends without a close frame leaves
// nothing behind.
func TestClientGoneEndsTheSession(t *testing.T) {
	r := newRig(t, Config{})
	c := r.connect("alice")
	c.conn.Close()
	r.waitEnded()
}

// TestPongsKeepTheSession: a client that answers pings stays connected through many of them.
func TestPongsKeepTheSession(t *testing.T) {
	r := newRig(t, Config{PingInterval: 20 * time.Millisecond, PingTimeout: 5 * time.Second})
	c := r.connect("alice")
	for c.pings < 5 {
		op, p, err := c.readFrame()
		if err != nil || op != opPing {
			t.Fatalf("after %d pings: opcode %d %q %v, want a ping", c.pings, op, p, err)
		}
		c.pings++
		c.send(opPong, p)
	}
	r.ingest(r.roomRenamed("still here"))
	if f := c.next(); f.Type != "room.updated" {
		t.Fatalf("frame %+v after %d pings, want the event", f, c.pings)
	}
	if n := r.counts.get(&r.counts.dropped, "ping_timeout"); n != 0 {
		t.Fatalf("%d sessions dropped for a missed pong", n)
	}
}

// TestReauthExtendsTheSession: a fresh token before expiry keeps the stream open past the first
// token's expiry.
func TestReauthExtendsTheSession(t *testing.T) {
	r := newRig(t, Config{})
	c := r.dial(nil)
	const short = 2 * time.Second
	c.sendJSON(map[string]any{"type": "auth", "token": r.token("alice", short)})
	if f := c.next(); f.Type != "hello" {
		t.Fatalf("frame %+v, want hello", f)
	}
	c.sendJSON(map[string]any{"type": "auth", "token": r.token("alice", time.Hour)})
	// A ping answered proves the re-auth was read before the first token's expiry fired, if it did.
	c.sendJSON(map[string]string{"type": "ping"})
	if f := c.next(); f.Type != "pong" {
		t.Fatalf("frame %+v, want pong", f)
	}
	// exp has a resolution of one second: wait past the latest the first token could expire.
	time.Sleep(short + time.Second)
	r.ingest(r.roomRenamed("later"))
	if f := c.next(); f.Type != "room.updated" {
		t.Fatalf("frame %+v after the first token expired, want the event", f)
	}
}

// TestBearerHeaderAuthenticatesTheUpgrade: the first message may omit the token after an
// Authorization header, but must not name another user.
func TestBearerHeaderAuthenticatesTheUpgrade(t *testing.T) {
	r := newRig(t, Config{})
	h := http.Header{"Authorization": {"Bearer " + r.token("bot", time.Hour)}}
	c := r.dial(h)
	c.sendJSON(map[string]string{"type": "auth"})
	if f := c.next(); f.Type != "hello" {
		t.Fatalf("frame %+v, want hello", f)
	}
	other := r.dial(h)
	other.sendJSON(map[string]string{"type": "auth", "token": r.token("alice", time.Hour)})
	other.expectClose(int(CloseUnauthorized), "unauthorized")
}

// TestHubCloseEndsStreams: the hub closing (a shutdown) closes every stream 1012 and every session ends.
func TestHubCloseEndsStreams(t *testing.T) {
	r := newRig(t, Config{})
	a, b := r.connect("alice"), r.connect("bob")
	r.hub.Close()
	for _, c := range []*client{a, b} {
		c.expectClose(int(CloseRestarting), "")
	}
	r.waitEnded()
	// A client that authenticates once the hub is closed is told to come back later.
	c := r.dial(nil)
	c.sendJSON(map[string]any{"type": "auth", "token": r.token("carol", time.Hour)})
	c.expectClose(int(CloseTryAgainLater), "unavailable")
	r.waitEnded()
	if n := r.counts.get(&r.counts.rejected, "subscribe"); n != 1 {
		t.Fatalf("rejected %v, want subscribe once", r.counts.rejected)
	}
}

// TestIdentityProviderDownIsTryAgainLater: with no signing keys to be had, a client is told to retry
// (1013), not that its token is bad.
func TestIdentityProviderDownIsTryAgainLater(t *testing.T) {
	r := newRigWith(t, Config{}, rigOptions{verifier: func(c *auth.Config) { c.JWKSURL = "http://127.0.0.1:1/jwks" }})
	c := r.dial(nil)
	c.sendJSON(map[string]any{"type": "auth", "token": r.token("alice", time.Hour)})
	c.expectClose(int(CloseTryAgainLater), "unauthorized")
	r.waitEnded()
	if n := r.counts.get(&r.counts.failed, auth.ReasonJWKSUnavailable); n != 1 {
		t.Fatalf("auth failures %v", r.counts.failed)
	}
}

func TestConfigDefaultsAndRefusals(t *testing.T) {
	cfg, err := Config{}.WithDefaults()
	want := Config{AuthTimeout: DefaultAuthTimeout, ReadLimit: DefaultReadLimit, PingInterval: DefaultPingInterval, PingTimeout: DefaultPingTimeout,
		MaxPerSubject: DefaultMaxPerSubject, MaxPerIP: DefaultMaxPerIP, MaxUnauthenticated: DefaultMaxUnauthenticated,
		MessageRate: DefaultMessageRate, MessageBurst: DefaultMessageBurst, RefusalDelay: DefaultRefusalDelay,
		StreamRate: DefaultStreamRate, StreamBurst: DefaultStreamBurst}
	if err != nil || cfg != want {
		t.Fatalf("defaults %+v %v", cfg, err)
	}
	for _, bad := range []Config{{AuthTimeout: -1}, {PingInterval: -1}, {PingTimeout: -1}, {ReadLimit: 63}, {ReadLimit: -1},
		{MaxPerSubject: -1}, {MaxPerIP: -1}, {MaxUnauthenticated: -1}, {MaxConnections: -1}, {MessageRate: -1}, {MessageBurst: -1},
		{RefusalDelay: -1}, {RefusalDelay: MaxRefusalDelay + 1}, {StreamRate: -1}, {StreamBurst: -1}} {
		if _, err := bad.WithDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if _, err := NewServer(nil, nil, nil, Config{}, Observer{}, nil); err == nil {
		t.Error("a server without hub and verifier")
	}
}

// TestClientsWaitForTheHubToStart: a client that authenticates before the hub has started (Caddy
// starts its apps in no set order) gets its hello once it has, not a refusal.
func TestClientsWaitForTheHubToStart(t *testing.T) {
	r := newRigWith(t, Config{}, rigOptions{lateHub: true})
	c := r.dial(nil)
	c.sendJSON(map[string]any{"type": "auth", "token": r.token("alice", time.Hour)})
	waitFor(t, "the socket counted as authenticated", func() bool { return r.srv.tracker.Counts().Subjects == 1 })
	r.start()
	r.ingest(snapshot(t))
	if f := c.next(); f.Type != "hello" {
		t.Fatalf("frame %+v, want hello", f)
	}
}

// TestAPongMustAnswerThePing: a pong counts only if it carries the ping's payload (RFC 6455 5.5.3);
// a client that answers with anything else is dropped when the ping's time is up.
func TestAPongMustAnswerThePing(t *testing.T) {
	r := newRig(t, Config{PingInterval: 20 * time.Millisecond, PingTimeout: 300 * time.Millisecond})
	c := r.connect("alice")
	c.pongs = false
	op, p, err := c.readFrame()
	if err != nil || op != opPing || len(p) == 0 {
		t.Fatalf("opcode %d %q %v, want a ping with a payload", op, p, err)
	}
	wrong := append([]byte(nil), p...)
	wrong[len(wrong)-1] ^= 0xff
	c.send(opPong, wrong)
	c.send(opPong, nil) // an unsolicited pong, allowed and ignored
	if code, _ := c.closed(); code != 0 {
		t.Fatalf("closed with %d, want the connection dropped without a close frame", code)
	}
	r.waitEnded()
	if n := r.counts.get(&r.counts.dropped, "ping_timeout"); n != 1 {
		t.Fatalf("dropped for a missed pong %d times, want 1", n)
	}
}

// TestAPingOutHoldsNoGoroutine: while pings wait for their pongs, each client costs only its
// session's reading goroutine.
func TestAPingOutHoldsNoGoroutine(t *testing.T) {
	r := newRig(t, Config{PingInterval: 10 * time.Millisecond, PingTimeout: time.Hour})
	before := runtime.NumGoroutine()
	const clients = 50
	cs := make([]*client, clients)
	for i := range cs {
		cs[i] = r.connect(fmt.Sprintf("user%d", i))
		cs[i].pongs = false
	}
	for _, c := range cs {
		if op, _, err := c.readFrame(); err != nil || op != opPing {
			t.Fatalf("opcode %d %v, want a ping", op, err)
		}
	}
	// Every client has a ping out now. Goroutines that started the sessions end shortly.
	limit := before + clients + 5
	deadline := time.Now().Add(waitLimit)
	for n := runtime.NumGoroutine(); n > limit; n = runtime.NumGoroutine() {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines with %d pings out, want at most %d (one per session, from %d)", n, clients, limit, before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestASilentSocketIsNotWaitedForAtAuthTimeout: a socket that sent nothing gets its error and close
// frames at auth_timeout, and its connection ends then, without waiting for an answer to the close
// (the library would wait 5 s for one).
func TestASilentSocketIsNotWaitedForAtAuthTimeout(t *testing.T) {
	r := newRig(t, Config{AuthTimeout: 50 * time.Millisecond})
	c := r.dial(nil)
	var before []frame
	for {
		op, p, err := c.readFrame()
		if err != nil {
			t.Fatalf("before the close frame: %v", err)
		}
		if op == opClose {
			if code := closeCode(p); code != int(CloseNoAuth) {
				t.Fatalf("close code %d, want %d", code, CloseNoAuth)
			}
			break
		}
		before = append(before, c.split(p)...)
	}
	if len(before) != 1 || before[0].Code != "auth_timeout" {
		t.Fatalf("frames before the close %+v, want the auth_timeout error", before)
	}
	// No answer to the close: the server ends the connection anyway, well before the library's 5 s.
	_ = c.conn.SetReadDeadline(time.Now().Add(4 * time.Second))
	if _, err := c.br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the close frame, unanswered: %v, want EOF", err)
	}
	r.waitEnded()
}

// TestFirstPingsAreSpreadOut: clients that connect together get their first ping at random points
// of the second half of ping_interval, not all at one instant.
func TestFirstPingsAreSpreadOut(t *testing.T) {
	const interval = time.Second
	r := newRig(t, Config{PingInterval: interval, PingTimeout: time.Hour})
	const clients = 20
	after := make([]time.Duration, clients)
	var wg sync.WaitGroup
	for i := range clients {
		start := time.Now()
		c := r.connect(fmt.Sprintf("user%d", i))
		c.pongs = false
		wg.Go(func() {
			if op, _, err := c.readFrame(); err != nil || op != opPing {
				t.Errorf("client %d: opcode %d %v, want a ping", i, op, err)
				return
			}
			after[i] = time.Since(start)
		})
	}
	wg.Wait()
	lo, hi := slices.Min(after), slices.Max(after)
	if lo < interval/2 {
		t.Fatalf("a first ping %v after connecting, before half the interval", lo)
	}
	if hi-lo < interval/10 {
		t.Fatalf("the first pings came %v to %v after connecting: all at once", lo, hi)
	}
}
