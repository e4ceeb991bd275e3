package discordtest

import (
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

const v10 = "v=10&encoding=json"

func TestGatewayHelloAndHeartbeat(t *testing.T) {
	s := startEmulator(t, nil)
	g := dialGateway(t, s, v10)
	hello := g.next(5 * time.Second)
	if hello.Op != opHello || hello.S != nil || hello.T != nil || hello.binary {
		t.Fatalf("hello: %s", hello.frame)
	}
	if !strings.Contains(string(hello.frame), `"t":null,"s":null`) {
		t.Errorf("hello should carry null t and s as Discord sends them: %s", hello.frame)
	}
	if got := decodeJSON[map[string]any](t, hello.D)["heartbeat_interval"]; got != 200.0 {
		t.Fatalf("heartbeat_interval %v, want 200", got)
	}
	// A heartbeat before identify is allowed and answered, with d null.
	g.send(opHeartbeat, nil)
	if ack := g.next(5 * time.Second); ack.Op != opHeartbeatACK {
		t.Fatalf("got op %d, want heartbeat ACK", ack.Op)
	}
	g.send(opHeartbeat, 0)
	if ack := g.next(5 * time.Second); ack.Op != opHeartbeatACK {
		t.Fatalf("got op %d, want heartbeat ACK", ack.Op)
	}
	if st := s.Stats(); st.Heartbeats != 2 || st.HeartbeatACKs != 2 {
		t.Fatalf("heartbeats %d, ACKs %d", st.Heartbeats, st.HeartbeatACKs)
	}
}

func TestGatewayCloseCodes(t *testing.T) {
	hello := func(g *rawGateway) { g.next(5 * time.Second) }
	tests := []struct {
		name   string
		config func(*Config)
		query  string
		act    func(g *rawGateway)
		want   websocket.StatusCode
	}{
		{"bad token", nil, v10, func(g *rawGateway) {
			hello(g)
			g.send(opIdentify, identifyPayload("wrong", 129))
		}, 4004},
		{"token of another kind", nil, v10, func(g *rawGateway) {
			hello(g)
			g.send(opIdentify, identifyPayload(testControl, 129))
		}, 4004},
		{"unknown intent bit", nil, v10, func(g *rawGateway) {
			hello(g)
			g.send(opIdentify, identifyPayload(testToken, 1<<30))
		}, 4013},
		{"missing intents", nil, v10, func(g *rawGateway) {
			hello(g)
			p := identifyPayload(testToken, 0)
			delete(p, "intents")
			g.send(opIdentify, p)
		}, 4013},
		{"privileged intent not enabled", nil, v10, func(g *rawGateway) {
			hello(g)
			g.send(opIdentify, identifyPayload(testToken, IntentGuilds|IntentGuildMembers))
		}, 4014},
		{"message content not enabled", nil, v10, func(g *rawGateway) {
			hello(g)
			g.send(opIdentify, identifyPayload(testToken, IntentMessageContent))
		}, 4014},
		{"identify twice", nil, v10, func(g *rawGateway) {
			g.identify(129)
			g.send(opIdentify, identifyPayload(testToken, 129))
		}, 4005},
		{"resume after identify", nil, v10, func(g *rawGateway) {
			g.identify(129)
			g.send(opResume, map[string]any{"token": testToken, "session_id": "x", "seq": 1})
		}, 4005},
		{"presence before identify", nil, v10, func(g *rawGateway) {
			hello(g)
			g.send(opPresenceUpdate, map[string]any{"status": "online", "activities": []any{}, "afk": false, "since": nil})
		}, 4003},
		{"voice state before identify", nil, v10, func(g *rawGateway) {
			hello(g)
			g.send(opVoiceStateUpdate, map[string]any{"guild_id": "1", "channel_id": nil})
		}, 4003},
		{"not JSON", nil, v10, func(g *rawGateway) {
			hello(g)
			g.sendRaw([]byte("{op:1"))
		}, 4002},
		{"no op", nil, v10, func(g *rawGateway) {
			hello(g)
			g.sendRaw([]byte(`{"d":null}`))
		}, 4002},
		{"heartbeat with a string", nil, v10, func(g *rawGateway) {
			hello(g)
			g.send(opHeartbeat, "seq")
		}, 4002},
		{"payload over 4096 bytes", nil, v10, func(g *rawGateway) {
			hello(g)
			g.send(opHeartbeat, strings.Repeat("x", 4100))
		}, 4002},
		{"payload far over the limit", nil, v10, func(g *rawGateway) {
			hello(g)
			g.send(opHeartbeat, strings.Repeat("x", 100_000))
		}, 4002},
		{"payload over a configured limit", func(c *Config) { c.Gateway.MaxPayloadBytes = 100 }, v10, func(g *rawGateway) {
			hello(g)
			g.send(opHeartbeat, nil)
			g.next(5 * time.Second)
			g.send(opHeartbeat, strings.Repeat("x", 100))
		}, 4002},
		{"identify without properties", nil, v10, func(g *rawGateway) {
			hello(g)
			g.send(opIdentify, map[string]any{"token": testToken, "intents": 129})
		}, 4002},
		{"large threshold out of range", nil, v10, func(g *rawGateway) {
			hello(g)
			p := identifyPayload(testToken, 129)
			p["large_threshold"] = 10
			g.send(opIdentify, p)
		}, 4002},
		{"unknown opcode", nil, v10, func(g *rawGateway) {
			hello(g)
			g.send(5, nil)
		}, 4001},
		{"server-only opcode", nil, v10, func(g *rawGateway) {
			g.identify(129)
			g.send(opHello, nil)
		}, 4001},
		{"shard out of range", nil, v10, func(g *rawGateway) {
			hello(g)
			p := identifyPayload(testToken, 129)
			p["shard"] = []int{1, 1}
			g.send(opIdentify, p)
		}, 4010},
		{"retired API version", nil, "v=8&encoding=json", func(*rawGateway) {}, 4012},
		{"no API version", nil, "encoding=json", func(*rawGateway) {}, 4012},
		{"etf encoding", nil, "v=10&encoding=etf", func(*rawGateway) {}, 4000},
		{"zstd-stream", nil, "v=10&encoding=json&compress=zstd-stream", func(*rawGateway) {}, 4000},
		{"send rate limit", func(c *Config) { c.Gateway.SendLimit = 5 }, v10, func(g *rawGateway) {
			hello(g)
			for range 6 {
				g.send(opHeartbeat, nil)
			}
		}, 4008},
		{"no heartbeats", func(c *Config) { c.Gateway.HeartbeatTimeout = 150 * time.Millisecond }, v10, func(g *rawGateway) {
			g.identify(129)
		}, 4009},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startEmulator(t, tt.config)
			g := dialGateway(t, s, tt.query)
			tt.act(g)
			g.expectClose(tt.want)
			if got := s.Stats().ServerCloseCodes[int(tt.want)]; got != 1 {
				t.Fatalf("ServerCloseCodes[%d] = %d, want 1", tt.want, got)
			}
		})
	}
}

