package rooms

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest"
)

func TestDiscordFailuresGetClearAnswers(t *testing.T) {
	const createRoute = "POST /guilds/{guild.id}/channels"
	cases := []struct {
		name      string
		cfg       func(*Config)
		emu       func(*discordtest.Config)
		setup     func(*testing.T, *fixture)
		status    int
		code      string
		nothingAt bool // no channel may have been created
	}{
		{"429 storm past the deadline", nil, nil, func(t *testing.T, f *fixture) {
			fault(t, f, discordtest.RESTFault{Kind: discordtest.FaultRateLimit, Route: createRoute, RetryAfter: 30 * time.Second})
		}, 503, "discord_rate_limited", true},
		{"Discord 5xx", nil, nil, func(t *testing.T, f *fixture) {
			fault(t, f, discordtest.RESTFault{Kind: discordtest.FaultServerError, Route: createRoute, Status: 503})
		}, 502, "discord_error", true},
		{"Discord slower than the deadline", func(c *Config) { c.RequestTimeout = 300 * time.Millisecond }, nil, func(t *testing.T, f *fixture) {
			fault(t, f, discordtest.RESTFault{Kind: discordtest.FaultDelay, Route: createRoute, Delay: 1500 * time.Millisecond})
		}, 503, "discord_timeout", false},
		{"bot token rejected", nil, func(c *discordtest.Config) { c.BotTokens = []string{"another-token"} }, nil, 503, "discord_unavailable", true},
		{"bot without permission", nil, nil, func(t *testing.T, f *fixture) {
			if err := f.emu.SetBotPermissions(guildID, 0); err != nil {
				t.Fatal(err)
			}
		}, 502, "discord_forbidden", true},
		{"guild full", nil, func(c *discordtest.Config) { c.Guilds[0].MaxChannels = 5 }, nil, 409, "server_full", true},
		{"Discord unreachable", nil, nil, func(t *testing.T, f *fixture) {
			f.emu.Close()
		}, 503, "discord_unavailable", true},
		{"category missing", func(c *Config) { c.CategoryID = "1100000000000000777" }, nil, nil, 502, "misconfigured", true},
		{"category is a voice channel", func(c *Config) { c.CategoryID = lobbyID }, nil, nil, 502, "misconfigured", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.cfg, tc.emu)
			if tc.setup != nil {
				tc.setup(t, f)
			}
			before := len(f.channels(t))
			r := f.create(t, alice, `{"name":"Doomed"}`)
			if r.Status != tc.status || r.Error == nil || r.Error.Code != tc.code {
				t.Fatalf("got %d %+v, want %d %s", r.Status, r.Error, tc.status, tc.code)
			}
			if strings.Contains(r.Error.Message, testToken) {
				t.Fatal("the answer shows the token")
			}
			if tc.nothingAt && len(f.channels(t)) != before {
				t.Fatal("a channel was created")
			}
		})
	}
}

func fault(t *testing.T, f *fixture, rf discordtest.RESTFault) {
	t.Helper()
	if err := f.emu.AddRESTFault(rf); err != nil {
		t.Fatal(err)
	}
}

func TestDeleteWhenDiscordFails(t *testing.T) {
	f := newFixture(t, nil, nil)
	room := f.mustCreate(t, alice, "table")
	f.mirror(t)
	fault(t, f, discordtest.RESTFault{Kind: discordtest.FaultRateLimit, Route: "GET /channels/{channel.id}", RetryAfter: 30 * time.Second})
	r := f.do(t, call{method: "DELETE", path: "/api/rooms/" + room.ID, caller: alice})
	if r.Status != http.StatusServiceUnavailable || r.Error.Code != "discord_rate_limited" {
		t.Fatalf("got %d %+v", r.Status, r.Error)
	}
	if _, exists := f.channels(t)[room.ID]; !exists {
		t.Fatal("the room was deleted")
	}
	// The client remembers that room's rate limit; another room shows the retry of a 5xx on DELETE,
	// which is harmless to send twice.
	f.emu.ClearRESTFaults()
	other := f.mustCreate(t, alice, "other table")
	f.mirror(t)
	fault(t, f, discordtest.RESTFault{Kind: discordtest.FaultServerError, Route: "DELETE /channels/{channel.id}", Count: 1})
	if r := f.do(t, call{method: "DELETE", path: "/api/rooms/" + other.ID, caller: alice}); r.Status != http.StatusNoContent {
		t.Fatalf("after a 5xx: %d %+v", r.Status, r.Error)
	}
	if _, exists := f.channels(t)[other.ID]; exists {
		t.Fatal("the room survived")
	}
	// A bot that may no longer manage channels cannot delete: the edge says so.
	third := f.mustCreate(t, alice, "third table")
	f.mirror(t)
	if err := f.emu.SetBotPermissions(guildID, 0); err != nil {
		t.Fatal(err)
	}
	if r := f.do(t, call{method: "DELETE", path: "/api/rooms/" + third.ID, caller: alice}); r.Status != http.StatusBadGateway || r.Error.Code != "discord_forbidden" {
		t.Fatalf("without permission: %d %+v", r.Status, r.Error)
	}
}
