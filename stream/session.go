package stream

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/spellcoven/gateway/auth"
	"github.com/spellcoven/gateway/hub"
	"github.com/spellcoven/gateway/internal/tokenbucket"
	"github.com/spellcoven/gateway/internal/wsframe"
)

// errEnded is what the read side returns when the session already decided to end (an error frame was
// sent and the close begun).
var errEnded = errors.New("stream: session ended")

// session is one client's stream. One goroutine at a time reads client messages (first the
// authenticating one, then a fresh one for the read loop) and ends the session; the hub writes events;
// timers send pings and enforce the auth timeout and the token's expiry.
type session struct {
	srv  *Server
	sock *Socket
	c    *websocket.Conn // sock's: reads client messages, pings, closes
	adm  *Admission
	// What the session keeps of its token, set by header auth or the first message: the subject
	// ("" until then) and the expiry. Not the token's map of claims, which would cost an idle
	// connection about a kilobyte.
	user    string
	expires time.Time
	remote  string
	rate    tokenbucket.Bucket // client messages once streaming

	mu        sync.Mutex
	sub       *hub.Subscription
	streaming bool // authenticated and subscribed
	expiry    *time.Timer
	ping      *time.Timer
	pingSeq   uint64    // the last ping's payload
	pingOut   uint64    // the ping awaiting its pong, 0 if none
	pingDue   time.Time // when the next ping goes out (no ping out)
	pongDue   time.Time // when the client is dropped (a ping out)
	// ending is set once the session has begun to end: timers do nothing more and are not re-armed.
	ending bool
	// work counts timer callbacks under way (a ping being written, a close with an error frame):
	// the session ends only after them, so none outlives it.
	work sync.WaitGroup
}

// run is the session's first goroutine: authentication and subscription. The read loop continues on
// a fresh goroutine: authentication (JSON decoding, signature checks) grew this one's stack, and a
// long-lived idle client should cost a small one.
func (s *session) run() {
	if err := s.authenticate(); err != nil {
		s.finish(err)
		return
	}
	go s.readLoop()
}

// readLoop reads client messages until the stream ends, then ends the session.
func (s *session) readLoop() {
	s.mu.Lock()
	if !s.ending {
		// The first ping comes at a random point of the second half of the interval: clients that
		// connected together (an edge restarted, a network back) are not all pinged at one instant,
		// interval after interval.
		first := s.srv.cfg.PingInterval/2 + rand.N(s.srv.cfg.PingInterval/2+1)
		s.pingDue = time.Now().Add(first)
		s.ping = time.AfterFunc(first, s.pingTimer)
	}
	s.mu.Unlock()
	s.finish(s.read())
}

// read handles client messages until one ends the session or the connection fails.
func (s *session) read() error {
	for {
		typ, data, err := s.c.Read(context.Background())
		if err != nil {
			return err
		}
		if !s.rate.Take(time.Now(), s.srv.cfg.MessageRate, s.srv.cfg.MessageBurst) {
			s.srv.obs.dropped(ReasonMessageRate)
			s.srv.logRefusal(ReasonMessageRate, "user", s.user)
			s.fail(CloseRateLimited, "rate_limited", "more client messages than the edge accepts per second")
			return errEnded
		}
		m, ok := s.decode(typ, data)
		if !ok {
			s.srv.obs.dropped("bad_message")
			return errEnded
		}
		switch m.Type {
		case msgPing:
			// An error means the hub evicted the client and is closing the connection with 4008; the
			// next Read returns when it has.
			_ = s.sub.Send(pongFrame)
		case msgAuth:
			if !s.reauthenticate(m) {
				return errEnded
			}
		}
	}
}

// decode parses a client message, or fails the session and reports false.
func (s *session) decode(typ websocket.MessageType, data []byte) (clientMessage, bool) {
	if typ != websocket.MessageText {
		s.fail(CloseUnsupportedData, "bad_message", "messages are JSON text")
		return clientMessage{}, false
	}
	m, err := decodeClientMessage(data)
	if err != nil {
		s.fail(ClosePolicyViolation, "bad_message", err.Error())
		return clientMessage{}, false
	}
	return m, true
}

