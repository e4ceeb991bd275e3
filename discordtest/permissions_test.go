package discordtest

import (
	"net/http"
	"testing"
	"time"
)

func TestChannelPermissionsComputedAsDiscord(t *testing.T) {
	const (
		guildID = "100"
		roleA   = "201"
		roleB   = "202"
		member  = "300"
		owner   = "400"
	)
	view, send, manage := PermissionViewChannel, Permissions(1<<11), PermissionManageChannels
	everyone := func(allow, deny Permissions) PermissionOverwrite {
		return PermissionOverwrite{ID: guildID, Type: OverwriteTypeRole, Allow: allow, Deny: deny}
	}
	role := func(id string, allow, deny Permissions) PermissionOverwrite {
		return PermissionOverwrite{ID: id, Type: OverwriteTypeRole, Allow: allow, Deny: deny}
	}
	user := func(allow, deny Permissions) PermissionOverwrite {
		return PermissionOverwrite{ID: member, Type: OverwriteTypeMember, Allow: allow, Deny: deny}
	}
	cases := []struct {
		name       string
		everyone   Permissions
		roleA      Permissions
		overwrites []PermissionOverwrite
		channel    ChannelType
		want       Permissions
	}{
		{"@everyone and roles add up", view, send, nil, ChannelTypeGuildText, view | send},
		{"administrator holds everything", 0, PermissionAdministrator, []PermissionOverwrite{everyone(0, view)}, ChannelTypeGuildText, allPermissions},
		{"@everyone overwrite denies", view | send, 0, []PermissionOverwrite{everyone(0, send)}, ChannelTypeGuildText, view},
		{"a role overwrite beats @everyone's", view | send, 0, []PermissionOverwrite{everyone(0, send), role(roleA, send, 0)}, ChannelTypeGuildText, view | send},
		{"role overwrites combine, allow winning", view, 0, []PermissionOverwrite{role(roleA, 0, manage), role(roleB, manage, 0)}, ChannelTypeGuildText, view | manage},
		{"a member overwrite beats its roles'", view | send, 0, []PermissionOverwrite{role(roleA, send, 0), user(0, send)}, ChannelTypeGuildText, view},
		{"an overwrite of another role is ignored", view, 0, []PermissionOverwrite{role("999", 0, view)}, ChannelTypeGuildText, view},
		{"without View Channel nothing is left", view | send | manage, 0, []PermissionOverwrite{everyone(0, view)}, ChannelTypeGuildText, 0},
		{"without Connect no voice permission is left", view | PermissionConnect | PermissionSpeak, 0, []PermissionOverwrite{user(0, PermissionConnect)}, ChannelTypeGuildVoice, view},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := &guild{
				Guild: Guild{ID: guildID, OwnerID: owner},
				roles: []*Role{
					{ID: guildID, Permissions: tc.everyone},
					{ID: roleA, Permissions: tc.roleA, Position: 1},
					{ID: roleB, Position: 2},
				},
				memberRoles: map[string][]string{member: {roleA, roleB}},
			}
			ch := &Channel{ID: "500", Type: tc.channel, PermissionOverwrites: tc.overwrites}
			if got := g.channelPermissions(member, ch); got != tc.want {
				t.Fatalf("permissions %b, want %b", got, tc.want)
			}
			if got := g.channelPermissions(owner, ch); got != allPermissions {
				t.Fatalf("owner holds %b, want everything", got)
			}
		})
	}
}

// restCode sends a REST call and returns its status and Discord error code (0 when none).
func restCode(t *testing.T, s *Server, c apiCall) (int, float64) {
	t.Helper()
	c.auth = botAuth
	resp, body := c.do(t, s)
	if len(body) == 0 || resp.StatusCode < 400 {
		return resp.StatusCode, 0
	}
	code, _ := decodeJSON[map[string]any](t, body)["code"].(float64)
	return resp.StatusCode, code
}