func TestGatewaySessionStartLimit(t *testing.T) {
	s := startEmulator(t, func(c *Config) { c.Gateway.SessionStartLimit = 1 })
	first := dialGateway(t, s, v10)
	first.identify(IntentGuilds)
	first.closeWith(4000)

	_, body := apiCall{method: "GET", path: "/api/v10/gateway/bot", auth: botAuth}.do(t, s)
	limit := decodeJSON[map[string]any](t, body)["session_start_limit"].(map[string]any)
	if limit["remaining"] != 0.0 || limit["total"] != 1.0 {
		t.Fatalf("session_start_limit %v", limit)
	}
	active := dialGateway(t, s, v10)
	active.next(5 * time.Second)
	resumed := resumeOn(t, s, testToken, onlySession(t, s).ID, 1)
	resumed.expectDispatch("GUILD_CREATE")
	second := dialGateway(t, s, v10)
	second.next(5 * time.Second)
	second.send(opIdentify, identifyPayload(testToken, IntentGuilds))
	second.expectClose(4004)
	// Discord resets the token: the bot's live sessions end, and the token works no more.
	resumed.expectClose(4004)
	if resp, _ := (apiCall{method: "GET", path: "/api/v10/users/@me", auth: botAuth}).do(t, s); resp.StatusCode != 401 {
		t.Fatalf("REST with the reset token: %d, want 401", resp.StatusCode)
	}
	if n := len(s.Sessions()); n != 0 {
		t.Fatalf("%d sessions left after the token reset", n)
	}
	active.send(opIdentify, identifyPayload(testToken, IntentGuilds))
	active.expectClose(4004)
}

