package voice

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pion/rtp/codecs"
)

// SendH264Frame sends one H.264 access unit (Annex B): made to travel as it will arrive
// (NormalizeH264Frame), end-to-end encrypted as H.264 (DAVE keeps start codes, parameter sets and
// slice header starts clear), then packetized by pion/rtp's H.264 payloader (packetization-mode
// 1: single NAL units, STAP-A for SPS and PPS, FU-A) into packets of at most Config.VideoMTU
// bytes with payload type PayloadTypeH264, Discord's one-byte header extension, the marker bit on
// the last packet and timestamp (90 kHz) on all.
func (c *Conn) SendH264Frame(frame []byte, timestamp uint32) error {
	if _, err := ParseH264Frame(frame); err != nil {
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
	norm, err := NormalizeH264Frame(st.norm[:0], frame)
	if err != nil {
		return err
	}
	st.norm, frame = norm, norm
	if enc := c.cfg.FrameEncryptor; enc != nil {
		out, err := enc.EncryptFrame(MediaVideoH264, st.frame[:0], frame)
		if err != nil {
			return fmt.Errorf("voice: frame encryption: %w", err)
		}
		st.frame, frame = out, out
	}
	st.videoTS = timestamp
	if st.h264 == nil {
		st.h264 = &codecs.H264Payloader{}
	}
	budget := c.cfg.VideoMTU - rtpHeaderSize - 4 - len(videoExtension) - m.sealer.Overhead()
	parts := st.h264.Payload(uint16(budget), frame)
	for i, part := range parts {
		seq := st.videoSeq
		st.videoSeq++
		if err := c.writeRTPLocked(m, i == len(parts)-1, PayloadTypeH264, seq, timestamp, m.videoSSRC, videoExtension, part); err != nil {
			return err
		}
	}
	return nil
}

// PlayH264 sends H.264 access units (e.g. from ReadH264File) at fps frames a second (against a
// monotonic schedule from the start), announcing the video with op 12 first, with the picture
// size of the first sequence parameter set, and withdrawing it at the end. It returns when the
// frames are sent, ctx ends, or the connection closes.
func (c *Conn) PlayH264(ctx context.Context, frames [][]byte, fps int) (PlayStats, error) {
	var stats PlayStats
	if fps <= 0 || fps > 240 {
		return stats, fmt.Errorf("voice: frame rate %d is outside 1-240", fps)
	}
	var opts VideoOptions
	for _, f := range frames {
		info, err := ParseH264Frame(f)
		if err != nil {
			return stats, err
		}
		if info.Width != 0 && opts.Width == 0 {
			opts.Width, opts.Height = int(info.Width), int(info.Height)
		}
	}
	opts.MaxFramerate = fps
	if err := c.SetVideo(true, opts); err != nil && !errors.Is(err, ErrNotConnected) {
		return stats, err
	}
	defer func() { _ = c.SetVideo(false, opts) }()
	c.send.mu.Lock()
	base := c.send.videoTS + VideoClockRate/30
	c.send.mu.Unlock()
	p := newPacer(c.cfg.MaxSendLag)
	defer p.stop()
	for i, frame := range frames {
		p.offset = time.Duration(i) * time.Second / time.Duration(fps)
		if err := p.wait(ctx); err != nil {
			return stats, err
		}
		stats.Lateness.Add(p.lateness)
		if err := c.SendH264Frame(frame, base+uint32(i*VideoClockRate/fps)); err != nil {
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