func TestBotPermissionsEnforcedOnREST(t *testing.T) {
	s := startEmulator(t, nil)
	alice, _ := s.AddUser(User{Username: "alice"})
	guild := firstGuild(t, s)
	general := channelNamed(t, s, "general")
	lobby := channelNamed(t, s, "Lobby")
	g := dialGateway(t, s, v10)
	g.identify(IntentGuilds | IntentGuildVoiceStates)
	g.expectDispatch("GUILD_CREATE")

	// By default the bot may create a room with its owner's overwrite, as the rooms API does.
	owner := map[string]any{"id": alice.ID, "type": 1, "allow": "32507648", "deny": "0"}
	room := map[string]any{"name": "table", "type": 2, "parent_id": guild.RoomsCategoryID, "permission_overwrites": []any{owner}}
	createRoom := apiCall{method: "POST", path: "/api/v10/guilds/" + guild.ID + "/channels", body: room}
	if status, code := restCode(t, s, createRoom); status != http.StatusCreated {
		t.Fatalf("create a room by default: %d %v", status, code)
	}
	g.expectDispatch("CHANNEL_CREATE")

	// View Channel denied to @everyone hides general: 50001 on its routes, left out of the list,
	// obfuscated over the gateway.
	if err := s.SetChannelOverwrite(general.ID, PermissionOverwrite{ID: guild.ID, Type: OverwriteTypeRole, Deny: PermissionViewChannel}); err != nil {
		t.Fatal(err)
	}
	hidden := decodeJSON[map[string]any](t, g.expectDispatch("CHANNEL_UPDATE").D)
	if hidden["id"] != general.ID || hidden["name"] != "___hidden___" || hidden["flags"] != float64(channelObfuscated) {
		t.Fatalf("CHANNEL_UPDATE of the hidden channel %v", hidden)
	}
	for _, c := range []apiCall{
		{method: "GET", path: "/api/v10/channels/" + general.ID},
		{method: "PATCH", path: "/api/v10/channels/" + general.ID, body: map[string]any{"nsfw": true}},
		{method: "DELETE", path: "/api/v10/channels/" + general.ID},
	} {
		if status, code := restCode(t, s, c); status != http.StatusForbidden || code != 50001 {
			t.Fatalf("%s hidden channel: %d %v, want 403 50001", c.method, status, code)
		}
	}
	resp, body := apiCall{method: "GET", path: "/api/v10/guilds/" + guild.ID + "/channels", auth: botAuth}.do(t, s)
	for _, c := range decodeJSON[[]map[string]any](t, body) {
		if c["id"] == general.ID {
			t.Fatalf("GET /guilds/{id}/channels (%d) lists the hidden channel", resp.StatusCode)
		}
	}

	// An overwrite of the bot's role beats @everyone's: the channel comes back whole.
	if err := s.SetChannelOverwrite(general.ID, PermissionOverwrite{ID: guild.BotRoleID, Type: OverwriteTypeRole, Allow: PermissionViewChannel}); err != nil {
		t.Fatal(err)
	}
	if back := decodeJSON[map[string]any](t, g.expectDispatch("CHANNEL_UPDATE").D); back["name"] != "general" {
		t.Fatalf("CHANNEL_UPDATE after the role overwrite %v", back)
	}
	if status, _ := restCode(t, s, apiCall{method: "GET", path: "/api/v10/channels/" + general.ID}); status != http.StatusOK {
		t.Fatalf("GET visible channel: %d", status)
	}

	// Without Manage Channels (its role changed by an admin): 50013, and GUILD_ROLE_UPDATE tells.
	if err := s.SetBotPermissions(guild.ID, DefaultBotPermissions&^PermissionManageChannels); err != nil {
		t.Fatal(err)
	}
	update := decodeJSON[map[string]any](t, g.expectDispatch("GUILD_ROLE_UPDATE").D)
	if role := update["role"].(map[string]any); update["guild_id"] != guild.ID || role["id"] != guild.BotRoleID {
		t.Fatalf("GUILD_ROLE_UPDATE %v", update)
	}
	if status, code := restCode(t, s, createRoom); status != http.StatusForbidden || code != 50013 {
		t.Fatalf("create without Manage Channels: %d %v", status, code)
	}
	// A Manage Channels overwrite on the category is enough to create in it.
	if err := s.SetChannelOverwrite(guild.RoomsCategoryID, PermissionOverwrite{ID: guild.BotRoleID, Type: OverwriteTypeRole, Allow: PermissionManageChannels}); err != nil {
		t.Fatal(err)
	}
	g.expectDispatch("CHANNEL_UPDATE")
	if status, code := restCode(t, s, createRoom); status != http.StatusCreated {
		t.Fatalf("create with the category's overwrite: %d %v", status, code)
	}
	g.expectDispatch("CHANNEL_CREATE")

	// A bot may only grant what it holds: without Mute Members, the owner mark is refused.
	if err := s.SetBotPermissions(guild.ID, DefaultBotPermissions&^PermissionMuteMembers); err != nil {
		t.Fatal(err)
	}
	g.expectDispatch("GUILD_ROLE_UPDATE")
	if err := s.DeleteChannelOverwrite(guild.RoomsCategoryID, guild.BotRoleID); err != nil {
		t.Fatal(err)
	}
	g.expectDispatch("CHANNEL_UPDATE")
	before := len(s.State().Guilds[0].Channels)
	if status, code := restCode(t, s, createRoom); status != http.StatusForbidden || code != 50013 {
		t.Fatalf("create granting what the bot lacks: %d %v", status, code)
	}
	put := apiCall{method: "PUT", path: "/api/v10/channels/" + lobby.ID + "/permissions/" + alice.ID, body: owner}
	if status, code := restCode(t, s, put); status != http.StatusForbidden || code != 50013 {
		t.Fatalf("PUT overwrite granting what the bot lacks: %d %v", status, code)
	}
	if len(s.State().Guilds[0].Channels) != before || len(channelNamed(t, s, "Lobby").PermissionOverwrites) != 0 {
		t.Fatal("a refused request changed the guild")
	}

	// An administrator role holds everything, overwrites notwithstanding.
	if err := s.SetRolePermissions(guild.ID, guild.ID, PermissionAdministrator); err != nil {
		t.Fatal(err)
	}
	g.expectDispatch("GUILD_ROLE_UPDATE")
	if status, code := restCode(t, s, put); status != http.StatusNoContent {
		t.Fatalf("PUT overwrite as administrator: %d %v", status, code)
	}
	if err := s.SetRolePermissions(guild.ID, "12345", 0); err == nil {
		t.Fatal("an unknown role was accepted")
	}
}

