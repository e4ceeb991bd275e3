package voice

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/pion/rtp/codecs"
)

// ErrNotConnected means no voice session is established at the moment (the connection is
// reconnecting); a packet sent then is dropped.
var ErrNotConnected = errors.New("voice: no voice session established")

// sendState is the sending side: RTP sequence numbers and timestamps of the audio and video
// streams, the speaking state, and the buffers packets are built in. mu serializes every
// packet, since audio and video share the session's Sealer (and its nonce counter).
type sendState struct {
	mu       sync.Mutex
	audioSeq uint16
	audioTS  uint32
	videoSeq uint16
	videoTS  uint32 // of the last video frame
	vp8      *codecs.VP8Payloader
	h264     *codecs.H264Payloader
	norm     []byte // a normalized H.264 access unit
	packet   []byte
	frame    []byte // FrameEncryptor output

	speakingMu sync.Mutex
	speaking   SpeakingFlags
}

// SetSpeaking sends op 5 with flags (0 to stop). Discord requires it before the first audio
// packet; PlayOpus does it on its own. It is re-sent after a reconnect.
func (c *Conn) SetSpeaking(flags SpeakingFlags) error {
	c.send.speakingMu.Lock()
	defer c.send.speakingMu.Unlock()
	c.mu.Lock()
	s := c.sess
	closing := c.closing
	c.mu.Unlock()
	if closing {
		return errClosed
	}
	c.send.speaking = flags
	if s == nil {
		return ErrNotConnected
	}
	return s.send(opSpeaking, speakingOut{Speaking: flags, SSRC: c.SSRC()})
}

// resendSpeaking repeats the speaking state on a new WebSocket (a new session has a new SSRC).
func (c *Conn) resendSpeaking(s *wsSession) {
	c.send.speakingMu.Lock()
	defer c.send.speakingMu.Unlock()
	if c.send.speaking != 0 {
		_ = s.send(opSpeaking, speakingOut{Speaking: c.send.speaking, SSRC: c.SSRC()})
	}
}

// SendOpus sends one Opus packet now, with the next sequence number; the RTP timestamp then
// advances by the packet's duration. Pacing is the caller's (see PlayOpus). It does not
// allocate in steady state.
func (c *Conn) SendOpus(packet []byte) error {
	samples, err := OpusPacketSamples(packet)
	if err != nil {
		return err
	}
	return c.sendAudio(packet, uint32(samples))
}

func (c *Conn) sendAudio(packet []byte, samples uint32) error {
	st := &c.send
	st.mu.Lock()
	defer st.mu.Unlock()
	seq, ts := st.audioSeq, st.audioTS
	st.audioSeq++
	st.audioTS += samples
	m := c.media.Load()
	if m == nil {
		c.stats.sendDropped.Add(1)
		if c.isClosing() {
			return errClosed
		}
		return ErrNotConnected
	}
	if enc := c.cfg.FrameEncryptor; enc != nil && !isSilence(packet) {
		out, err := enc.EncryptFrame(MediaAudio, st.frame[:0], packet)
		if err != nil {
			return fmt.Errorf("voice: frame encryption: %w", err)
		}
		st.frame, packet = out, out
	}
	return c.writeRTPLocked(m, false, PayloadTypeOpus, seq, ts, m.ssrc, nil, packet)
}

// writeRTPLocked builds, seals and writes one packet; st.mu is held.
func (c *Conn) writeRTPLocked(m *mediaSession, marker bool, pt uint8, seq uint16, ts, ssrc uint32, ext, payload []byte) error {
	st := &c.send
	if st.packet == nil {
		st.packet = make([]byte, 0, c.cfg.MaxPacketSize+64)
	}
	hdr := appendRTPHeader(st.packet[:0], marker, pt, seq, ts, ssrc, ext)
	if len(hdr)+len(payload)+m.sealer.Overhead() > c.cfg.MaxPacketSize {
		return fmt.Errorf("voice: %d-byte payload exceeds MaxPacketSize %d", len(payload), c.cfg.MaxPacketSize)
	}
	// Seal appends after the header it reads; the header is copied to the front first.
	n := len(hdr)
	out, err := m.sealer.Seal(st.packet[n:n], hdr, payload)
	if err != nil {
		return err
	}
	if _, err := m.udp.Write(out); err != nil {
		c.stats.sendDropped.Add(1)
		return fmt.Errorf("voice: udp write: %w", err)
	}
	c.stats.sent.Add(1)
	return nil
}

// OpusSource yields Opus packets; io.EOF ends the stream. *OggOpusReader is one.
type OpusSource interface {
	NextOpus() ([]byte, error)
}

// PlayStats describes one PlayOpus or PlayVP8 run.
type PlayStats struct {
	// Frames counts frames (Opus packets, or VP8 frames) handed to the transport; Dropped
	// counts those lost to a reconnect.
	Frames, Dropped int
	// Rebased counts the times the sender fell more than MaxSendLag behind and started a new
	// schedule instead of sending a burst.
	Rebased int
	// Lateness is how late each send was against its schedule.
	Lateness LatenessHistogram
}

