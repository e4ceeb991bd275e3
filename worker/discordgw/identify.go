package discordgw

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"time"

	"github.com/bwmarrin/discordgo"
)

// Position is where a gateway session stands: what resuming it takes. The worker persists it
// (with the outbox) so that a restarted process resumes the session instead of identifying.
type Position struct {
	SessionID string `json:"session_id"`
	Seq       int64  `json:"seq"`
	// ResumeURL is READY's resume_gateway_url. It is kept for the record: discordgo v0.29.0
	// always dials the URL of GET /gateway, where Discord also accepts a resume.
	ResumeURL string `json:"resume_gateway_url"`
}

// Resumable reports whether the position names a session to resume.
func (p Position) Resumable() bool { return p.SessionID != "" && p.Seq > 0 }

// PositionHandler is a Handler that also wants the session's position with each dispatch: the
// position after that dispatch, handed in the same call so that what the handler derives from the
// dispatch and the position stay together.
type PositionHandler interface {
	HandleDispatchAt(pos Position, typ string, ev any)
}

// How the session controls the payload that opens each connection.
//
// discordgo v0.29.0 decides by itself between identify (op 2) and resume (op 6), from unexported
// fields (sessionID, sequence) that cannot be set from outside, and it answers every op 9 with an
// identify on the same socket at once. The session therefore takes the decision at the one place it
// can see without patching discordgo: the socket. Every client frame passes through observedConn;
// an identify or resume frame is handed to gatePayload, which
//   - replaces it with a resume of the session's own Position when that is resumable (a
//     restarted process hands in the Position it persisted; discordgo itself holds nothing);
//   - lets an identify through only with a grant, issued by Run after the waits an identify
//     owes (op 9's 1-5 s, Discord's identify window, session_start_limit); an identify without
//     one (discordgo's instant answer to op 9) is refused: the write fails and the socket is
//     closed, so discordgo reports a lost connection and Run waits before identifying.
// A reflect/unsafe write into discordgo's fields was the alternative; it would break silently
// with any change of discordgo's internals, where the WebSocket protocol does not change.

// errIdentifyHeld is the write error of an identify without a grant.
var errIdentifyHeld = errors.New("gateway: identify held back until its wait is over")

// gatePayload decides what goes out instead of a client frame whose payload is op (2 or 6):
// replacement bytes (a whole frame), nil to send the frame as written, or an error to refuse it.
func (s *Session) gatePayload(op int) ([]byte, error) {
	if s.invalid.Load() != 0 {
		// discordgo's instant identify after op 9: not before the wait Discord asks for.
		s.log.Info("gateway: identify held back until the wait after an invalid session")
		return nil, errIdentifyHeld
	}
	if pos := s.Position(); pos.Resumable() {
		var p struct {
			Op int `json:"op"`
			D  struct {
				Token     string `json:"token"`
				SessionID string `json:"session_id"`
				Seq       int64  `json:"seq"`
			} `json:"d"`
		}
		p.Op = 6
		p.D.Token, p.D.SessionID, p.D.Seq = s.dg.Token, pos.SessionID, pos.Seq
		raw, _ := json.Marshal(p)
		s.log.Info("gateway: resuming the session", "session", pos.SessionID, "seq", pos.Seq)
		return clientTextFrame(raw), nil
	}
	if !s.grant.CompareAndSwap(true, false) {
		s.log.Info("gateway: identify held back until its wait is over")
		return nil, errIdentifyHeld
	}
	s.lastIdentify.Store(time.Now().UnixNano())
	s.cfg.Metrics.Identifies.Inc()
	s.log.Info("gateway: identifying (a new session)")
	if op == 2 {
		return nil, nil
	}
	// discordgo resumes the session the worker dropped (after op 9, 4007, 4009): identify
	// instead, with discordgo's own identify payload (its exported Identify, which it sends as is).
	raw, err := json.Marshal(struct {
		Op int                `json:"op"`
		D  discordgo.Identify `json:"d"`
	}{2, s.dg.Identify})
	if err != nil {
		return nil, err
	}
	return clientTextFrame(raw), nil
}

// clientOp returns the gateway opcode of a client WebSocket frame written whole (gorilla writes
// each small message with one Write), and false for anything else.
func clientOp(p []byte) (int, bool) {
	if len(p) < 2 || p[0]&0x0f != opText || p[1]&0x80 == 0 {
		return 0, false
	}
	n, h := int(p[1]&0x7f), 2
	switch n {
	case 126:
		h += 2
	case 127:
		h += 8
	}
	h += 4
	if len(p) < h+8 {
		return 0, false
	}
	mask := p[h-4 : h]
	var head [8]byte
	for i := range head {
		head[i] = p[h+i] ^ mask[i%4]
	}
	// discordgo's payloads are structs whose first field is Op: {"op":2,... or {"op":6,...
	if !bytes.HasPrefix(head[:], []byte(`{"op":`)) || head[7] != ',' {
		return 0, false
	}
	return int(head[6] - '0'), head[6] >= '0' && head[6] <= '9'
}

