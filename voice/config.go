package voice

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/spellcoven/gateway/voice/dave"
)

// ServerInfo is what the main gateway says about the voice connection to open: the session ID
// from the bot's VOICE_STATE_UPDATE and the token and endpoint from VOICE_SERVER_UPDATE.
type ServerInfo struct {
	// GuildID is the guild (the voice identify's server_id).
	GuildID string
	// ChannelID is the voice channel joined (DAVE's group ID; the token binds the channel).
	// Required unless Config.TransportOnly.
	ChannelID string
	// UserID is the bot's user ID (a snowflake: DAVE's member identity).
	UserID string
	// SessionID is the main gateway session's voice session ID (VOICE_STATE_UPDATE).
	SessionID string
	// Token is the voice token (VOICE_SERVER_UPDATE). It is a secret: never logged.
	Token string
	// Endpoint is VOICE_SERVER_UPDATE's endpoint, "host" or "host:port".
	Endpoint string
}

func (s ServerInfo) validate() error {
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"GuildID", s.GuildID}, {"UserID", s.UserID}, {"SessionID", s.SessionID},
		{"Token", s.Token}, {"Endpoint", s.Endpoint},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("voice: server info lacks %v (a null endpoint means Discord is still allocating a server: wait for the next VOICE_SERVER_UPDATE)", missing)
	}
	return nil
}

// validateE2EE checks what DAVE needs: numeric user and channel IDs.
func (s ServerInfo) validateE2EE() error {
	for _, f := range []struct{ name, v string }{{"UserID", s.UserID}, {"ChannelID", s.ChannelID}} {
		if n, err := strconv.ParseUint(f.v, 10, 64); err != nil || n == 0 {
			return fmt.Errorf("voice: server info %s %q is not a Discord ID, which end-to-end encryption (DAVE) needs (Config.TransportOnly turns it off for stage channels)", f.name, f.v)
		}
	}
	return nil
}

