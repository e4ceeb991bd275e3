package voice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/spellcoven/gateway/internal/backoff"
	"github.com/spellcoven/gateway/voice/dave"
)

// Conn is a voice connection: one voice session with its WebSocket and UDP transport, kept
// alive across dropped connections until Close or a close code that says to stop. Its methods
// are safe for concurrent use.
type Conn struct {
	cfg Config
	log *slog.Logger

	ctx    context.Context // the connection's lifetime
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{}

	mu      sync.Mutex
	info    ServerInfo
	sess    *wsSession
	closing bool
	err     error

	// media is the current UDP session; nil while none is established.
	media atomic.Pointer[mediaSession]

	// lastSeq is the last v8 seq seen from the server (-1 for none), acknowledged in
	// heartbeats and resume.
	lastSeq atomic.Int64

	updates chan ServerInfo

	usersMu      sync.RWMutex
	ssrcUsers    map[uint32]string
	videoSSRCs   map[string]uint32 // user -> video SSRC, from op 12
	usersVersion atomic.Uint64

	eventMu sync.Mutex

	// e2ee is the current voice session's DAVE session (nil with TransportOnly); e2eeState
	// is what was last reported of it, touched by the gateway reader only.
	e2ee      atomic.Pointer[dave.Session]
	e2eeState E2EEEvent

	send  sendState
	stats connStats
}

// connStats are the connection's counters.
type connStats struct {
	sent, sendDropped, received, undecryptable, rtcp, dropped, keepalivesSent atomic.Uint64
	resumes, reconnects                                                       atomic.Uint64
}

// Stats are a Conn's counters since Dial.
type Stats struct {
	// PacketsSent counts RTP packets written to the socket.
	PacketsSent uint64
	// SendDropped counts packets not sent because no session was established (reconnecting).
	SendDropped uint64
	// PacketsReceived counts RTP packets that decrypted.
	PacketsReceived uint64
	// Undecryptable counts packets that failed authentication or frame decryption.
	Undecryptable uint64
	// RTCP counts RTCP packets ignored.
	RTCP uint64
	// Dropped counts received packets dropped for size, payload type or stream limits.
	Dropped uint64
	// KeepalivesSent counts UDP keepalives.
	KeepalivesSent uint64
	// Resumes and Reconnects count recoveries of the session.
	Resumes, Reconnects uint64
}

// Stats returns the connection's counters.
func (c *Conn) Stats() Stats {
	s := &c.stats
	return Stats{
		PacketsSent: s.sent.Load(), SendDropped: s.sendDropped.Load(), PacketsReceived: s.received.Load(),
		Undecryptable: s.undecryptable.Load(), RTCP: s.rtcp.Load(), Dropped: s.dropped.Load(),
		KeepalivesSent: s.keepalivesSent.Load(), Resumes: s.resumes.Load(), Reconnects: s.reconnects.Load(),
	}
}

