package sandbox

import (
	"bytes"
	"embed"
	"log/slog"
	"sync"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/discordtest/voiceserver"
	"github.com/spellcoven/gateway/voice"
)

// cameraClips are the emulated users' camera clips, camera-<username>.ivf (VP8) or
// camera-<username>.h264 (H.264, Annex B): a moving pattern with the user's name and a frame
// counter (media/generate-cameras.sh). A user's camera sends its clip's codec.
//
//go:embed media/camera-*.ivf media/camera-*.h264
var cameraClips embed.FS

// micGap is the silence between two chimes of an unmuted emulated user: 2 s of Opus silence
// frames (20 ms each).
const micGap = 100

// cameras makes the emulated users' media follow their voice states, as their Discord clients
// would: a user in a voice channel is in its call; with their camera on they stream their clip,
// unmuted they play the chime every three seconds. The emulator tells it every voice state change
// (discordtest.Config.OnVoiceState); the changes are applied in order on one goroutine.
type cameras struct {
	vs    *voiceserver.Server
	log   *slog.Logger
	clips map[string][][]byte // user id -> frames
	tone  [][]byte

	mu      sync.Mutex
	pending []discordtest.VoiceState
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}

	usersMu sync.Mutex
	users   map[string]*voiceserver.User // written by the loop
}

// user returns the emulated user in a call, or nil.
func (c *cameras) user(id string) *voiceserver.User {
	c.usersMu.Lock()
	defer c.usersMu.Unlock()
	return c.users[id]
}

func (c *cameras) setUser(id string, u *voiceserver.User) {
	c.usersMu.Lock()
	defer c.usersMu.Unlock()
	if u == nil {
		delete(c.users, id)
	} else {
		c.users[id] = u
	}
}

func newCameras(vs *voiceserver.Server, log *slog.Logger) (*cameras, error) {
	c := &cameras{
		vs: vs, log: log, clips: make(map[string][][]byte), users: make(map[string]*voiceserver.User),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	for _, u := range discordUsers() {
		if b, err := cameraClips.ReadFile("media/camera-" + u.Username + ".h264"); err == nil {
			frames, err := voice.SplitH264AccessUnits(b)
			if err != nil {
				return nil, err
			}
			c.clips[u.ID] = frames
			continue
		}
		b, err := cameraClips.ReadFile("media/camera-" + u.Username + ".ivf")
		if err != nil {
			continue // a user without a clip has no camera to show
		}
		r, err := voice.NewIVFReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		var frames [][]byte
		for {
			f, _, err := r.NextFrame()
			if err != nil {
				break
			}
			frames = append(frames, f)
		}
		c.clips[u.ID] = frames
	}
	packets, err := voice.NewOggOpusReader(bytes.NewReader(chime))
	if err != nil {
		return nil, err
	}
	for {
		p, err := packets.NextOpus()
		if err != nil {
			break
		}
		c.tone = append(c.tone, p)
	}
	for range micGap {
		c.tone = append(c.tone, []byte{0xf8, 0xff, 0xfe})
	}
	go c.loop()
	return c, nil
}

// observe queues a voice state change; it never blocks (the emulator holds its lock).
func (c *cameras) observe(vs discordtest.VoiceState) {
	if vs.UserID == BotID || vs.UserID == VoiceBotID {
		return
	}
	c.mu.Lock()
	c.pending = append(c.pending, vs)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *cameras) loop() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			c.usersMu.Lock()
			for _, u := range c.users {
				_ = u.Leave()
			}
			c.usersMu.Unlock()
			return
		case <-c.wake:
		}
		c.mu.Lock()
		batch := c.pending
		c.pending = nil
		c.mu.Unlock()
		for _, vs := range batch {
			c.apply(vs)
		}
	}
}

// apply makes one user's call presence, camera and microphone match their voice state.
func (c *cameras) apply(vs discordtest.VoiceState) {
	u := c.user(vs.UserID)
	if u != nil && u.ChannelID != vs.ChannelID {
		_ = u.Leave()
		c.setUser(vs.UserID, nil)
		u = nil
	}
	if vs.ChannelID == "" {
		return
	}
	if u == nil {
		var err error
		if u, err = c.vs.JoinUser(vs.GuildID, vs.ChannelID, vs.UserID); err != nil {
			c.log.Warn("sandbox: emulated user could not join the call", "user_id", vs.UserID, "error", err)
			return
		}
		c.setUser(vs.UserID, u)
	}
	camera, mic := u.Live()
	clip := c.clips[vs.UserID]
	switch want := vs.SelfVideo && clip != nil; {
	case want && !camera:
		if err := u.StartCamera(clip, 0); err != nil {
			c.log.Warn("sandbox: emulated camera", "user_id", vs.UserID, "error", err)
		}
	case !want && camera:
		_ = u.StopCamera()
	}
	switch want := !vs.SelfMute && !vs.SelfDeaf && !vs.Mute; {
	case want && !mic:
		if err := u.StartMic(c.tone); err != nil {
			c.log.Warn("sandbox: emulated microphone", "user_id", vs.UserID, "error", err)
		}
	case !want && mic:
		_ = u.StopMic()
	}
}

// close takes every emulated user out of their call.
func (c *cameras) close() {
	close(c.stop)
	<-c.done
}