func TestGatewayIdentifyThrottle(t *testing.T) {
	s := startEmulator(t, func(c *Config) {
		c.Gateway.IdentifyMaxConcurrency = 1
		c.Gateway.IdentifyWindow = 300 * time.Millisecond
	})
	first := dialGateway(t, s, v10)
	first.identify(IntentGuilds)

	second := dialGateway(t, s, v10)
	second.next(5 * time.Second)
	second.send(opIdentify, identifyPayload(testToken, IntentGuilds))
	invalid := second.next(5 * time.Second)
	if invalid.Op != opInvalidSession || string(invalid.D) != "false" {
		t.Fatalf("identify over the throttle: op %d d %s, want op 9 false", invalid.Op, invalid.D)
	}
	// The connection stays open; once the window has passed, identify succeeds on it.
	time.Sleep(300 * time.Millisecond)
	second.send(opIdentify, identifyPayload(testToken, IntentGuilds))
	second.expectDispatch("READY")
	if st := s.Stats(); st.Identifies != 2 || st.InvalidSession != 1 {
		t.Fatalf("identifies %d, invalid sessions %d", st.Identifies, st.InvalidSession)
	}
}

func TestGatewayAcceptsPrivilegedIntentsWhenEnabled(t *testing.T) {
	s := startEmulator(t, func(c *Config) { c.Gateway.PrivilegedIntents = IntentGuildMembers })
	alice, _ := s.AddUser(User{Username: "alice"})
	g := dialGateway(t, s, v10)
	g.identify(IntentGuilds | IntentGuildMembers)
	create := decodeJSON[map[string]any](t, g.expectDispatch("GUILD_CREATE").D)
	// GUILD_MEMBERS alone does not fill GUILD_CREATE's members (GUILD_PRESENCES does): the bot
	// only, as alice is not in voice.
	members := create["members"].([]any)
	if len(members) != 1 {
		t.Fatalf("members %v, want the bot", members)
	}
	if _, err := s.AddUser(User{Username: "bob"}); err != nil {
		t.Fatal(err)
	}
	add := decodeJSON[map[string]any](t, g.expectDispatch("GUILD_MEMBER_ADD").D)
	if add["user"].(map[string]any)["username"] != "bob" || add["guild_id"] != firstGuild(t, s).ID {
		t.Fatalf("GUILD_MEMBER_ADD %v", add)
	}
	if members[0].(map[string]any)["user"].(map[string]any)["id"] == alice.ID {
		t.Fatalf("member %v, want the bot", members[0])
	}
}

func TestGatewayReadyAndGuildCreate(t *testing.T) {
	s := startEmulator(t, nil)
	guild := firstGuild(t, s)
	alice, _ := s.AddUser(User{Username: "alice", GlobalName: "Alice"})
	s.AddUser(User{Username: "bob"})
	lobby := channelNamed(t, s, "Lobby")
	if err := s.JoinVoice(guild.ID, lobby.ID, alice.ID); err != nil {
		t.Fatal(err)
	}

	g := dialGateway(t, s, v10)
	ready := g.identify(IntentGuilds | IntentGuildVoiceStates)
	if g.lastSeq != 1 {
		t.Fatalf("READY s=%d, want 1", g.lastSeq)
	}
	sessions := s.Sessions()
	if len(sessions) != 1 || ready["session_id"] != sessions[0].ID || len(sessions[0].ID) != 32 {
		t.Fatalf("READY session_id %v, sessions %+v", ready["session_id"], sessions)
	}
	if ready["resume_gateway_url"] != s.GatewayURL() || ready["v"] != 10.0 {
		t.Fatalf("READY %v", ready)
	}
	if user := ready["user"].(map[string]any); user["id"] != s.Bot().ID || user["bot"] != true {
		t.Fatalf("READY user %v", user)
	}
	guilds := ready["guilds"].([]any)
	if len(guilds) != 1 || guilds[0].(map[string]any)["unavailable"] != true || guilds[0].(map[string]any)["id"] != guild.ID {
		t.Fatalf("READY guilds %v", guilds)
	}
	if app := ready["application"].(map[string]any); app["id"] != s.Bot().ID {
		t.Fatalf("READY application %v", app)
	}
	if _, ok := ready["shard"]; ok {
		t.Fatalf("READY has a shard the client did not send")
	}

	m := g.expectDispatch("GUILD_CREATE")
	if *m.S != 2 {
		t.Fatalf("GUILD_CREATE s=%d, want 2", *m.S)
	}
	create := decodeJSON[map[string]any](t, m.D)
	if create["id"] != guild.ID || create["unavailable"] != false || create["member_count"] != 3.0 {
		t.Fatalf("GUILD_CREATE %v", create)
	}
	if chans := create["channels"].([]any); len(chans) != 3 {
		t.Fatalf("channels %v", chans)
	}
	vs := create["voice_states"].([]any)
	if len(vs) != 1 {
		t.Fatalf("voice_states %v", vs)
	}
	state := vs[0].(map[string]any)
	if _, hasGuild := state["guild_id"]; hasGuild || state["user_id"] != alice.ID || state["channel_id"] != lobby.ID {
		t.Fatalf("partial voice state %v", state)
	}
	// Without GUILD_MEMBERS, members are the bot and the users in voice.
	members := map[string]bool{}
	for _, mem := range create["members"].([]any) {
		members[mem.(map[string]any)["user"].(map[string]any)["id"].(string)] = true
	}
	if len(members) != 2 || !members[alice.ID] || !members[s.Bot().ID] {
		t.Fatalf("members %v", members)
	}
}