// Dial opens a voice connection: it connects to the voice gateway at info.Endpoint, identifies,
// discovers its UDP address, negotiates the encryption mode and waits for the session key. ctx
// bounds this handshake only (as does Config.HandshakeTimeout); the connection then lives until
// Close. A refused handshake returns the server's *CloseError (4004 for a wrong token).
func Dial(ctx context.Context, info ServerInfo, cfg Config) (*Conn, error) {
	if err := info.validate(); err != nil {
		return nil, err
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if !cfg.TransportOnly {
		if err := info.validateE2EE(); err != nil {
			return nil, err
		}
	}
	c := &Conn{
		cfg:        cfg,
		log:        cfg.Logger.With("guild_id", info.GuildID),
		done:       make(chan struct{}),
		info:       info,
		updates:    make(chan ServerInfo, 1),
		ssrcUsers:  make(map[uint32]string),
		videoSSRCs: make(map[string]uint32),
	}
	if !cfg.TransportOnly {
		if c.cfg.FrameEncryptor == nil {
			c.cfg.FrameEncryptor = e2eeFrames{c}
		}
		if c.cfg.FrameDecryptor == nil {
			c.cfg.FrameDecryptor = e2eeFrames{c}
		}
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.lastSeq.Store(-1)
	if err := c.connect(ctx, false); err != nil {
		c.cancel()
		c.wg.Wait()
		return nil, err
	}
	c.emit(&StateEvent{State: StateReady})
	c.wg.Add(1)
	go c.supervise()
	return c, nil
}

// connect runs one handshake, a new session (identify) or a resume, on a new WebSocket.
func (c *Conn) connect(ctx context.Context, resume bool) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.HandshakeTimeout)
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel) // Close interrupts a handshake
	defer stop()
	c.mu.Lock()
	info := c.info
	c.mu.Unlock()
	if !resume {
		// A new voice session is a new DAVE member; set up before the reader runs.
		if err := c.newE2EE(info); err != nil {
			return err
		}
	}
	s, err := c.dialSession(ctx, info.Endpoint)
	if err != nil {
		return err
	}
	if resume {
		err = s.resume(ctx, info)
	} else {
		c.lastSeq.Store(-1)
		var m *mediaSession
		if m, err = s.identify(ctx, info); err == nil {
			if old := c.media.Swap(m); old != nil {
				old.close()
			}
		}
	}
	if err != nil {
		s.fail(err)
		<-s.done
		return c.handshakeError(s, err)
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		s.fail(errClosed)
		return errClosed
	}
	c.sess = s
	c.mu.Unlock()
	c.resendSpeaking(s)
	if !resume && !c.cfg.NoVideo {
		// The server keeps the wants of a session: a resume keeps them, a new session starts
		// without.
		if err := s.send(opMediaSinkWants, map[string]int{"any": 100}); err != nil {
			c.log.Debug("voice: media sink wants", "error", err)
		}
	}
	return nil
}

// handshakeError prefers the server's close frame, when it sent one, to the waiting error.
func (c *Conn) handshakeError(s *wsSession, err error) error {
	var ce *CloseError
	if errors.As(s.err, &ce) && ce.Code >= 4000 {
		return ce
	}
	return err
}

// supervise waits for the current WebSocket to end and resumes, reconnects or stops as the
// close code says (see ActionForClose), within Config.ReconnectAttempts.
func (c *Conn) supervise() {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		s := c.sess
		c.mu.Unlock()
		var cause error
		action := ActionResume
		select {
		case <-c.ctx.Done():
			return
		case <-s.done:
			cause = s.err
			action = asCloseError(cause).Action()
		case info := <-c.updates:
			// The voice server moved (a new VOICE_SERVER_UPDATE): start over there.
			c.mu.Lock()
			c.info = info
			c.mu.Unlock()
			s.closeWith(websocket.StatusCode(4000), "voice server changed")
			<-s.done
			cause, action = errors.New("voice: voice server changed"), ActionReconnect
		}
		if c.isClosing() {
			return
		}
		if action == ActionStop {
			c.finish(cause)
			return
		}
		c.log.Info("voice gateway connection ended", "action", action.String(), "cause", cause)
		c.emit(&StateEvent{State: StateReconnecting, Err: cause})
		if err := c.recover(action); err != nil {
			c.finish(err)
			return
		}
	}
}

