package discordtest

import (
	"strings"
	"testing"
	"time"
)

func TestConfigRejectsBadValues(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no bot token", func(c *Config) { c.BotTokens = nil }, "at least one bot token"},
		{"empty bot token", func(c *Config) { c.BotTokens = []string{""} }, "bot token 0 is empty"},
		{"control token equals a bot token", func(c *Config) { c.ControlToken = testToken }, "control token must differ"},
		{"negative global limit", func(c *Config) { c.REST.GlobalLimit = -1 }, "REST.GlobalLimit"},
		{"negative route window", func(c *Config) { c.REST.RouteLimit.Window = -time.Second }, "REST.RouteLimit.Window"},
		{"route override without window", func(c *Config) {
			c.REST.Routes = map[string]RouteLimit{"GET /users/@me": {Requests: 1}}
		}, "positive Requests and Window"},
		{"negative body limit", func(c *Config) { c.REST.MaxBodyBytes = -1 }, "MaxBodyBytes"},
		{"negative heartbeat", func(c *Config) { c.Gateway.HeartbeatInterval = -time.Second }, "Gateway.HeartbeatInterval"},
		{"negative payload limit", func(c *Config) { c.Gateway.MaxPayloadBytes = -1 }, "Gateway.MaxPayloadBytes"},
		{"negative send window", func(c *Config) { c.Gateway.SendWindow = -time.Second }, "Gateway.SendWindow"},
		{"unprivileged intent enabled as privileged", func(c *Config) { c.Gateway.PrivilegedIntents = IntentGuilds }, "not privileged"},
		{"negative observation limit", func(c *Config) { c.ObservationLimit = -1 }, "ObservationLimit"},
		{"bot ID not a snowflake", func(c *Config) { c.Bot.ID = "bot" }, "not a snowflake"},
		{"guild ID not a snowflake", func(c *Config) { c.Guilds = []GuildConfig{{ID: "g"}} }, "not a snowflake"},
		{"seed channel invalid", func(c *Config) {
			c.Guilds = []GuildConfig{{Channels: []Channel{{Type: ChannelTypeGuildVoice, Name: "v", UserLimit: 100}}}}
		}, "user_limit"},
		{"seed user name too short", func(c *Config) { c.Users = []User{{Username: "a"}} }, "username"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			tt.mutate(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: got error %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Fatalf("error %q reveals the bot token", err)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := Config{BotTokens: []string{"t"}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"global limit", cfg.REST.GlobalLimit, 50},
		{"global window", cfg.REST.GlobalWindow, time.Second},
		{"route limit", cfg.REST.RouteLimit, RouteLimit{Requests: 5, Window: 5 * time.Second}},
		{"invalid request limit", cfg.REST.InvalidRequestLimit, 10000},
		{"invalid request window", cfg.REST.InvalidRequestWindow, 10 * time.Minute},
		{"ban duration", cfg.REST.BanDuration, time.Hour},
		{"body limit", cfg.REST.MaxBodyBytes, int64(1 << 20)},
		{"heartbeat interval", cfg.Gateway.HeartbeatInterval, 41250 * time.Millisecond},
		{"heartbeat timeout", cfg.Gateway.HeartbeatTimeout, 82500 * time.Millisecond},
		{"resume window", cfg.Gateway.ResumeWindow, 2 * time.Minute},
		{"replay buffer", cfg.Gateway.ReplayBufferSize, 4096},
		{"payload limit", cfg.Gateway.MaxPayloadBytes, 4096},
		{"send limit", cfg.Gateway.SendLimit, 120},
		{"send window", cfg.Gateway.SendWindow, 60 * time.Second},
		{"identify concurrency", cfg.Gateway.IdentifyMaxConcurrency, 1},
		{"identify window", cfg.Gateway.IdentifyWindow, 5 * time.Second},
		{"session start limit", cfg.Gateway.SessionStartLimit, 1000},
		{"session start reset", cfg.Gateway.SessionStartReset, 24 * time.Hour},
		{"outbound queue", cfg.Gateway.OutboundQueue, 1024},
		{"write timeout", cfg.Gateway.WriteTimeout, 10 * time.Second},
		{"observation limit", cfg.ObservationLimit, 1024},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestDefaultWorld(t *testing.T) {
	s, err := New(Config{BotTokens: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	st := s.State()
	if len(st.Guilds) != 1 {
		t.Fatalf("got %d guilds, want 1", len(st.Guilds))
	}
	g := st.Guilds[0]
	byName := map[string]Channel{}
	for _, c := range g.Channels {
		byName[c.Name] = c
	}
	rooms, ok := byName["Rooms"]
	if !ok || rooms.Type != ChannelTypeGuildCategory || rooms.ID != g.RoomsCategoryID {
		t.Fatalf("rooms category: got %+v (RoomsCategoryID %s)", rooms, g.RoomsCategoryID)
	}
	if c := byName["general"]; c.Type != ChannelTypeGuildText || c.ParentID != "" {
		t.Errorf("general: got %+v", c)
	}
	if c := byName["Lobby"]; c.Type != ChannelTypeGuildVoice || c.ParentID != rooms.ID || c.Bitrate != 64000 {
		t.Errorf("Lobby: got %+v", c)
	}
	// The bot is an ordinary member: someone else owns the guild, and the bot's role holds what
	// its invite asked for.
	if !st.Bot.Bot || st.Bot.Username != "Spell Coven" || g.OwnerID == "" || g.OwnerID == st.Bot.ID {
		t.Errorf("bot: got %+v, owner %s", st.Bot, g.OwnerID)
	}
	if len(g.Roles) != 2 || g.Roles[0].ID != g.ID || g.Roles[1].ID != g.BotRoleID || g.Roles[1].Permissions != DefaultBotPermissions || !g.Roles[1].Managed {
		t.Errorf("roles %+v", g.Roles)
	}
}