// PlayOpus sends src's packets paced by their durations (20 ms for Discord's frames) against a
// monotonic schedule counted from the start, so that the send times do not drift however long
// the stream. It announces speaking first, ends with Config.SilenceFrames silence frames and
// a speaking update of 0, and returns when src ends (nil error), on ctx's end (ctx.Err(),
// after the silence frames), or when the connection closes.
func (c *Conn) PlayOpus(ctx context.Context, src OpusSource) (PlayStats, error) {
	var stats PlayStats
	if err := c.SetSpeaking(SpeakingMicrophone); err != nil && !errors.Is(err, ErrNotConnected) {
		return stats, err
	}
	p := newPacer(c.cfg.MaxSendLag)
	defer p.stop()
	var playErr error
	for playErr == nil {
		packet, err := src.NextOpus()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			playErr = err
			break
		}
		samples, err := OpusPacketSamples(packet)
		if err != nil {
			playErr = err
			break
		}
		if err := p.wait(ctx); err != nil {
			playErr = err
			break
		}
		stats.Lateness.Add(p.lateness)
		if err := c.sendAudio(packet, uint32(samples)); err != nil {
			if !errors.Is(err, ErrNotConnected) {
				playErr = err
				break
			}
			stats.Dropped++
		}
		stats.Frames++
		p.advance(time.Duration(samples) * time.Second / OpusClockRate)
	}
	stats.Rebased = p.rebased
	if errors.Is(playErr, errClosed) {
		return stats, playErr
	}
	// Five frames of silence, paced, so receivers fade out instead of repeating the last frame.
	// They are sent even when ctx ended: at 100 ms they are bounded.
	for range c.cfg.SilenceFrames {
		if err := p.wait(context.Background()); err != nil {
			break
		}
		if err := c.sendAudio(silenceFrame, 960); errors.Is(err, errClosed) {
			return stats, err
		}
		p.advance(20 * time.Millisecond)
	}
	if err := c.SetSpeaking(0); err != nil && !errors.Is(err, ErrNotConnected) && playErr == nil {
		playErr = err
	}
	return stats, playErr
}

// pacer schedules sends at start + offset on the monotonic clock. A send more than maxLag
// late restarts the schedule from now rather than catching up with a burst.
type pacer struct {
	start    time.Time
	offset   time.Duration
	maxLag   time.Duration
	timer    *time.Timer
	lateness time.Duration // of the last wait
	rebased  int
}

func newPacer(maxLag time.Duration) *pacer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &pacer{start: time.Now(), maxLag: maxLag, timer: t}
}

// wait sleeps until the current slot is due.
func (p *pacer) wait(ctx context.Context) error {
	due := p.start.Add(p.offset)
	if d := time.Until(due); d > 0 {
		p.timer.Reset(d)
		select {
		case <-p.timer.C:
		case <-ctx.Done():
			p.timer.Stop()
			return ctx.Err()
		}
	} else if err := ctx.Err(); err != nil {
		return err
	}
	p.lateness = time.Since(due)
	if p.lateness > p.maxLag {
		p.start = time.Now().Add(-p.offset)
		p.rebased++
	}
	return nil
}

// advance moves the schedule to the next slot.
func (p *pacer) advance(d time.Duration) { p.offset += d }

func (p *pacer) stop() { p.timer.Stop() }

// LatenessHistogram counts send lateness in 50 µs buckets up to 20 ms (later sends fall in the
// last bucket). It never allocates.
type LatenessHistogram struct {
	buckets [latenessBuckets]uint32
	count   uint32
	max     time.Duration
}

const (
	latenessBucket  = 50 * time.Microsecond
	latenessBuckets = 401
)

// Add records one lateness.
func (h *LatenessHistogram) Add(d time.Duration) {
	if d < 0 {
		d = 0
	}
	i := int(d / latenessBucket)
	if i >= latenessBuckets {
		i = latenessBuckets - 1
	}
	h.buckets[i]++
	h.count++
	h.max = max(h.max, d)
}

// Count is how many sends were recorded.
func (h *LatenessHistogram) Count() int { return int(h.count) }

// Max is the largest lateness recorded.
func (h *LatenessHistogram) Max() time.Duration { return h.max }

// Percentile returns the upper bound of the bucket holding the q-th quantile (0 < q <= 1).
func (h *LatenessHistogram) Percentile(q float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	rank := uint32(q * float64(h.count))
	if rank == 0 {
		rank = 1
	}
	var seen uint32
	for i, n := range h.buckets {
		seen += n
		if seen >= rank {
			if i == latenessBuckets-1 {
				return h.max
			}
			return time.Duration(i+1) * latenessBucket
		}
	}
	return h.max
}