// recover resumes or reconnects, with backoff between attempts. A refused resume (4006) falls
// back to a new session at once.
func (c *Conn) recover(action CloseAction) error {
	policy := backoff.Policy{Initial: c.cfg.ReconnectBackoff, Max: c.cfg.MaxReconnectBackoff}
	var lastErr error
	for attempt := 0; attempt < c.cfg.ReconnectAttempts; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(policy.Delay(attempt - 1))
			select {
			case <-c.ctx.Done():
				t.Stop()
				return errClosed
			case <-t.C:
			}
		}
		err := c.connect(c.ctx, action == ActionResume)
		if err == nil {
			if action == ActionResume {
				c.stats.resumes.Add(1)
				c.emit(&StateEvent{State: StateResumed})
			} else {
				c.stats.reconnects.Add(1)
				c.emit(&StateEvent{State: StateReady})
			}
			return nil
		}
		if c.isClosing() {
			return errClosed
		}
		lastErr = err
		var ce *CloseError
		if errors.As(err, &ce) && ce.Code >= 4000 {
			switch ce.Action() {
			case ActionStop:
				return err
			case ActionReconnect:
				if action == ActionResume {
					action = ActionReconnect
					attempt-- // the session is gone: a new one is a fresh start, not a retry
				}
			}
		}
		c.log.Info("voice reconnect attempt failed", "attempt", attempt+1, "error", err)
	}
	return fmt.Errorf("voice: gave up after %d attempts: %w", c.cfg.ReconnectAttempts, lastErr)
}

func (c *Conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// finish ends the connection with err, from the supervisor.
func (c *Conn) finish(err error) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true
	c.err = err
	c.mu.Unlock()
	c.log.Warn("voice connection ended", "error", err)
	c.cancel()
	if m := c.media.Swap(nil); m != nil {
		m.close()
	}
	c.emit(&StateEvent{State: StateClosed, Err: err})
	close(c.done)
}

// Close leaves the voice session: it closes the WebSocket with 1000 (which ends the session on
// Discord's side), stops sending and receiving, and waits for the connection's goroutines. The
// bot should also send op 4 with a null channel on the main gateway.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		c.wg.Wait()
		return nil
	}
	c.closing = true
	s := c.sess
	c.mu.Unlock()
	if s != nil {
		s.closeWith(websocket.StatusNormalClosure, "")
	}
	c.cancel()
	c.wg.Wait()
	// After the supervisor stopped: a reconnect racing with Close may have installed one.
	if m := c.media.Swap(nil); m != nil {
		m.close()
	}
	c.emit(&StateEvent{State: StateClosed})
	close(c.done)
	return nil
}

// Done is closed when the connection has ended, by Close or for good on its own.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is why the connection ended on its own (a *CloseError for the voice gateway's close
// codes); nil while it is alive or after Close.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// UpdateServer hands the connection a new VOICE_SERVER_UPDATE (Discord moved the call to
// another voice server, or issued a new token): it leaves the current server and starts a new
// session with info.
func (c *Conn) UpdateServer(info ServerInfo) error {
	if err := info.validate(); err != nil {
		return err
	}
	if c.isClosing() {
		return errClosed
	}
	select {
	case <-c.updates: // a newer update replaces one not yet acted on
	default:
	}
	c.updates <- info
	return nil
}

// SSRC is the audio SSRC of the current session (0 while none is established).
func (c *Conn) SSRC() uint32 {
	if m := c.media.Load(); m != nil {
		return m.ssrc
	}
	return 0
}

// VideoCodec is the video codec the voice server named for the current session (op 4
// video_codec, "" while none). Other members' video is received in any codec of op 1's list,
// told apart by payload type.
func (c *Conn) VideoCodec() VideoCodec {
	if m := c.media.Load(); m != nil {
		return m.videoCodec
	}
	return ""
}

// Mode is the transport encryption mode of the current session ("" while none).
func (c *Conn) Mode() Mode {
	if m := c.media.Load(); m != nil {
		return m.mode
	}
	return ""
}

// noteSeq records a message's v8 seq; false means it was seen already (a replay).
func (c *Conn) noteSeq(seq int64) bool {
	for {
		last := c.lastSeq.Load()
		if seq <= last {
			return false
		}
		if c.lastSeq.CompareAndSwap(last, seq) {
			return true
		}
	}
}

func (c *Conn) seqAck() int64 { return c.lastSeq.Load() }

// emit hands an event to Config.OnEvent, one at a time.
func (c *Conn) emit(e Event) {
	if c.cfg.OnEvent == nil {
		return
	}
	c.eventMu.Lock()
	defer c.eventMu.Unlock()
	c.cfg.OnEvent(e)
}