// authenticate waits for the first message, verifies it and subscribes.
func (s *session) authenticate() error {
	noAuth := time.AfterFunc(s.srv.cfg.AuthTimeout, func() {
		s.srv.obs.rejected("auth_timeout")
		// A client silent this long is not waited for to answer the close either: a flood of
		// sockets that never speak would otherwise each hold two goroutines for the handshake.
		s.end(CloseNoAuth, "auth_timeout", "no auth message in time", false)
	})
	typ, data, err := s.c.Read(context.Background())
	if !noAuth.Stop() {
		return errEnded // the timeout fired and is closing the connection
	}
	if err != nil {
		return err
	}
	m, ok := s.decode(typ, data)
	if ok && m.Type != msgAuth {
		s.fail(ClosePolicyViolation, "bad_message", `the first message must be {"type":"auth",...}`)
		ok = false
	}
	if !ok {
		s.srv.obs.rejected("bad_message")
		return errEnded
	}
	if m.Token != "" || s.user == "" {
		claims, ok := s.verify(m.Token, s.refuse)
		if ok && s.user != "" && claims.Subject != s.user {
			s.refuse(CloseUnauthorized, "unauthorized", "the token is for another user than the Authorization header's")
			ok = false
		}
		if !ok {
			s.srv.obs.rejected("unauthorized")
			return errEnded
		}
		s.user, s.expires = claims.Subject, claims.Expiry
	}
	if reason := s.adm.authenticate(s.user, s.srv.cfg, time.Now()); reason != "" {
		s.srv.obs.rejected(reason)
		s.srv.logRefusal(reason, "user", s.user)
		if reason == ReasonStreamRate {
			s.refuse(CloseRateLimited, "rate_limited", "this user opens streams faster than the edge allows; reconnect with backoff")
		} else {
			s.refuse(CloseTooManyStreams, "too_many_streams", "this user holds as many streams as the edge allows; close one")
		}
		return errEnded
	}
	// Caddy may serve requests before the hub's app has started (it starts apps in no set order):
	// wait for it, as long as a client may take to authenticate, rather than turn clients away.
	select {
	case <-s.srv.hub.Settled():
	default:
		t := time.NewTimer(s.srv.cfg.AuthTimeout)
		select {
		case <-s.srv.hub.Settled():
		case <-t.C:
		}
		t.Stop()
	}
	sub, err := s.srv.hub.Subscribe(m.Resume, (*hubConn)(s.sock))
	if err != nil {
		s.srv.obs.rejected("subscribe")
		s.fail(CloseTryAgainLater, "unavailable", "the event stream is unavailable; retry")
		return errEnded
	}
	s.mu.Lock()
	if s.ending { // closing already (a hub shutdown cannot reach a subscription it has not made)
		s.mu.Unlock()
		sub.Close()
		return errEnded
	}
	s.sub, s.streaming = sub, true
	s.mu.Unlock()
	s.armExpiry()
	if c := s.srv.logger.Check(zapcore.DebugLevel, "stream opened"); c != nil {
		c.Write(zap.String("user", s.user), zap.String("remote", s.remote), zap.Bool("resume", m.Resume != nil))
	}
	return nil
}

// reauthenticate extends the session with a fresh token for the same user.
func (s *session) reauthenticate(m clientMessage) bool {
	if m.Resume != nil {
		s.srv.obs.dropped("bad_message")
		s.fail(ClosePolicyViolation, "bad_message", "resume is only accepted in the first message")
		return false
	}
	claims, ok := s.verify(m.Token, s.fail)
	if ok && claims.Subject != s.user {
		s.fail(CloseUnauthorized, "unauthorized", "a session cannot change user")
		ok = false
	}
	if !ok {
		s.srv.obs.dropped("unauthorized")
		return false
	}
	s.user, s.expires = claims.Subject, claims.Expiry
	s.armExpiry()
	return true
}

// verify checks a token, or ends the session with end and the close code its refusal calls for.
func (s *session) verify(token string, end func(websocket.StatusCode, string, string)) (*auth.Claims, bool) {
	if token == "" {
		s.srv.obs.authFailed("missing")
		end(CloseUnauthorized, "unauthorized", "the auth message needs a token")
		return nil, false
	}
	claims, err := s.srv.verifier.Verify(context.Background(), token)
	if err != nil {
		reason := auth.Reason(err)
		s.srv.obs.authFailed(reason)
		code := CloseUnauthorized
		switch reason {
		case auth.ReasonExpired:
			code = CloseTokenExpired
		case auth.ReasonJWKSUnavailable:
			code = CloseTryAgainLater
		}
		end(code, "unauthorized", err.Error())
		return nil, false
	}
	return claims, true
}

// armExpiry (re)starts the timer that closes the stream when the token expires.
func (s *session) armExpiry() {
	d := time.Until(s.expires)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ending {
		return
	}
	if s.expiry == nil {
		s.expiry = time.AfterFunc(d, func() {
			s.srv.obs.dropped("token_expired")
			s.fail(CloseTokenExpired, "token_expired", "the token expired; reconnect with a fresh one")
		})
		return
	}
	s.expiry.Reset(d)
}

