package voicectl

import (
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spellcoven/gateway/voice"
)

// StartRecording records each member of the call into dir, a new directory under
// RecordingsDir: <user id>.opus (Ogg Opus) and <user id>.ivf (VP8 or H.264 in IVF) per member. An empty
// dir is named after the room and the time. The recording ends with StopRecording, Leave, or
// the end of the call, which finish the files.
func (c *Controller) StartRecording(dir string) (Status, error) {
	if c.cfg.RecordingsDir == "" {
		return Status{}, newError(http.StatusNotImplemented, CodeNotConfigured, "recording is off: the worker has no recordings directory (-voice-recordings-dir)")
	}
	c.mu.Lock()
	cl := c.call
	c.mu.Unlock()
	if cl == nil {
		return Status{}, conflict(CodeNotConnected, "the bot is in no room: join one first")
	}
	if rec := cl.media.recording(); rec != nil {
		return Status{}, conflict(CodeAlreadyRecording, "recording into %s; stop it first", rec.Dir)
	}
	now := time.Now()
	if dir == "" {
		dir = cl.room.ID + "-" + now.UTC().Format("20060102T150405Z")
	}
	path, e := makeRecordingDir(c.cfg.RecordingsDir, dir)
	if e != nil {
		return Status{}, e
	}
	recorder, err := voice.NewRecorder(voice.RecorderConfig{Dir: path, MemoryLimit: -1})
	if err != nil {
		os.Remove(path)
		return Status{}, newError(http.StatusInternalServerError, CodeInternal, "%v", err)
	}
	rec := &activeRecording{
		status:   Recording{Dir: filepath.ToSlash(filepath.Clean(dir)), StartedAt: now},
		dir:      path,
		recorder: recorder,
		members:  make(map[string]*memberCounts),
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.call != cl {
		os.Remove(path)
		return Status{}, conflict(CodeNotConnected, "the call ended")
	}
	if !cl.media.startRecording(rec) {
		os.Remove(path)
		return Status{}, conflict(CodeAlreadyRecording, "another recording started meanwhile")
	}
	c.log.Info("voice: recording", "room_id", cl.room.ID, "dir", rec.status.Dir)
	return c.statusLocked(), nil
}

// StopRecording finishes the recording's files and returns the status (LastRecording lists
// them).
func (c *Controller) StopRecording() (Status, error) {
	c.mu.Lock()
	cl := c.call
	c.mu.Unlock()
	var rec *Recording
	if cl != nil {
		rec = cl.media.stopRecording(time.Now())
	}
	if rec == nil {
		return Status{}, conflict(CodeNotRecording, "nothing is being recorded")
	}
	c.mu.Lock()
	c.lastRecording = rec
	c.mu.Unlock()
	c.log.Info("voice: recording stopped", "room_id", cl.room.ID, "dir", rec.Dir, "members", len(rec.Members), "bytes", rec.Bytes)
	return c.Status(), nil
}
