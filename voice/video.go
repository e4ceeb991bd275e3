package voice

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp/codecs"
)

// VideoOptions describes the video stream announced with op 12.
type VideoOptions struct {
	Width, Height int
	// MaxFramerate and MaxBitrate are announced as the stream's limits (defaults 30 and
	// 2.5 Mbit/s).
	MaxFramerate int
	MaxBitrate   int
}

// SetVideo announces (active true) or withdraws the bot's video with op 12, giving the audio,
// video and RTX SSRCs from Ready. Discord's clients send it before the first video packet.
// Video for bots is unofficial: best effort.
func (c *Conn) SetVideo(active bool, opts VideoOptions) error {
	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	m := c.media.Load()
	if s == nil || m == nil {
		return ErrNotConnected
	}
	if opts.MaxFramerate == 0 {
		opts.MaxFramerate = 30
	}
	if opts.MaxBitrate == 0 {
		opts.MaxBitrate = 2_500_000
	}
	d := videoData{AudioSSRC: m.ssrc, RTXSSRC: m.rtxSSRC}
	quality := 0
	if active {
		d.VideoSSRC = m.videoSSRC
		quality = 100
	}
	d.Streams = []videoStream{{
		Type: "video", RID: "100", SSRC: m.videoSSRC, RTXSSRC: m.rtxSSRC, Active: active, Quality: quality,
		MaxBitrate: opts.MaxBitrate, MaxFramerate: opts.MaxFramerate,
		MaxResolution: &maxResolution{Type: "fixed", Width: opts.Width, Height: opts.Height},
	}}
	return s.send(opVideo, d)
}

// SendVP8Frame packetizes one VP8 frame with pion/rtp's VP8 payloader (picture IDs on) into
// packets of at most Config.VideoMTU bytes, each with Discord's one-byte header extension,
// the marker bit on the frame's last packet, and timestamp (90 kHz) on all.
func (c *Conn) SendVP8Frame(frame []byte, timestamp uint32) error {
	if _, err := ParseVP8Frame(frame); err != nil {
		return err
	}
	st := &c.send
	st.mu.Lock()
	defer st.mu.Unlock()
	m := c.media.Load()
	if m == nil {
		c.stats.sendDropped.Add(1)
		if c.isClosing() {
			return errClosed
		}
		return ErrNotConnected
	}
	if enc := c.cfg.FrameEncryptor; enc != nil {
		out, err := enc.EncryptFrame(MediaVideo, st.frame[:0], frame)
		if err != nil {
			return fmt.Errorf("voice: frame encryption: %w", err)
		}
		st.frame, frame = out, out
	}
	st.videoTS = timestamp
	budget := c.cfg.VideoMTU - rtpHeaderSize - 4 - len(videoExtension) - m.sealer.Overhead()
	parts := c.vp8Payloader().Payload(uint16(budget), frame)
	for i, part := range parts {
		seq := st.videoSeq
		st.videoSeq++
		if err := c.writeRTPLocked(m, i == len(parts)-1, PayloadTypeVP8, seq, timestamp, m.videoSSRC, videoExtension, part); err != nil {
			return err
		}
	}
	return nil
}

// vp8Payloader returns the connection's payloader (its picture ID runs across frames); st.mu
// is held.
func (c *Conn) vp8Payloader() *codecs.VP8Payloader {
	if c.send.vp8 == nil {
		c.send.vp8 = &codecs.VP8Payloader{EnablePictureID: true}
	}
	return c.send.vp8
}

// PlayVP8 sends the frames of an IVF file paced by their timestamps (against a monotonic
// schedule from the start), announcing the video with op 12 first and withdrawing it at the
// end. It returns when the file ends, ctx ends, or the connection closes.
func (c *Conn) PlayVP8(ctx context.Context, r *IVFReader) (PlayStats, error) {
	var stats PlayStats
	h := r.Header
	if h.FourCC != "VP80" {
		return stats, fmt.Errorf("voice: ivf holds %q, not VP8", h.FourCC)
	}
	opts := VideoOptions{Width: int(h.Width), Height: int(h.Height)}
	if err := c.SetVideo(true, opts); err != nil && !errors.Is(err, ErrNotConnected) {
		return stats, err
	}
	defer func() { _ = c.SetVideo(false, opts) }()
	unit := func(ts uint64) time.Duration {
		return time.Duration(ts) * time.Second * time.Duration(h.TimebaseNumerator) / time.Duration(h.TimebaseDenominator)
	}
	// Continue the timestamps of an earlier stream, one 30 fps frame later.
	c.send.mu.Lock()
	base := c.send.videoTS + VideoClockRate/30
	c.send.mu.Unlock()
	p := newPacer(c.cfg.MaxSendLag)
	defer p.stop()
	var first uint64
	for i := 0; ; i++ {
		frame, ts, err := r.NextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return stats, err
		}
		if i == 0 {
			first = ts
		}
		p.offset = unit(ts - first)
		if err := p.wait(ctx); err != nil {
			return stats, err
		}
		stats.Lateness.Add(p.lateness)
		rtpTS := uint32((ts - first) * VideoClockRate * uint64(h.TimebaseNumerator) / uint64(h.TimebaseDenominator))
		if err := c.SendVP8Frame(frame, base+rtpTS); err != nil {
			if !errors.Is(err, ErrNotConnected) {
				return stats, err
			}
			stats.Dropped++
		}
		stats.Frames++
	}
	stats.Rebased = p.rebased
	return stats, nil
}

// ErrNoVideo means a keyframe was asked of a user who is not sending video.
var ErrNoVideo = errors.New("voice: the user is not sending video")

// RequestKeyframe asks userID's client for a keyframe: an RTCP picture loss indication (RFC 4585
// section 6.3.1) about their video SSRC, sealed like RTP, which the voice server relays to them.
func (c *Conn) RequestKeyframe(userID string) error {
	c.usersMu.RLock()
	media := c.videoSSRCs[userID]
	c.usersMu.RUnlock()
	if media == 0 {
		return ErrNoVideo
	}
	st := &c.send
	st.mu.Lock()
	defer st.mu.Unlock()
	m := c.media.Load()
	if m == nil {
		return ErrNotConnected
	}
	pli := rtcp.PictureLossIndication{SenderSSRC: m.ssrc, MediaSSRC: media}
	plain, err := pli.Marshal()
	if err != nil {
		return err
	}
	st.packet, err = m.sealer.SealRTCP(st.packet[:0], plain)
	if err != nil {
		return err
	}
	_, err = m.udp.Write(st.packet)
	return err
}

// WantVideo tells the voice server how much of other members' video to forward (op 15 media
// sink wants): quality 0 (none) to 100 (all), for every member. It lasts for the voice session;
// a new session starts with Config's choice again.
func (c *Conn) WantVideo(quality int) error {
	if quality < 0 || quality > 100 {
		return fmt.Errorf("voice: video quality %d is outside 0-100", quality)
	}
	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	if s == nil {
		return ErrNotConnected
	}
	return s.send(opMediaSinkWants, map[string]int{"any": quality})
}
