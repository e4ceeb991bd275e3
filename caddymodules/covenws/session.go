package covenws

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/spellcoven/gateway/auth"
	"github.com/spellcoven/gateway/hub"
)

// session is one client's stream. Its goroutine reads client messages; the hub writes events.
type session struct {
	h      *Handler
	c      *websocket.Conn
	claims *auth.Claims // set by header auth or the first message
	remote string

	sub *hub.Subscription

	mu      sync.Mutex
	expiry  *time.Timer
	ping    *time.Timer
	closing bool
}

// run is the session's goroutine: authentication, subscription, then the read loop.
func (s *session) run() {
	if !s.authenticate() {
		s.stopTimers()
		return
	}
	// Authentication (JSON decoding, signature checks) grew this goroutine's stack; the long-lived read
	// loop continues on a fresh goroutine whose stack stays small, so an idle client costs less.
	go s.readLoop()
}

// readLoop reads client messages until the stream ends.
func (s *session) readLoop() {
	defer s.stopTimers()
	s.mu.Lock()
	s.ping = time.AfterFunc(time.Duration(s.h.PingInterval), s.sendPing)
	s.mu.Unlock()
	defer s.sub.Close()
	for {
		typ, data, err := s.c.Read(context.Background())
		if err != nil {
			return // closed by the client, by us, or too big (1009 sent by the library)
		}
		if typ != websocket.MessageText {
			s.fail(websocket.StatusUnsupportedData, "bad_message", "messages are JSON text")
			return
		}
		m, err := decodeClientMessage(data)
		if err != nil {
			s.fail(websocket.StatusPolicyViolation, "bad_message", err.Error())
			return
		}
		switch m.Type {
		case msgPing:
			if err := s.sub.Send(pongFrame); err != nil {
				return
			}
		case msgAuth:
			if !s.reauthenticate(m) {
				return
			}
		}
	}
}

// authenticate waits for the first message, verifies it and subscribes. It reports whether the
// session goes on.
func (s *session) authenticate() bool {
	noAuth := time.AfterFunc(time.Duration(s.h.AuthTimeout), func() {
		s.h.metrics.WSRejected.WithLabelValues("auth_timeout").Inc()
		s.fail(CloseNoAuth, "auth_timeout", "no auth message in time")
	})
	typ, data, err := s.c.Read(context.Background())
	if !noAuth.Stop() {
		return false // the timeout fired and is closing the connection
	}
	if err != nil {
		return false
	}
	if typ != websocket.MessageText {
		s.fail(websocket.StatusUnsupportedData, "bad_message", "messages are JSON text")
		return false
	}
	m, err := decodeClientMessage(data)
	if err == nil && m.Type != msgAuth {
		err = errors.New(`the first message must be {"type":"auth",...}`)
	}
	if err != nil {
		s.h.metrics.WSRejected.WithLabelValues("bad_message").Inc()
		s.fail(websocket.StatusPolicyViolation, "bad_message", err.Error())
		return false
	}
	if m.Token != "" || s.claims == nil {
		claims, ok := s.verify(m.Token)
		if !ok {
			return false
		}
		if s.claims != nil && claims.Subject != s.claims.Subject {
			s.fail(CloseUnauthorized, "unauthorized", "the token is for another user than the Authorization header's")
			return false
		}
		s.claims = claims
	}
	s.armExpiry()
	sub, err := s.h.hub.Subscribe(m.Resume, &wsConn{c: s.c})
	if err != nil {
		s.h.metrics.WSRejected.WithLabelValues("subscribe").Inc()
		s.fail(websocket.StatusTryAgainLater, "unavailable", "the event stream is unavailable; retry")
		return false
	}
	s.mu.Lock()
	s.sub = sub
	s.mu.Unlock()
	if c := s.h.logger.Check(zapcore.DebugLevel, "stream opened"); c != nil {
		c.Write(zap.String("user", s.claims.Subject), zap.String("remote", s.remote), zap.Bool("resume", m.Resume != nil))
	}
	return true
}

// reauthenticate extends the session with a fresh token for the same user.
func (s *session) reauthenticate(m clientMessage) bool {
	if m.Resume != nil {
		s.fail(websocket.StatusPolicyViolation, "bad_message", "resume is only accepted in the first message")
		return false
	}
	claims, ok := s.verify(m.Token)
	if !ok {
		return false
	}
	if claims.Subject != s.claims.Subject {
		s.fail(CloseUnauthorized, "unauthorized", "a session cannot change user")
		return false
	}
	s.claims = claims
	s.armExpiry()
	return true
}

func (s *session) verify(token string) (*auth.Claims, bool) {
	if token == "" {
		s.h.metrics.AuthFailures.WithLabelValues("missing", "ws").Inc()
		s.fail(CloseUnauthorized, "unauthorized", "the auth message needs a token")
		return nil, false
	}
	claims, err := s.h.verifier.Verify(context.Background(), token)
	if err != nil {
		reason := auth.Reason(err)
		s.h.metrics.AuthFailures.WithLabelValues(reason, "ws").Inc()
		code := CloseUnauthorized
		if reason == auth.ReasonExpired {
			code = CloseTokenExpired
		}
		if reason == auth.ReasonJWKSUnavailable {
			code = int(websocket.StatusTryAgainLater)
		}
		s.fail(websocket.StatusCode(code), "unauthorized", err.Error())
		return nil, false
	}
	return claims, true
}

// armExpiry (re)starts the timer that closes the stream when the token expires.
func (s *session) armExpiry() {
	d := time.Until(s.claims.Expiry)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expiry == nil {
		s.expiry = time.AfterFunc(d, func() {
			s.fail(CloseTokenExpired, "token_expired", "the token expired; reconnect with a fresh one")
		})
		return
	}
	s.expiry.Reset(d)
}

// sendPing pings the client from a timer goroutine and re-arms itself; a client that does not answer
// in time is dropped (the library closes the connection when the ping's context ends).
func (s *session) sendPing() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(s.h.PingTimeout))
	err := s.c.Ping(ctx)
	cancel()
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closing {
		s.ping.Reset(time.Duration(s.h.PingInterval))
	}
}

// fail sends an error message and closes the stream with code. It is safe from any goroutine and
// acts once.
func (s *session) fail(code websocket.StatusCode, errCode, message string) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.closing = true
	sub := s.sub
	s.mu.Unlock()
	if sub != nil {
		sub.Close() // no more events after the error
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.c.Write(ctx, websocket.MessageText, serverError(errCode, message))
	_ = s.c.Close(code, errCode)
}

func (s *session) stopTimers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	if s.expiry != nil {
		s.expiry.Stop()
	}
	if s.ping != nil {
		s.ping.Stop()
	}
}

// wsConn is the hub's view of the socket.
type wsConn struct {
	c *websocket.Conn
}

// Write sends msg as one text message. It does not hand the hub's context to the library, which would
// arm a context.AfterFunc per write (about 7% of fan-out CPU): the hub bounds every write itself and
// calls Close on a write that takes too long, which ends it.
func (w *wsConn) Write(_ context.Context, msg []byte) error {
	return w.c.Write(context.Background(), websocket.MessageText, msg)
}

// Close closes the connection without blocking the hub: the close handshake waits for the client.
func (w *wsConn) Close(code int, reason string) {
	go w.c.Close(websocket.StatusCode(code), reason)
}