// Config tunes a Conn. The zero value works against Discord; every limit has a named field.
type Config struct {
	// Modes is the order of preference of transport encryption modes (default DefaultModes:
	// AES-256-GCM, then XChaCha20-Poly1305).
	Modes []Mode
	// AllowLegacyEncryption adds xsalsa20_poly1305, which Discord discontinued in 2024, as the
	// last choice. Off by default.
	AllowLegacyEncryption bool
	// Scheme is the voice gateway's URL scheme: "wss" (default) or "ws" for a local emulator.
	Scheme string
	// TransportOnly turns end-to-end encryption (DAVE) off: identify announces
	// max_dave_protocol_version 0 and media is protected by transport encryption alone.
	// Discord accepts that in stage channels only; elsewhere it closes with 4017.
	TransportOnly bool
	// NoVideo leaves other members' video unasked for. By default each new voice session
	// sends op 15 (media sink wants) {"any": 100}, as Discord's clients do: the voice server
	// forwards no video to a client that has not asked for it.
	NoVideo bool
	// DAVE tunes end-to-end encryption (its limits and signing key); UserID and ChannelID
	// come from ServerInfo. Ignored with TransportOnly.
	DAVE dave.Config

	// HandshakeTimeout bounds each connection attempt, from dialing to the session
	// description (or RESUMED) (default 10 s).
	HandshakeTimeout time.Duration
	// WriteTimeout bounds one WebSocket write (default 5 s).
	WriteTimeout time.Duration
	// MaxMessageBytes is the largest voice gateway message read (default 1 MiB).
	MaxMessageBytes int64
	// MaxMissedHeartbeats is how many heartbeats may go unacknowledged before the connection
	// counts as dead and is resumed (default 2).
	MaxMissedHeartbeats int
	// ReconnectAttempts is how many resumes or reconnects in a row are tried before the
	// connection gives up (default 5).
	ReconnectAttempts int
	// ReconnectBackoff is the longest wait before the second attempt; it doubles per attempt up to
	// MaxReconnectBackoff (defaults 1 s and 30 s), and each wait is drawn from the upper half of
	// that (jitter). The first attempt is immediate.
	ReconnectBackoff    time.Duration
	MaxReconnectBackoff time.Duration

	// IPDiscoveryAttempts and IPDiscoveryTimeout bound UDP IP discovery (defaults 5 tries of
	// 1 s each).
	IPDiscoveryAttempts int
	IPDiscoveryTimeout  time.Duration
	// KeepaliveInterval is the period of UDP keepalives (default 5 s).
	KeepaliveInterval time.Duration
	// MaxPacketSize is the largest RTP packet sent or received, in bytes (default 1500).
	MaxPacketSize int
	// UDPReadBuffer is the UDP socket's receive buffer in bytes (default 1 MiB).
	UDPReadBuffer int
	// VideoMTU is the largest video packet, header and encryption included (default 1200).
	VideoMTU int

	// SilenceFrames is how many silence frames end a talk spurt (default 5).
	SilenceFrames int
	// MaxSendLag is how far behind its schedule the sender may fall (the process was
	// descheduled) before it starts a new schedule instead of sending a burst (default 200 ms).
	MaxSendLag time.Duration

	// Jitter sizes the receive-side jitter buffer of each sender.
	Jitter JitterConfig
	// UnmappedGrace is how long packets from an SSRC that no voice gateway event has tied to
	// a user yet are held back waiting for it (the event travels over the WebSocket and can
	// arrive after the first packets); past it they are delivered without a user (default
	// 500 ms).
	UnmappedGrace time.Duration

	// OnEvent receives voice gateway events and state changes, in order, from the connection's
	// reader goroutine; it must not block.
	OnEvent func(Event)
	// Media receives other users' audio and video, in order per sender, from the UDP reader
	// goroutine; nil discards them.
	Media MediaHandler
	// FrameEncryptor and FrameDecryptor, when set, replace the connection's own DAVE frame
	// encryption between codec and transport (nil: DAVE, or nothing with TransportOnly).
	FrameEncryptor FrameEncryptor
	FrameDecryptor FrameDecryptor

	// HTTPClient dials the WebSocket (default http.DefaultClient).
	HTTPClient *http.Client
	// Logger receives the connection's logs (default: discarded). Tokens are never logged.
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.Scheme == "" {
		c.Scheme = "wss"
	}
	if c.Scheme != "wss" && c.Scheme != "ws" {
		return c, fmt.Errorf("voice: Scheme %q, want wss or ws", c.Scheme)
	}
	if len(c.Modes) == 0 {
		c.Modes = slices.Clone(DefaultModes)
	} else {
		c.Modes = slices.Clone(c.Modes)
	}
	for _, m := range c.Modes {
		if !m.Supported() {
			return c, fmt.Errorf("voice: Modes: unsupported mode %q", m)
		}
		if m == ModeXSalsa20Poly1305 && !c.AllowLegacyEncryption {
			return c, errors.New("voice: Modes lists xsalsa20_poly1305 without AllowLegacyEncryption")
		}
	}
	if c.AllowLegacyEncryption && !slices.Contains(c.Modes, ModeXSalsa20Poly1305) {
		c.Modes = append(c.Modes, ModeXSalsa20Poly1305)
	}
	durations := []struct {
		v    *time.Duration
		def  time.Duration
		name string
	}{
		{&c.HandshakeTimeout, 10 * time.Second, "HandshakeTimeout"},
		{&c.WriteTimeout, 5 * time.Second, "WriteTimeout"},
		{&c.ReconnectBackoff, time.Second, "ReconnectBackoff"},
		{&c.MaxReconnectBackoff, 30 * time.Second, "MaxReconnectBackoff"},
		{&c.IPDiscoveryTimeout, time.Second, "IPDiscoveryTimeout"},
		{&c.KeepaliveInterval, 5 * time.Second, "KeepaliveInterval"},
		{&c.MaxSendLag, 200 * time.Millisecond, "MaxSendLag"},
		{&c.UnmappedGrace, 500 * time.Millisecond, "UnmappedGrace"},
	}
	for _, d := range durations {
		if *d.v < 0 {
			return c, fmt.Errorf("voice: %s must not be negative", d.name)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	ints := []struct {
		v        *int
		def, min int
		name     string
	}{
		{&c.MaxMissedHeartbeats, 2, 1, "MaxMissedHeartbeats"},
		{&c.ReconnectAttempts, 5, 1, "ReconnectAttempts"},
		{&c.IPDiscoveryAttempts, 5, 1, "IPDiscoveryAttempts"},
		{&c.MaxPacketSize, 1500, 256, "MaxPacketSize"},
		{&c.UDPReadBuffer, 1 << 20, 0, "UDPReadBuffer"},
		{&c.VideoMTU, 1200, 128, "VideoMTU"},
		{&c.SilenceFrames, 5, 0, "SilenceFrames"},
	}
	for _, f := range ints {
		if *f.v < 0 {
			return c, fmt.Errorf("voice: %s must not be negative", f.name)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
		if *f.v < f.min {
			return c, fmt.Errorf("voice: %s %d is below the minimum %d", f.name, *f.v, f.min)
		}
	}
	if c.VideoMTU > c.MaxPacketSize {
		return c, fmt.Errorf("voice: VideoMTU %d exceeds MaxPacketSize %d", c.VideoMTU, c.MaxPacketSize)
	}
	if c.MaxMessageBytes < 0 {
		return c, errors.New("voice: MaxMessageBytes must not be negative")
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 1 << 20
	}
	jitter, err := c.Jitter.withDefaults()
	if err != nil {
		return c, err
	}
	if jitter.MaxPayload < c.MaxPacketSize {
		jitter.MaxPayload = c.MaxPacketSize
	}
	c.Jitter = jitter
	if c.HTTPClient == nil {
		c.HTTPClient = http.DefaultClient
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}
