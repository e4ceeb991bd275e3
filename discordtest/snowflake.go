package discordtest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// DiscordEpoch is the start of Discord's snowflake clock, 2015-01-01T00:00:00Z.
var DiscordEpoch = time.UnixMilli(1420070400000).UTC()

// snowflakeWorker fills the worker-ID bits of every snowflake the emulator makes, so its IDs are
// recognisable yet shaped exactly like Discord's.
const snowflakeWorker = 1

// snowflakes makes Discord-shaped IDs: milliseconds since DiscordEpoch in the top 42 bits, then
// worker, process and increment bits. IDs strictly increase, even within one millisecond, so the
// creation order of channels and users can be read from their IDs as on Discord.
type snowflakes struct {
	mu   sync.Mutex
	last uint64
}

func (g *snowflakes) next() string {
	ms := uint64(time.Since(DiscordEpoch).Milliseconds())
	id := ms<<22 | snowflakeWorker<<17
	g.mu.Lock()
	if id <= g.last {
		id = g.last + 1
	}
	g.last = id
	g.mu.Unlock()
	return strconv.FormatUint(id, 10)
}

// observe makes later IDs greater than a seeded one, keeping IDs increasing when a configuration
// supplies its own.
func (g *snowflakes) observe(id string) {
	v, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return
	}
	g.mu.Lock()
	if v > g.last {
		g.last = v
	}
	g.mu.Unlock()
}

// SnowflakeTime returns the creation time encoded in a Discord snowflake.
func SnowflakeTime(id string) (time.Time, error) {
	v, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("discordtest: %q is not a snowflake", id)
	}
	return DiscordEpoch.Add(time.Duration(v>>22) * time.Millisecond), nil
}

// isSnowflake reports whether s is a decimal unsigned 64-bit integer, as Discord requires of IDs.
func isSnowflake(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}

// randomHex returns n random bytes as 2n hex digits, for session IDs and voice tokens.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms.
	return hex.EncodeToString(b)
}