func TestBotCannotJoinVoiceWithoutConnect(t *testing.T) {
	s := startEmulator(t, nil)
	guild := firstGuild(t, s)
	lobby := channelNamed(t, s, "Lobby")
	if err := s.SetChannelOverwrite(lobby.ID, PermissionOverwrite{ID: guild.BotRoleID, Type: OverwriteTypeRole, Deny: PermissionConnect}); err != nil {
		t.Fatal(err)
	}
	g := dialGateway(t, s, v10)
	g.identify(IntentGuilds | IntentGuildVoiceStates)
	g.expectDispatch("GUILD_CREATE")
	g.send(opVoiceStateUpdate, map[string]any{"guild_id": guild.ID, "channel_id": lobby.ID, "self_mute": false, "self_deaf": false})
	// Discord ignores the request: the next answer is the heartbeat's ACK, and the bot is not in voice.
	g.send(opHeartbeat, nil)
	if m := g.next(5 * time.Second); m.Op != opHeartbeatACK {
		t.Fatalf("got op %d %v %s, want the heartbeat ACK only", m.Op, deref(m.T), m.D)
	}
	if gs, _ := s.GuildState(guild.ID); len(gs.VoiceStates) != 0 {
		t.Fatalf("voice states %+v", gs.VoiceStates)
	}
	if err := s.DeleteChannelOverwrite(lobby.ID, guild.BotRoleID); err != nil {
		t.Fatal(err)
	}
	g.expectDispatch("CHANNEL_UPDATE")
	g.send(opVoiceStateUpdate, map[string]any{"guild_id": guild.ID, "channel_id": lobby.ID, "self_mute": false, "self_deaf": false})
	g.expectDispatch("VOICE_STATE_UPDATE")
}
