package voicectl

import (
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/relay"
	"github.com/spellcoven/gateway/voice"
)

// mediaRouter is a call's voice.MediaHandler: it counts what each member sends and hands the
// media to the recording, when one runs, within its size limit. Calls come from the voice
// connection's UDP reader; start and stop come from control requests.
type mediaRouter struct {
	maxRecordingBytes int64

	// table, when table view is on, forwards members' media to their viewers. Set before
	// the call's connection runs.
	table *relay.Room

	mu      sync.Mutex
	members map[string]*memberCounts
	lost    uint64
	rec     *activeRecording
}

type memberCounts struct {
	audio, lost, video uint64
}

// activeRecording is a running recording: the voice.Recorder writing the files, and what it
// was given.
type activeRecording struct {
	status   Recording
	dir      string // the directory's path
	recorder *voice.Recorder
	members  map[string]*memberCounts
}

func newMediaRouter(maxRecordingBytes int64) *mediaRouter {
	return &mediaRouter{maxRecordingBytes: maxRecordingBytes, members: make(map[string]*memberCounts)}
}

// memberKey names a sender as voice.Recorder names its files: the user id (a snowflake), or
// "ssrc-<n>" while the SSRC is not tied to a user.
func memberKey(userID string, ssrc uint32) string {
	if event.ValidSnowflake(userID) {
		return userID
	}
	return "ssrc-" + strconv.FormatUint(uint64(ssrc), 10)
}

func countsOf(m map[string]*memberCounts, key string) *memberCounts {
	c := m[key]
	if c == nil {
		c = new(memberCounts)
		m[key] = c
	}
	return c
}

// HandleAudio counts and records one Opus packet.
func (r *mediaRouter) HandleAudio(f *voice.AudioFrame) {
	if r.table != nil && event.ValidSnowflake(f.UserID) {
		r.table.WriteAudio(f.UserID, f.Timestamp, f.Opus)
	}
	key := memberKey(f.UserID, f.SSRC)
	r.mu.Lock()
	defer r.mu.Unlock()
	c := countsOf(r.members, key)
	c.audio++
	c.lost += uint64(f.LostBefore)
	r.lost += uint64(f.LostBefore)
	if r.admit(len(f.Opus)) {
		r.rec.recorder.HandleAudio(f)
		countsOf(r.rec.members, key).audio++
	}
}

// HandleVideo counts and records one video frame (VP8, or H.264).
func (r *mediaRouter) HandleVideo(f *voice.VideoFrame) {
	if r.table != nil && event.ValidSnowflake(f.UserID) {
		if f.Codec == voice.CodecH264 {
			r.table.WriteH264(f.UserID, f.Timestamp, f.Frame)
		} else {
			r.table.WriteVideo(f.UserID, f.Timestamp, f.Frame)
		}
	}
	key := memberKey(f.UserID, f.SSRC)
	r.mu.Lock()
	defer r.mu.Unlock()
	countsOf(r.members, key).video++
	if r.admit(len(f.Frame)) {
		r.rec.recorder.HandleVideo(f)
		countsOf(r.rec.members, key).video++
	}
}

// admit reports whether n more bytes go to the recording, and counts them.
func (r *mediaRouter) admit(n int) bool {
	if r.rec == nil || r.rec.status.Truncated {
		return false
	}
	if r.rec.status.Bytes+int64(n) > r.maxRecordingBytes {
		r.rec.status.Truncated = true
		return false
	}
	r.rec.status.Bytes += int64(n)
	return true
}

// startRecording makes rec the recording, unless one runs already.
func (r *mediaRouter) startRecording(rec *activeRecording) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rec != nil {
		return false
	}
	r.rec = rec
	return true
}

// recording returns the running recording's status, or nil.
func (r *mediaRouter) recording() *Recording {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rec == nil {
		return nil
	}
	st := r.rec.status
	st.Members = recordedMembers(r.rec)
	return &st
}

// stopRecording detaches the running recording, closes its files and returns its final
// status; nil when none runs. Media arriving meanwhile is no longer recorded.
func (r *mediaRouter) stopRecording(now time.Time) *Recording {
	r.mu.Lock()
	rec := r.rec
	r.rec = nil
	r.mu.Unlock()
	if rec == nil {
		return nil
	}
	// The recorder is detached: no HandleAudio or HandleVideo can reach it any more.
	if err := rec.recorder.Close(); err != nil {
		rec.status.Error = err.Error()
	}
	rec.status.EndedAt = now
	rec.status.Members = recordedMembers(rec)
	return &rec.status
}

// recordedMembers lists what rec holds of each member.
func recordedMembers(rec *activeRecording) []RecordedMember {
	out := make([]RecordedMember, 0, len(rec.members))
	for key, c := range rec.members {
		audio, video := rec.recorder.Files(key)
		out = append(out, RecordedMember{
			UserID: key, AudioPackets: c.audio, VideoFrames: c.video,
			AudioFile: underDir(rec.status.Dir, audio), VideoFile: underDir(rec.status.Dir, video),
		})
	}
	slices.SortFunc(out, func(a, b RecordedMember) int { return compareIDs(a.UserID, b.UserID) })
	return out
}

// underDir names a recorded file by the recording's directory and the file's base name.
func underDir(dir, path string) string {
	if path == "" {
		return ""
	}
	return filepath.ToSlash(filepath.Join(dir, filepath.Base(path)))
}

// counts returns each member's counters and the audio packets lost in total.
func (r *mediaRouter) counts() (map[string]memberCounts, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]memberCounts, len(r.members))
	for k, c := range r.members {
		out[k] = *c
	}
	return out, r.lost
}

// compareIDs orders snowflakes numerically (shorter first) and other names after them.
func compareIDs(a, b string) int {
	sa, sb := event.ValidSnowflake(a), event.ValidSnowflake(b)
	switch {
	case sa && !sb:
		return -1
	case sb && !sa:
		return 1
	case len(a) != len(b):
		return len(a) - len(b)
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

var _ voice.MediaHandler = (*mediaRouter)(nil)
