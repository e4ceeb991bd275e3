package voicectl

import (
	"context"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/spellcoven/gateway/voice"
)

// playback is a file being played into a call.
type playback struct {
	status Playback // guarded by the Controller's mu
	frames atomic.Int64
	cancel context.CancelFunc
	done   chan struct{}
}

// countingSource counts the packets read from an Ogg Opus file, for the status of a playback.
type countingSource struct {
	src    voice.OpusSource
	frames *atomic.Int64
}

func (s countingSource) NextOpus() ([]byte, error) {
	p, err := s.src.NextOpus()
	if err == nil {
		s.frames.Add(1)
	}
	return p, err
}

// Play starts playing file, an Ogg Opus file under MediaDir, into the call, and returns at once;
// Status follows the playback. The file is checked first: a path that leaves MediaDir, a
// missing file or one that is not Ogg Opus is refused with nothing started.
func (c *Controller) Play(file string) (Status, error) {
	if c.cfg.MediaDir == "" {
		return Status{}, newError(http.StatusNotImplemented, CodeNotConfigured, "playing is off: the worker has no media directory (-voice-media-dir)")
	}
	f, e := openMediaFile(c.cfg.MediaDir, file)
	if e != nil {
		return Status{}, e
	}
	src, err := voice.NewOggOpusReader(f)
	if err != nil {
		f.Close()
		return Status{}, newError(http.StatusUnprocessableEntity, CodeBadMedia, "%s is not an Ogg Opus file: %v", file, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cl := c.call
	switch {
	case cl == nil:
		f.Close()
		return Status{}, conflict(CodeNotConnected, "the bot is in no room: join one first")
	case cl.play != nil:
		f.Close()
		return Status{}, conflict(CodeAlreadyPlaying, "%s is playing; stop it first", cl.play.status.File)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pb := &playback{status: Playback{File: file, StartedAt: time.Now()}, cancel: cancel, done: make(chan struct{})}
	cl.play = pb
	c.wg.Add(1)
	go c.runPlayback(ctx, cl, pb, f, src)
	c.log.Info("voice: playing", "room_id", cl.room.ID, "file", file)
	return c.statusLocked(), nil
}

// runPlayback plays src into the call until it ends or ctx does, and records the outcome.
func (c *Controller) runPlayback(ctx context.Context, cl *call, pb *playback, f *os.File, src voice.OpusSource) {
	defer c.wg.Done()
	defer close(pb.done)
	defer f.Close()
	stats, err := cl.conn.PlayOpus(ctx, countingSource{src: src, frames: &pb.frames})
	stopped := ctx.Err() != nil
	pb.cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	st := pb.status
	st.EndedAt, st.Frames, st.Dropped = time.Now(), stats.Frames, stats.Dropped
	switch {
	case stopped:
		st.Stopped = true
	case err != nil:
		st.Error = err.Error()
		c.log.Warn("voice: playback failed", "room_id", cl.room.ID, "file", st.File, "error", err.Error())
	}
	c.lastPlayback = &st
	if cl.play == pb {
		cl.play = nil
	}
	c.log.Info("voice: playback ended", "room_id", cl.room.ID, "file", st.File, "frames", st.Frames, "stopped", st.Stopped)
}

// StopPlayback stops the file playing and returns the status once it has stopped
// (LastPlayback describes it).
func (c *Controller) StopPlayback() (Status, error) {
	c.mu.Lock()
	var pb *playback
	if cl := c.call; cl != nil {
		pb = cl.play
	}
	c.mu.Unlock()
	if pb == nil {
		return Status{}, conflict(CodeNotPlaying, "nothing is playing")
	}
	pb.cancel()
	<-pb.done // PlayOpus ends with five 20 ms silence frames
	return c.Status(), nil
}