func TestGatewayVoiceStatesNeedTheirIntent(t *testing.T) {
	s := startEmulator(t, nil)
	guild := firstGuild(t, s)
	alice, _ := s.AddUser(User{Username: "alice"})
	lobby := channelNamed(t, s, "Lobby")
	if err := s.JoinVoice(guild.ID, lobby.ID, alice.ID); err != nil {
		t.Fatal(err)
	}

	full := dialGateway(t, s, v10)
	full.identify(IntentGuilds | IntentGuildVoiceStates)
	full.expectDispatch("GUILD_CREATE")
	guildsOnly := dialGateway(t, s, v10)
	guildsOnly.identify(IntentGuilds)
	create := decodeJSON[map[string]any](t, guildsOnly.expectDispatch("GUILD_CREATE").D)
	if vs := create["voice_states"].([]any); len(vs) != 0 {
		t.Fatalf("voice_states without the intent: %v", vs)
	}
	none := dialGateway(t, s, v10)
	none.identify(0)

	// A channel created over REST reaches sessions with GUILDS; a voice change only those with
	// GUILD_VOICE_STATES; sessions without GUILDS get neither.
	resp, body := apiCall{method: "POST", path: "/api/v10/guilds/" + guild.ID + "/channels", auth: botAuth,
		body: map[string]any{"name": "Table", "type": 2}}.do(t, s)
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	room := decodeJSON[map[string]any](t, body)
	for _, g := range []*rawGateway{full, guildsOnly} {
		m := g.expectDispatch("CHANNEL_CREATE")
		if *m.S != 3 {
			t.Fatalf("CHANNEL_CREATE s=%d, want 3", *m.S)
		}
		if got := decodeJSON[map[string]any](t, m.D); got["id"] != room["id"] || got["guild_id"] != guild.ID {
			t.Fatalf("CHANNEL_CREATE %v", got)
		}
	}
	if err := s.JoinVoice(guild.ID, room["id"].(string), alice.ID); err != nil {
		t.Fatal(err)
	}
	vsu := decodeJSON[map[string]any](t, full.expectDispatch("VOICE_STATE_UPDATE").D)
	if vsu["channel_id"] != room["id"] || vsu["user_id"] != alice.ID || vsu["guild_id"] != guild.ID {
		t.Fatalf("VOICE_STATE_UPDATE %v", vsu)
	}
	if user := vsu["member"].(map[string]any)["user"].(map[string]any); user["username"] != "alice" {
		t.Fatalf("VOICE_STATE_UPDATE member %v", vsu["member"])
	}
	if err := s.LeaveVoice(guild.ID, alice.ID); err != nil {
		t.Fatal(err)
	}
	left := decodeJSON[map[string]any](t, full.expectDispatch("VOICE_STATE_UPDATE").D)
	if v, ok := left["channel_id"]; !ok || v != nil {
		t.Fatalf("leave: channel_id %v, want null", left["channel_id"])
	}
	guildsOnly.expectSilence(300 * time.Millisecond)
	none.expectSilence(100 * time.Millisecond)
	if st := s.Stats(); st.Dispatches["CHANNEL_CREATE"] != 2 || st.Dispatches["VOICE_STATE_UPDATE"] != 2 {
		t.Fatalf("dispatch counters %v", st.Dispatches)
	}
}

