package voicectl

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/relay"
	"github.com/spellcoven/gateway/voice"
)

// Defaults of Config.
const (
	DefaultJoinTimeout       = 10 * time.Second
	DefaultMaxRecordingBytes = 1 << 30
	DefaultTableIdleTimeout  = 60 * time.Second
)

// Gateway is the main gateway session, as the Controller needs it: the worker's
// *gateway.Session.
type Gateway interface {
	// UpdateVoiceState sends op 4 for guildID: join channelID, or leave voice when channelID
	// is "". It fails when the session is not connected.
	UpdateVoiceState(guildID, channelID string, selfMute, selfDeaf bool) error
}

// Rooms says which channels are rooms: the worker's mirror of the guild.
type Rooms interface {
	// LookupRoom returns the room whose channel id is id, and false when that channel is not
	// a room (not a voice channel under the category, or gone). It fails while the guild's
	// state is not known.
	LookupRoom(id string) (event.Room, bool, error)
}

// Config configures a Controller.
type Config struct {
	// GuildID is the guild whose rooms the bot joins. Required.
	GuildID string
	// Gateway sends op 4. Required.
	Gateway Gateway
	// Rooms tells rooms from other channels. Required.
	Rooms Rooms
	// VoiceBots are the gateway sessions of more bots, used only for voice: each relays one
	// more room at once (a bot user is in one voice channel per guild). Their dispatches go to
	// Controller.VoiceBot(i). Empty: the main bot is the one voice bot.
	VoiceBots []Gateway

	// MediaDir is the directory whose Ogg Opus files may be played; empty disables playing.
	MediaDir string
	// RecordingsDir is the directory recordings are written under, one new directory each;
	// empty disables recording.
	RecordingsDir string
	// JoinTimeout bounds the wait for Discord's answer to op 4: the bot's VOICE_STATE_UPDATE
	// and a VOICE_SERVER_UPDATE with an endpoint (default 10 s). The voice handshake that
	// follows is bounded by Voice.HandshakeTimeout.
	JoinTimeout time.Duration
	// MaxRecordingBytes bounds one recording's media, all members together (default 1 GiB).
	// Past it the recording keeps its files and stops growing; Status reports it truncated.
	MaxRecordingBytes int64

	// Voice is the base configuration of every voice connection (encryption modes, scheme,
	// timeouts, jitter buffer...). The Controller sets its OnEvent, Media and Logger.
	Voice voice.Config

	// Table, when set, turns table view on: the relay's configuration (its OnKeyframeRequest
	// and OnSessionsChange are the Controller's). Viewers watch members of the room the bot
	// is in; the first viewer of a room brings the bot in, and it leaves TableIdleTimeout after
	// the last one, unless it was asked in by a join.
	Table *relay.Config
	// TableIdleTimeout is how long a call joined for viewers outlives its last viewer
	// (default 60 s).
	TableIdleTimeout time.Duration

	// Metrics, when set, receives the voice collectors (coven_worker_voice_*).
	Metrics prometheus.Registerer
	// Logger receives the Controller's logs (default: discarded). Tokens are never logged.
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if !event.ValidSnowflake(c.GuildID) {
		return c, errors.New("voicectl: GuildID must be a Discord snowflake")
	}
	if c.Gateway == nil || c.Rooms == nil {
		return c, errors.New("voicectl: Gateway and Rooms are required")
	}
	for i, g := range c.VoiceBots {
		if g == nil {
			return c, fmt.Errorf("voicectl: VoiceBots[%d] is nil", i)
		}
	}
	for _, d := range []struct{ name, path string }{{"MediaDir", c.MediaDir}, {"RecordingsDir", c.RecordingsDir}} {
		if d.path == "" {
			continue
		}
		fi, err := os.Stat(d.path)
		if err != nil {
			return c, fmt.Errorf("voicectl: %s: %w", d.name, err)
		}
		if !fi.IsDir() {
			return c, fmt.Errorf("voicectl: %s: %s is not a directory", d.name, d.path)
		}
	}
	switch {
	case c.JoinTimeout < 0:
		return c, errors.New("voicectl: JoinTimeout must not be negative")
	case c.JoinTimeout == 0:
		c.JoinTimeout = DefaultJoinTimeout
	}
	switch {
	case c.MaxRecordingBytes < 0:
		return c, errors.New("voicectl: MaxRecordingBytes must not be negative")
	case c.MaxRecordingBytes == 0:
		c.MaxRecordingBytes = DefaultMaxRecordingBytes
	}
	switch {
	case c.TableIdleTimeout < 0:
		return c, errors.New("voicectl: TableIdleTimeout must not be negative")
	case c.TableIdleTimeout == 0:
		c.TableIdleTimeout = DefaultTableIdleTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}
