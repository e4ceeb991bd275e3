package discordtest

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

const testVoiceToken = "test-voice-bot-token.secret"

// voiceBotIdentify opens a gateway session with token and returns it with READY's data.
func voiceBotIdentify(t *testing.T, s *Server, token string) (*rawGateway, map[string]any) {
	t.Helper()
	g := dialGateway(t, s, v10)
	if hello := g.next(5 * time.Second); hello.Op != opHello {
		t.Fatalf("first payload op %d, want hello", hello.Op)
	}
	g.send(opIdentify, identifyPayload(token, IntentGuilds|IntentGuildVoiceStates))
	ready := decodeJSON[map[string]any](t, g.expectDispatch("READY").D)
	g.expectDispatch("GUILD_CREATE")
	return g, ready
}

// voiceStateOf returns the channel userID is in, "" for none.
func voiceStateOf(s *Server, userID string) string {
	for _, vs := range s.State().Guilds[0].VoiceStates {
		if vs.UserID == userID {
			return vs.ChannelID
		}
	}
	return ""
}

// TestVoiceBots: a voice bot is a bot user of its own: its token identifies as it, its op 4
// puts it (not the main bot) in a channel, each bot is in one voice channel per guild, and
// permissions apply to each bot on its own.
func TestVoiceBots(t *testing.T) {
	s := startEmulator(t, func(c *Config) {
		c.VoiceBots = []VoiceBotConfig{{Token: testVoiceToken}}
		c.Gateway.VoiceEndpoint = "127.0.0.1:4444"
	})
	guild := firstGuild(t, s)
	lobby := channelNamed(t, s, "Lobby")
	bots := s.VoiceBots()
	if len(bots) != 1 || !bots[0].Bot || bots[0].ID == s.Bot().ID || bots[0].Username != "Spell Coven Voice 1" {
		t.Fatalf("voice bots %+v", bots)
	}
	vb := bots[0]
	if st := s.State(); len(st.VoiceBots) != 1 || st.VoiceBots[0].ID != vb.ID || slices.ContainsFunc(st.Users, func(u User) bool { return u.ID == vb.ID }) {
		t.Fatalf("the state is to list the voice bot apart from the users: %+v", st)
	}
	// A member of the guild with a managed role of its own.
	gs, _ := s.GuildState(guild.ID)
	if len(gs.VoiceBotRoleIDs) != 1 || !slices.ContainsFunc(gs.Members, func(u User) bool { return u.ID == vb.ID }) {
		t.Fatalf("the voice bot is no member with a role: %+v", gs)
	}
	if i := slices.IndexFunc(gs.Roles, func(r Role) bool { return r.ID == gs.VoiceBotRoleIDs[0] }); i < 0 || gs.Roles[i].Permissions != DefaultVoiceBotPermissions {
		t.Fatalf("the voice bot's role: %+v", gs.Roles)
	}

	// REST: who it is and its session starts; nothing else.
	resp, raw := apiCall{method: http.MethodGet, path: "/api/v10/users/@me", auth: "Bot " + testVoiceToken}.do(t, s)
	if me := decodeJSON[map[string]any](t, raw); resp.StatusCode != 200 || me["id"] != vb.ID || me["bot"] != true {
		t.Fatalf("GET /users/@me as the voice bot: %d %s", resp.StatusCode, raw)
	}
	if resp, raw := (apiCall{method: http.MethodGet, path: "/api/v10/gateway/bot", auth: "Bot " + testVoiceToken}.do(t, s)); resp.StatusCode != 200 {
		t.Fatalf("GET /gateway/bot as the voice bot: %d %s", resp.StatusCode, raw)
	}
	resp, raw = apiCall{method: http.MethodGet, path: "/api/v10/guilds/" + guild.ID + "/channels", auth: "Bot " + testVoiceToken}.do(t, s)
	if e := decodeJSON[map[string]any](t, raw); resp.StatusCode != http.StatusForbidden || e["code"] != float64(20001) {
		t.Fatalf("another route as the voice bot: %d %s", resp.StatusCode, raw)
	}
	resp, raw = apiCall{method: http.MethodPost, path: "/api/v10/guilds/" + guild.ID + "/channels", auth: botAuth,
		body: map[string]any{"name": "Two", "type": ChannelTypeGuildVoice, "parent_id": guild.RoomsCategoryID}}.do(t, s)
	if resp.StatusCode != 201 {
		t.Fatalf("creating a channel: %d %s", resp.StatusCode, raw)
	}
	two := decodeJSON[map[string]any](t, raw)["id"].(string)

	main := dialGateway(t, s, v10)
	main.identify(IntentGuilds)
	main.expectDispatch("GUILD_CREATE")
	v, ready := voiceBotIdentify(t, s, testVoiceToken)
	if u := ready["user"].(map[string]any); u["id"] != vb.ID || u["bot"] != true {
		t.Fatalf("READY's user %v, want the voice bot", u)
	}

	// The main bot in the lobby, the voice bot in room two: at once.
	main.send(opVoiceStateUpdate, map[string]any{"guild_id": guild.ID, "channel_id": lobby.ID, "self_mute": false, "self_deaf": false})
	waitFor(t, "the main bot in the lobby", 5*time.Second, func() bool { return voiceStateOf(s, s.Bot().ID) == lobby.ID })
	if vsu := decodeJSON[map[string]any](t, v.expectDispatch("VOICE_STATE_UPDATE").D); vsu["user_id"] != s.Bot().ID {
		t.Fatalf("the voice bot's session saw %v", vsu)
	}
	v.send(opVoiceStateUpdate, map[string]any{"guild_id": guild.ID, "channel_id": two, "self_mute": false, "self_deaf": false})
	vsu := decodeJSON[map[string]any](t, v.expectDispatch("VOICE_STATE_UPDATE").D)
	if vsu["user_id"] != vb.ID || vsu["channel_id"] != two || vsu["session_id"] != ready["session_id"] {
		t.Fatalf("VOICE_STATE_UPDATE %v", vsu)
	}
	server := decodeJSON[map[string]any](t, v.expectDispatch("VOICE_SERVER_UPDATE").D)
	if grant, ok := s.VoiceGrant(guild.ID, vb.ID); !ok || grant.Token != server["token"] || grant.ChannelID != two {
		t.Fatalf("the voice bot's grant %+v, %v", grant, ok)
	}
	if voiceStateOf(s, s.Bot().ID) != lobby.ID || voiceStateOf(s, vb.ID) != two {
		t.Fatalf("voice states %+v", s.State().Guilds[0].VoiceStates)
	}

	// One voice channel per bot: joining the lobby takes the voice bot out of room two.
	v.send(opVoiceStateUpdate, map[string]any{"guild_id": guild.ID, "channel_id": lobby.ID, "self_mute": false, "self_deaf": false})
	waitFor(t, "the voice bot in the lobby", 5*time.Second, func() bool { return voiceStateOf(s, vb.ID) == lobby.ID })
	v.expectDispatch("VOICE_STATE_UPDATE")
	v.expectDispatch("VOICE_SERVER_UPDATE")
	if n := len(s.State().Guilds[0].VoiceStates); n != 2 {
		t.Fatalf("%d voice states, want the two bots'", n)
	}

	// Permissions are each bot's own: room two denies the voice bot Connect, not the main bot.
	if err := s.SetChannelOverwrite(two, PermissionOverwrite{ID: vb.ID, Type: OverwriteTypeMember, Deny: PermissionConnect}); err != nil {
		t.Fatal(err)
	}
	v.expectDispatch("CHANNEL_UPDATE")
	v.send(opVoiceStateUpdate, map[string]any{"guild_id": guild.ID, "channel_id": two, "self_mute": false, "self_deaf": false})
	v.expectSilence(300 * time.Millisecond)
	if voiceStateOf(s, vb.ID) != lobby.ID {
		t.Fatal("the voice bot joined a room it may not connect to")
	}
	main.send(opVoiceStateUpdate, map[string]any{"guild_id": guild.ID, "channel_id": two, "self_mute": false, "self_deaf": false})
	waitFor(t, "the main bot in room two", 5*time.Second, func() bool { return voiceStateOf(s, s.Bot().ID) == two })
}

// TestVoiceBotConfig: a voice bot needs a token of its own.
func TestVoiceBotConfig(t *testing.T) {
	for _, c := range []struct {
		bots []VoiceBotConfig
		msg  string
	}{
		{[]VoiceBotConfig{{}}, "voice bot 0's token is empty"},
		{[]VoiceBotConfig{{Token: testToken}}, "voice bot 0's token is another bot's"},
		{[]VoiceBotConfig{{Token: "a"}, {Token: "a"}}, "voice bot 1's token is another bot's"},
		{[]VoiceBotConfig{{Token: "a", User: User{ID: "x"}}}, "is not a fresh snowflake"},
	} {
		cfg := testConfig()
		cfg.VoiceBots = c.bots
		_, err := New(cfg)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%+v: error %v, want %q", c.bots, err, c.msg)
		}
	}
}