// pingTimer is the ping timer's callback. It sends a ping when one is due and drops a client whose
// pong is overdue: its connection is closed at once, without a close handshake that an unresponsive
// peer would not complete. No goroutine waits for a pong: onPong, on the reading goroutine, notes it
// and re-arms the timer for the next ping, PingInterval later.
func (s *session) pingTimer() {
	s.mu.Lock()
	if s.ending {
		s.mu.Unlock()
		return
	}
	now := time.Now()
	if s.pingOut != 0 {
		if now.Before(s.pongDue) { // the timer was re-armed meanwhile: not yet
			s.ping.Reset(s.pongDue.Sub(now))
			s.mu.Unlock()
			return
		}
		s.ending = true
		s.mu.Unlock()
		s.srv.obs.dropped("ping_timeout")
		if c := s.srv.logger.Check(zapcore.DebugLevel, "stream dropped: no pong in time"); c != nil {
			c.Write(zap.String("user", s.user), zap.String("remote", s.remote))
		}
		_ = s.c.CloseNow()
		return
	}
	if now.Before(s.pingDue) {
		s.ping.Reset(s.pingDue.Sub(now))
		s.mu.Unlock()
		return
	}
	s.pingSeq++
	s.pingOut, s.pongDue = s.pingSeq, now.Add(s.srv.cfg.PingTimeout)
	s.ping.Reset(s.srv.cfg.PingTimeout)
	frame := pingFrame(s.pingSeq)
	s.work.Add(1)
	s.mu.Unlock()
	defer s.work.Done()
	// Bounded by the pong's deadline: a socket that cannot take a ping by then has a client that
	// cannot answer it; the failed write leaves the connection to be dropped when the timer fires.
	ctx, cancel := context.WithTimeout(context.Background(), s.srv.cfg.PingTimeout)
	_ = s.sock.fc.writeWhole(ctx, frame[:])
	cancel()
}

// onPong takes a pong the client sent (on the reading goroutine): the answer to the ping out
// re-arms the timer for the next ping.
func (s *session) onPong(payload []byte) {
	if len(payload) != 8 {
		return
	}
	seq := binary.BigEndian.Uint64(payload)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ending || s.pingOut == 0 || seq != s.pingOut {
		return
	}
	s.pingOut = 0
	s.pingDue = time.Now().Add(s.srv.cfg.PingInterval)
	s.ping.Reset(s.srv.cfg.PingInterval)
}

// pingFrame is a server ping whose payload is seq.
func pingFrame(seq uint64) [10]byte {
	f := [10]byte{0x80 | wsframe.OpPing, 8}
	binary.BigEndian.PutUint64(f[2:], seq)
	return f
}

// refuse ends a session whose auth message is refused: it holds the socket for RefusalDelay, then
// fails it. It runs on the session's first goroutine, before any timer of the session is armed.
func (s *session) refuse(code websocket.StatusCode, errCode, message string) {
	t := time.NewTimer(s.srv.cfg.RefusalDelay)
	<-t.C
	s.fail(code, errCode, message)
}

// fail sends an error message and closes the stream with code. It is safe from any goroutine and acts
// once; it returns when the connection is closed (the close handshake is bounded by the library).
func (s *session) fail(code websocket.StatusCode, errCode, message string) {
	s.end(code, errCode, message, true)
}

// end is fail; without handshake, it closes the connection right after the close frame instead of
// waiting for the client's.
func (s *session) end(code websocket.StatusCode, errCode, message string, handshake bool) {
	s.mu.Lock()
	if s.ending {
		s.mu.Unlock()
		return
	}
	s.ending = true
	s.work.Add(1)
	sub := s.sub
	s.mu.Unlock()
	defer s.work.Done()
	if sub != nil {
		sub.Close() // no more events after the error
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.sock.fc.writeText(ctx, serverError(errCode, message))
	if handshake {
		_ = s.c.Close(code, errCode)
		return
	}
	_ = s.sock.fc.writeWhole(ctx, wsframe.Close(uint16(code), errCode))
	_ = s.c.CloseNow()
}

// finish ends the session on its reading goroutine, whatever ended it (err is what the read side
// returned): the subscription is removed, the timers stopped, the connection closed, and the timer
// callbacks under way waited for.
func (s *session) finish(err error) {
	s.mu.Lock()
	byOther := s.ending // fail or a missed pong is closing the connection
	s.ending = true
	sub, streaming := s.sub, s.streaming
	if s.expiry != nil {
		s.expiry.Stop()
	}
	if s.ping != nil {
		s.ping.Stop()
	}
	s.mu.Unlock()
	if sub != nil {
		sub.Close()
	}
	if byOther {
		s.work.Wait() // let it close with its own code
	}
	if errors.Is(err, websocket.ErrMessageTooBig) {
		// The library has sent close 1009; Close waits (boundedly) for the client's answer while
		// discarding the rest of the message, so the client reads the close frame rather than a reset.
		if streaming {
			s.srv.obs.dropped("read_limit")
		} else {
			s.srv.obs.rejected("read_limit")
		}
		_ = s.c.Close(CloseMessageTooBig, "")
	} else {
		// The client closed (the library answered), the session ended itself, or the connection
		// failed: nothing is left to say.
		_ = s.c.CloseNow()
	}
	s.work.Wait()
	s.adm.Release()
	if c := s.srv.logger.Check(zapcore.DebugLevel, "stream closed"); c != nil && s.user != "" {
		c.Write(zap.String("user", s.user), zap.String("remote", s.remote), zap.Int("code", int(websocket.CloseStatus(err))))
	}
	s.srv.sessionEnded()
}
