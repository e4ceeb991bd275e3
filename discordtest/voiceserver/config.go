package voiceserver

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// The transport encryption modes, as the voice gateway names them.
const (
	ModeAES256GCM         = "aead_aes256_gcm_rtpsize"
	ModeXChaCha20Poly1305 = "aead_xchacha20_poly1305_rtpsize"
	ModeXSalsa20Poly1305  = "xsalsa20_poly1305"
)

// Config describes the voice server. The zero value of each field selects Discord's own
// figure (or a sane limit); tests shorten the timings.
type Config struct {
	// Host is the address it listens on and announces (default 127.0.0.1).
	Host string
	// Modes are the encryption modes offered in Ready, in order (default AES-256-GCM and
	// XChaCha20-Poly1305, as Discord offers since 2024; add ModeXSalsa20Poly1305 to emulate an
	// old server).
	Modes []string
	// HeartbeatInterval is sent in Hello (Discord: 13750 ms).
	HeartbeatInterval time.Duration
	// HeartbeatTimeout closes a connection with 4009 when no heartbeat came for that long
	// (default twice HeartbeatInterval).
	HeartbeatTimeout time.Duration
	// HandshakeTimeout is how long a new connection may take to identify or resume (default 10 s).
	HandshakeTimeout time.Duration
	// ResumeWindow is how long a session whose connection dropped stays resumable (default 60 s).
	ResumeWindow time.Duration
	// ReplayBufferSize is how many messages a session keeps for replay on resume (default 256).
	ReplayBufferSize int
	// MaxMessageBytes is the largest client message accepted (default 4096; over it, 4002).
	MaxMessageBytes int
	// OutboundQueue is how many messages may wait for a slow client before its connection is
	// dropped (default 256).
	OutboundQueue int
	// MaxRecordedPackets bounds the packets recorded per SSRC (default 100000).
	MaxRecordedPackets int
	// RequireDAVE closes identifies without max_dave_protocol_version >= 1 with 4017, as
	// Discord does for non-stage channels since 2026-03-01. Off by default, so that
	// transport-only clients (stage channels) can be tested.
	RequireDAVE bool
	// DisableDAVE emulates a voice server from before DAVE: session descriptions say
	// dave_protocol_version 0 whatever the client offers. By default a client that offers
	// DAVE gets version 1, and the server runs the call's group as its external sender.
	DisableDAVE bool
	// DAVETransitionTimeout is how long a DAVE transition waits for every member's ready
	// before it executes anyway (default 2 s).
	DAVETransitionTimeout time.Duration
	// DAVEReadyTimeout bounds how long an emulated user's SendOpus or SendVP8 waits for its
	// DAVE group to be ready before sending (default 10 s).
	DAVEReadyTimeout time.Duration
	// Logger receives the server's logs (default: discarded). Tokens are never logged.
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if net.ParseIP(c.Host) == nil {
		return c, fmt.Errorf("voiceserver: Host %q is not an IP address", c.Host)
	}
	if len(c.Modes) == 0 {
		c.Modes = []string{ModeAES256GCM, ModeXChaCha20Poly1305}
	}
	for _, m := range c.Modes {
		switch m {
		case ModeAES256GCM, ModeXChaCha20Poly1305, ModeXSalsa20Poly1305:
		default:
			return c, fmt.Errorf("voiceserver: unknown mode %q", m)
		}
	}
	durations := []struct {
		v    *time.Duration
		def  time.Duration
		name string
	}{
		{&c.HeartbeatInterval, 13750 * time.Millisecond, "HeartbeatInterval"},
		{&c.HandshakeTimeout, 10 * time.Second, "HandshakeTimeout"},
		{&c.ResumeWindow, 60 * time.Second, "ResumeWindow"},
		{&c.DAVETransitionTimeout, 2 * time.Second, "DAVETransitionTimeout"},
		{&c.DAVEReadyTimeout, 10 * time.Second, "DAVEReadyTimeout"},
	}
	for _, d := range durations {
		if *d.v < 0 {
			return c, fmt.Errorf("voiceserver: %s must not be negative", d.name)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.HeartbeatTimeout < 0 {
		return c, errors.New("voiceserver: HeartbeatTimeout must not be negative")
	}
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = 2 * c.HeartbeatInterval
	}
	ints := []struct {
		v    *int
		def  int
		name string
	}{
		{&c.ReplayBufferSize, 256, "ReplayBufferSize"},
		{&c.MaxMessageBytes, 4096, "MaxMessageBytes"},
		{&c.OutboundQueue, 256, "OutboundQueue"},
		{&c.MaxRecordedPackets, 100000, "MaxRecordedPackets"},
	}
	for _, f := range ints {
		if *f.v < 0 {
			return c, fmt.Errorf("voiceserver: %s must not be negative", f.name)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}