// clientTextFrame frames payload as a masked client text frame (RFC 6455).
func clientTextFrame(payload []byte) []byte {
	b := []byte{0x80 | opText}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	var key [4]byte
	rand.Read(key[:])
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// sessionStartLimit is GET /gateway/bot's session_start_limit; nil fields were absent.
type sessionStartLimit struct {
	Total          *int `json:"total"`
	Remaining      *int `json:"remaining"`
	ResetAfter     *int `json:"reset_after"` // milliseconds
	MaxConcurrency *int `json:"max_concurrency"`
}

// fetchSessionStartLimit asks GET /gateway/bot. It returns nil, without an error, when the answer
// carries no session_start_limit (the limit is then unknown).
func (s *Session) fetchSessionStartLimit(ctx context.Context) (*sessionStartLimit, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.OpenTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, discordgo.EndpointGatewayBot, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", s.dg.Token)
	req.Header.Set("User-Agent", s.dg.UserAgent)
	resp, err := s.dg.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /gateway/bot answered %d", resp.StatusCode)
	}
	var gb struct {
		Limit *sessionStartLimit `json:"session_start_limit"`
	}
	if err := json.Unmarshal(body, &gb); err != nil {
		return nil, fmt.Errorf("GET /gateway/bot: %w", err)
	}
	if gb.Limit == nil || gb.Limit.Remaining == nil {
		return nil, nil
	}
	return gb.Limit, nil
}

// awaitIdentify waits until an identify may be sent: after the wait an invalid session or a
// rate-limit close asked for (notBefore), at most one identify per IdentifyInterval, and while
// session_start_limit says none remain, until it resets. It returns false when ctx ends.
func (s *Session) awaitIdentify(ctx context.Context, notBefore time.Time) bool {
	if last := s.lastIdentify.Load(); last != 0 {
		if t := time.Unix(0, last).Add(s.cfg.IdentifyInterval); t.After(notBefore) {
			notBefore = t
		}
	}
	if !s.sleepUntil(ctx, notBefore, "") {
		return false
	}
	for {
		lim, err := s.fetchSessionStartLimit(ctx)
		if ctx.Err() != nil {
			return false
		}
		switch {
		case err != nil:
			s.log.Warn("gateway: session start limit unknown; identifying anyway", "error", err.Error())
			s.cfg.Metrics.SessionStartRemaining.Set(-1)
			return true
		case lim == nil:
			s.cfg.Metrics.SessionStartRemaining.Set(-1)
			return true
		}
		s.cfg.Metrics.SessionStartRemaining.Set(float64(*lim.Remaining))
		if *lim.Remaining > 0 {
			return true
		}
		// Without reset_after, ask again in a minute; a reset due now is asked about shortly.
		reset := time.Minute
		if lim.ResetAfter != nil {
			reset = max(time.Duration(*lim.ResetAfter)*time.Millisecond, 100*time.Millisecond)
		}
		total := 0
		if lim.Total != nil {
			total = *lim.Total
		}
		s.log.Error("gateway: Discord's session start limit is used up: no identify until it resets",
			"total", total, "remaining", 0, "reset_in", reset.Round(time.Second))
		if !s.sleepUntil(ctx, time.Now().Add(reset), fmt.Sprintf("session start limit used up (0 of %d left); resets in %s", total, reset.Round(time.Second))) {
			return false
		}
	}
}

// sleepUntil waits until t, or returns false when ctx ends first. While it waits, IdentifyWait
// tells readiness why (reason, or a generic one).
func (s *Session) sleepUntil(ctx context.Context, t time.Time, reason string) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	if reason == "" {
		reason = "waiting before identifying again, as Discord asks after an invalid session or a rate limit"
	}
	s.waitReason.Store(&waitInfo{until: t, reason: reason})
	s.cfg.Metrics.IdentifyWait.Set(d.Seconds())
	defer func() {
		s.waitReason.Store(nil)
		s.cfg.Metrics.IdentifyWait.Set(0)
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// waitInfo is an identify wait in progress.
type waitInfo struct {
	until  time.Time
	reason string
}

// IdentifyWait reports the wait before the next identify, if one is in progress: how long is left
// and why.
func (s *Session) IdentifyWait() (time.Duration, string, bool) {
	w := s.waitReason.Load()
	if w == nil {
		return 0, "", false
	}
	return max(time.Until(w.until), 0), w.reason, true
}

// invalidSessionWait is op 9's wait before identifying again: random within the configured
// range (Discord: 1-5 s).
func (s *Session) invalidSessionWait() time.Duration {
	lo, hi := s.cfg.InvalidSessionWaitMin, s.cfg.InvalidSessionWaitMax
	if hi <= lo {
		return lo
	}
	return lo + mrand.N(hi-lo+1)
}

// WebSocket close codes the session rewrites.
const (
	closeNormal         = 1000
	closeServiceRestart = 1012
)

// isClientClose reports whether p is a whole masked client close frame with the code.
func isClientClose(p []byte, code uint16) bool {
	if len(p) < 8 || p[0] != 0x80|opClose || p[1]&0x80 == 0 || int(p[1]&0x7f) < 2 || int(p[1]&0x7f) > 125 || len(p) != 6+int(p[1]&0x7f) {
		return false
	}
	mask := p[2:6]
	return uint16(p[6]^mask[0])<<8|uint16(p[7]^mask[1]) == code
}

// clientCloseFrame is a masked client close frame with the code and no reason.
func clientCloseFrame(code uint16) []byte {
	var key [4]byte
	rand.Read(key[:])
	return []byte{0x80 | opClose, 0x80 | 2, key[0], key[1], key[2], key[3], byte(code>>8) ^ key[0], byte(code) ^ key[1]}
}