func TestGatewayLegacyIdentifyFromDiscordgo(t *testing.T) {
	s := startEmulator(t, nil)
	g := dialGateway(t, s, "v=9&encoding=json")
	g.next(5 * time.Second)
	// The identify discordgo v0.29.0 sends by default.
	g.sendRaw([]byte(`{"op":2,"d":{"token":"` + testToken + `","properties":{"$os":"linux","$browser":"DiscordGo v0.29.0",` +
		`"$device":"","$referer":"","$referring_domain":""},"compress":false,"large_threshold":250,` +
		`"presence":{"since":0,"game":{"name":"","type":0,"created_at":"0001-01-01T00:00:00Z","timestamps":{},"emoji":{"id":"",` +
		`"name":"","roles":null,"user":null,"require_colons":false,"managed":false,"animated":false,"available":false},` +
		`"party":{},"assets":{},"secrets":{}},"status":"","afk":false},"intents":3243773}}`))
	ready := decodeJSON[map[string]any](t, g.expectDispatch("READY").D)
	if ready["v"] != 9.0 {
		t.Fatalf("READY v %v, want 9", ready["v"])
	}
	g.expectDispatch("GUILD_CREATE")
}

func TestGatewaySharding(t *testing.T) {
	// Guild IDs chosen so (id >> 22) % 2 puts one guild on each shard.
	s := startEmulator(t, func(c *Config) {
		c.Guilds = []GuildConfig{{ID: "4194304"}, {ID: "8388608"}}
	})
	for shard, want := range []string{"8388608", "4194304"} {
		g := dialGateway(t, s, v10)
		g.next(5 * time.Second)
		p := identifyPayload(testToken, IntentGuilds)
		p["shard"] = []int{shard, 2}
		g.send(opIdentify, p)
		ready := decodeJSON[map[string]any](t, g.expectDispatch("READY").D)
		guilds := ready["guilds"].([]any)
		if len(guilds) != 1 || guilds[0].(map[string]any)["id"] != want {
			t.Fatalf("shard %d: guilds %v, want %s", shard, guilds, want)
		}
		if sh := ready["shard"].([]any); sh[0] != float64(shard) || sh[1] != 2.0 {
			t.Fatalf("READY shard %v", sh)
		}
		if got := decodeJSON[map[string]any](t, g.expectDispatch("GUILD_CREATE").D)["id"]; got != want {
			t.Fatalf("shard %d: GUILD_CREATE for %v", shard, got)
		}
	}
}

func TestGatewayRequestGuildMembers(t *testing.T) {
	s := startEmulator(t, nil)
	alice, _ := s.AddUser(User{Username: "alice"})
	guild := firstGuild(t, s)
	g := dialGateway(t, s, v10)
	g.identify(IntentGuilds)
	g.expectDispatch("GUILD_CREATE")
	g.send(opRequestGuildMembers, map[string]any{"guild_id": []string{guild.ID}, "user_ids": []string{alice.ID, "42"}, "limit": 0, "nonce": "n1"})
	chunk := decodeJSON[map[string]any](t, g.expectDispatch("GUILD_MEMBERS_CHUNK").D)
	if chunk["nonce"] != "n1" || len(chunk["members"].([]any)) != 1 || chunk["not_found"].([]any)[0] != "42" {
		t.Fatalf("chunk %v", chunk)
	}
	g.send(opRequestGuildMembers, map[string]any{"guild_id": guild.ID, "query": "al", "limit": 10})
	chunk = decodeJSON[map[string]any](t, g.expectDispatch("GUILD_MEMBERS_CHUNK").D)
	if members := chunk["members"].([]any); len(members) != 1 {
		t.Fatalf("query chunk %v", chunk)
	}
}

// channelNamed finds a channel of the first guild by name.
func channelNamed(t *testing.T, s *Server, name string) Channel {
	t.Helper()
	for _, c := range s.State().Guilds[0].Channels {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no channel %q", name)
	return Channel{}
}

// onlySession returns the only live session.
func onlySession(t *testing.T, s *Server) SessionInfo {
	t.Helper()
	sessions := s.Sessions()
	if len(sessions) != 1 {
		t.Fatalf("%d sessions, want 1", len(sessions))
	}
	return sessions[0]
}
