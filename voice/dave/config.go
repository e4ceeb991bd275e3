package dave

import (
	"errors"
	"time"
)

// ProtocolVersion is the highest DAVE protocol version this package speaks; the voice client
// announces it as max_dave_protocol_version in identify.
const ProtocolVersion = 1

// Config describes a member's DAVE session. UserID and ChannelID are required; every limit
// has a default.
type Config struct {
	// UserID is this member's Discord user ID (its MLS credential).
	UserID uint64
	// ChannelID is the voice channel's ID (the MLS group ID).
	ChannelID uint64
	// SigningKey is a P-256 private key (32-byte big-endian scalar) that identifies this
	// member across sessions; nil means a fresh ephemeral key, as Discord clients use by
	// default. It is a secret: never logged.
	SigningKey []byte

	// KeyRetention is how long keys of a replaced epoch or generation keep decrypting
	// in-flight media, and how long clear frames are still accepted after an upgrade to
	// end-to-end encryption (default 10 s, DefaultKeyRetention).
	KeyRetention time.Duration
	// MaxGenerationGap is how many key generations ahead of the newest one seen a frame
	// may be (default 250).
	MaxGenerationGap int
	// MaxMissingNonces is how many skipped frame nonces per sender are remembered so that
	// late frames still decrypt once (default 1000).
	MaxMissingNonces int
	// MaxPendingProposals bounds the proposals cached in one epoch (default 256).
	MaxPendingProposals int
	// Now is the clock (default time.Now); tests substitute a manual one.
	Now func() time.Time
}

// DefaultMaxPendingProposals is Config.MaxPendingProposals' default.
const DefaultMaxPendingProposals = 256

func (c Config) withDefaults() (Config, error) {
	switch {
	case c.UserID == 0:
		return c, errors.New("dave: Config.UserID is required")
	case c.ChannelID == 0:
		return c, errors.New("dave: Config.ChannelID is required")
	case c.KeyRetention < 0:
		return c, errors.New("dave: Config.KeyRetention must not be negative")
	case c.MaxGenerationGap < 0:
		return c, errors.New("dave: Config.MaxGenerationGap must not be negative")
	case c.MaxMissingNonces < 0:
		return c, errors.New("dave: Config.MaxMissingNonces must not be negative")
	case c.MaxPendingProposals < 0:
		return c, errors.New("dave: Config.MaxPendingProposals must not be negative")
	case c.SigningKey != nil && len(c.SigningKey) != 32:
		return c, errors.New("dave: Config.SigningKey must be a 32-byte P-256 scalar")
	}
	if c.KeyRetention == 0 {
		c.KeyRetention = DefaultKeyRetention
	}
	if c.MaxGenerationGap == 0 {
		c.MaxGenerationGap = DefaultMaxGenerationGap
	}
	if c.MaxMissingNonces == 0 {
		c.MaxMissingNonces = DefaultMaxMissingNonces
	}
	if c.MaxPendingProposals == 0 {
		c.MaxPendingProposals = DefaultMaxPendingProposals
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

func (c Config) limits() *limits {
	return &limits{
		retention:        c.KeyRetention,
		maxGenerationGap: uint32(c.MaxGenerationGap),
		maxMissingNonces: uint64(c.MaxMissingNonces),
	}
}
