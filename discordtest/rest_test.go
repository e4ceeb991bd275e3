package discordtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestRESTAuthentication(t *testing.T) {
	s := startEmulator(t, nil)
	tests := []struct {
		name       string
		auth       string
		wantStatus int
	}{
		{"no header", "", http.StatusUnauthorized},
		{"unknown token", "Bot wrong", http.StatusUnauthorized},
		{"token without Bot prefix", testToken, http.StatusUnauthorized},
		{"bearer scheme", "Bearer " + testToken, http.StatusUnauthorized},
		{"control token", "Bot " + testControl, http.StatusUnauthorized},
		{"bot token", botAuth, http.StatusOK},
	}
	unauthorized := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := apiCall{method: "GET", path: "/api/v10/users/@me", auth: tt.auth}.do(t, s)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d (body %s)", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantStatus == http.StatusUnauthorized {
				unauthorized++
				if string(body) != `{"code":0,"message":"401: Unauthorized"}` {
					t.Errorf("body %s, want Discord's 401 body", body)
				}
				if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
				return
			}
			me := decodeJSON[map[string]any](t, body)
			if me["id"] != s.Bot().ID || me["bot"] != true || me["username"] != "Spell Coven" {
				t.Errorf("GET /users/@me: %s", body)
			}
		})
	}
	if got := s.InvalidRequests(); got != unauthorized {
		t.Fatalf("InvalidRequests() = %d, want %d", got, unauthorized)
	}
}

func TestRESTRoutingAndVersions(t *testing.T) {
	s := startEmulator(t, nil)
	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantCode   float64
	}{
		{"v10", "GET", "/api/v10/users/@me", 200, -1},
		{"v9", "GET", "/api/v9/users/@me", 200, -1},
		{"unversioned", "GET", "/api/users/@me", 200, -1},
		{"trailing slash", "GET", "/api/v10/users/@me/", 200, -1},
		{"retired version", "GET", "/api/v8/users/@me", 400, 50041},
		{"unknown route", "GET", "/api/v10/nothing/here", 404, 0},
		{"wrong method", "PUT", "/api/v10/users/@me", 405, 0},
		{"unknown guild", "GET", "/api/v10/guilds/123/channels", 404, 10004},
		{"unknown channel", "GET", "/api/v10/channels/123", 404, 10003},
		{"unknown member", "GET", "/api/v10/guilds/" + firstGuild(t, s).ID + "/members/123", 404, 10007},
		{"no voice state", "GET", "/api/v10/guilds/" + firstGuild(t, s).ID + "/voice-states/@me", 404, 10065},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := apiCall{method: tt.method, path: tt.path, auth: botAuth}.do(t, s)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d (body %s)", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantCode >= 0 {
				if code := decodeJSON[map[string]any](t, body)["code"]; code != tt.wantCode {
					t.Fatalf("code %v, want %v (body %s)", code, tt.wantCode, body)
				}
			}
		})
	}
}

func TestRESTGatewayDiscovery(t *testing.T) {
	s := startEmulator(t, func(c *Config) {
		c.Gateway.SessionStartLimit = 7
		c.Gateway.IdentifyMaxConcurrency = 3
	})
	resp, body := apiCall{method: "GET", path: "/api/v10/gateway"}.do(t, s)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /gateway without auth: %d %s", resp.StatusCode, body)
	}
	if got := decodeJSON[map[string]string](t, body)["url"]; got != s.GatewayURL() || !strings.HasPrefix(got, "ws://127.0.0.1:") {
		t.Fatalf("gateway url %q, want %q", got, s.GatewayURL())
	}

	if resp, _ := (apiCall{method: "GET", path: "/api/v10/gateway/bot"}).do(t, s); resp.StatusCode != 401 {
		t.Fatalf("GET /gateway/bot without auth: %d, want 401", resp.StatusCode)
	}
	_, body = apiCall{method: "GET", path: "/api/v10/gateway/bot", auth: botAuth}.do(t, s)
	var bot struct {
		URL    string `json:"url"`
		Shards int    `json:"shards"`
		Limit  struct {
			Total          int `json:"total"`
			Remaining      int `json:"remaining"`
			ResetAfter     int `json:"reset_after"`
			MaxConcurrency int `json:"max_concurrency"`
		} `json:"session_start_limit"`
	}
	if err := json.Unmarshal(body, &bot); err != nil {
		t.Fatal(err)
	}
	if bot.URL != s.GatewayURL() || bot.Shards != 1 || bot.Limit.Total != 7 || bot.Limit.Remaining != 7 ||
		bot.Limit.MaxConcurrency != 3 || bot.Limit.ResetAfter <= 0 {
		t.Fatalf("GET /gateway/bot: %s", body)
	}
}

func TestRESTCreateChannel(t *testing.T) {
	s := startEmulator(t, nil)
	g := firstGuild(t, s)
	member := s.Bot().ID
	resp, body := apiCall{
		method: "POST", path: "/api/v10/guilds/" + g.ID + "/channels", auth: botAuth,
		headers: map[string]string{"X-Audit-Log-Reason": "room%20for%20Alice"},
		body: map[string]any{
			"name": "Table 1", "type": 2, "user_limit": 4, "bitrate": 32000, "parent_id": g.RoomsCategoryID,
			"permission_overwrites": []map[string]any{
				{"id": g.ID, "type": 0, "allow": "1024", "deny": "0"},
				{"id": member, "type": 1, "allow": 2048, "deny": "16"},
			},
		},
	}.do(t, s)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	ch := decodeJSON[map[string]any](t, body)
	want := map[string]any{
		"type": 2.0, "name": "Table 1", "guild_id": g.ID, "parent_id": g.RoomsCategoryID, "user_limit": 4.0,
		"bitrate": 32000.0, "rtc_region": nil, "nsfw": false, "flags": 0.0, "last_message_id": nil,
	}
	for k, v := range want {
		if got, ok := ch[k]; !ok || got != v {
			t.Errorf("%s: got %#v, want %#v", k, got, v)
		}
	}
	overwrites := ch["permission_overwrites"].([]any)
	if len(overwrites) != 2 {
		t.Fatalf("overwrites: %v", overwrites)
	}
	second := overwrites[1].(map[string]any)
	if second["allow"] != "2048" || second["deny"] != "16" || second["type"] != 1.0 {
		t.Errorf("overwrite not rendered with string permissions: %v", second)
	}
	id, _ := ch["id"].(string)
	if _, err := SnowflakeTime(id); err != nil {
		t.Errorf("id %q: %v", id, err)
	}

	_, body = apiCall{method: "GET", path: "/api/v10/channels/" + id, auth: botAuth}.do(t, s)
	if got := decodeJSON[map[string]any](t, body)["name"]; got != "Table 1" {
		t.Errorf("GET channel name %v", got)
	}
	_, body = apiCall{method: "GET", path: "/api/v10/guilds/" + g.ID + "/channels", auth: botAuth}.do(t, s)
	if list := decodeJSON[[]map[string]any](t, body); len(list) != 4 {
		t.Errorf("GET guild channels: %d channels, want 4", len(list))
	}
	audit := s.AuditLog()
	if len(audit) != 1 || audit[0].Reason != "room for Alice" || audit[0].TargetID != id || audit[0].Action != "CHANNEL_CREATE" {
		t.Errorf("audit log %+v", audit)
	}

	_, body = apiCall{method: "POST", path: "/api/v10/guilds/" + g.ID + "/channels", auth: botAuth,
		body: map[string]any{"name": "Trade Talk"}}.do(t, s)
	if text := decodeJSON[map[string]any](t, body); text["name"] != "trade-talk" || text["type"] != 0.0 || text["topic"] != nil {
		t.Errorf("text channel: %s", body)
	}
}

func TestRESTCreateChannelValidation(t *testing.T) {
	s := startEmulator(t, nil)
	g := firstGuild(t, s)
	var textID string
	for _, c := range s.State().Guilds[0].Channels {
		if c.Type == ChannelTypeGuildText {
			textID = c.ID
		}
	}
	tests := []struct {
		name     string
		body     any
		wantCode float64
		// wantPath is the path of the expected field error, wantField its code.
		wantPath  []string
		wantField string
	}{
		{"invalid JSON", `{"name":`, 50109, nil, ""},
		{"not an object", `[1,2]`, 50035, nil, "DICT_TYPE_CONVERT"},
		{"missing name", map[string]any{"type": 2}, 50035, []string{"name"}, "BASE_TYPE_REQUIRED"},
		{"empty name", map[string]any{"name": ""}, 50035, []string{"name"}, "BASE_TYPE_BAD_LENGTH"},
		{"name too long", map[string]any{"name": strings.Repeat("x", 101)}, 50035, []string{"name"}, "BASE_TYPE_BAD_LENGTH"},
		{"name not a string", map[string]any{"name": 5}, 50035, []string{"name"}, "BASE_TYPE_STRING"},
		{"unknown type", map[string]any{"name": "x", "type": 3}, 50035, []string{"type"}, "BASE_TYPE_CHOICES"},
		{"type not a number", map[string]any{"name": "x", "type": "voice"}, 50035, []string{"type"}, "NUMBER_TYPE_COERCE"},
		{"user limit over 99", map[string]any{"name": "x", "type": 2, "user_limit": 100}, 50035, []string{"user_limit"}, "NUMBER_TYPE_MAX"},
		{"negative user limit", map[string]any{"name": "x", "type": 2, "user_limit": -1}, 50035, []string{"user_limit"}, "NUMBER_TYPE_MIN"},
		{"bitrate under 8000", map[string]any{"name": "x", "type": 2, "bitrate": 7999}, 50035, []string{"bitrate"}, "NUMBER_TYPE_MIN"},
		{"bitrate over the guild's maximum", map[string]any{"name": "x", "type": 2, "bitrate": 96001}, 50035, []string{"bitrate"}, "NUMBER_TYPE_MAX"},
		{"parent unknown", map[string]any{"name": "x", "type": 2, "parent_id": "1234"}, 50035, []string{"parent_id"}, "CHANNEL_PARENT_INVALID"},
		{"parent not a category", map[string]any{"name": "x", "type": 2, "parent_id": textID}, 50035, []string{"parent_id"}, "CHANNEL_PARENT_INVALID"},
		{"parent not a snowflake", map[string]any{"name": "x", "parent_id": "abc"}, 50035, []string{"parent_id"}, "NUMBER_TYPE_COERCE"},
		{"category inside a category", map[string]any{"name": "x", "type": 4, "parent_id": g.RoomsCategoryID}, 50035, []string{"parent_id"}, "CHANNEL_PARENT_INVALID_TYPE"},
		{"overwrites not a list", map[string]any{"name": "x", "permission_overwrites": "all"}, 50035, []string{"permission_overwrites"}, "LIST_TYPE_CONVERT"},
		{"overwrite without id", map[string]any{"name": "x", "permission_overwrites": []any{map[string]any{"type": 0}}},
			50035, []string{"permission_overwrites", "0", "id"}, "BASE_TYPE_REQUIRED"},
		{"overwrite with bad type", map[string]any{"name": "x", "permission_overwrites": []any{map[string]any{"id": g.ID, "type": 3}}},
			50035, []string{"permission_overwrites", "0", "type"}, "BASE_TYPE_CHOICES"},
		{"overwrite allow not a number", map[string]any{"name": "x", "permission_overwrites": []any{map[string]any{"id": g.ID, "type": 0, "allow": "lots"}}},
			50035, []string{"permission_overwrites", "0", "allow"}, "NUMBER_TYPE_COERCE"},
		{"overwrite for unknown role", map[string]any{"name": "x", "permission_overwrites": []any{map[string]any{"id": "99", "type": 0}}},
			50035, []string{"permission_overwrites", "0", "id"}, "UNKNOWN_ROLE"},
		{"overwrite for unknown member", map[string]any{"name": "x", "permission_overwrites": []any{map[string]any{"id": "99", "type": 1}}},
			50035, []string{"permission_overwrites", "0", "id"}, "UNKNOWN_MEMBER"},
		{"topic too long", map[string]any{"name": "x", "topic": strings.Repeat("t", 1025)}, 50035, []string{"topic"}, "BASE_TYPE_MAX_LENGTH"},
		{"video quality mode", map[string]any{"name": "x", "type": 2, "video_quality_mode": 3}, 50035, []string{"video_quality_mode"}, "BASE_TYPE_CHOICES"},
	}
	before := len(s.State().Guilds[0].Channels)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := apiCall{method: "POST", path: "/api/v10/guilds/" + g.ID + "/channels", auth: botAuth, body: tt.body}.do(t, s)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400 (body %s)", resp.StatusCode, body)
			}
			e := decodeJSON[map[string]any](t, body)
			if e["code"] != tt.wantCode {
				t.Fatalf("code %v, want %v (body %s)", e["code"], tt.wantCode, body)
			}
			if tt.wantField == "" {
				return
			}
			node, _ := e["errors"].(map[string]any)
			for _, key := range tt.wantPath {
				node, _ = node[key].(map[string]any)
			}
			list, _ := node["_errors"].([]any)
			if len(list) == 0 || list[0].(map[string]any)["code"] != tt.wantField {
				t.Fatalf("errors at %v: want %s, body %s", tt.wantPath, tt.wantField, body)
			}
		})
	}
	if after := len(s.State().Guilds[0].Channels); after != before {
		t.Fatalf("rejected requests changed the guild: %d channels, want %d", after, before)
	}
}

func TestRESTModifyAndDeleteChannel(t *testing.T) {
	s := startEmulator(t, nil)
	g := firstGuild(t, s)
	alice, err := s.AddUser(User{Username: "alice", GlobalName: "Alice"})
	if err != nil {
		t.Fatal(err)
	}
	room, err := s.CreateChannel(g.ID, Channel{Type: ChannelTypeGuildVoice, Name: "Table", ParentID: g.RoomsCategoryID})
	if err != nil {
		t.Fatal(err)
	}

	resp, body := apiCall{method: "PATCH", path: "/api/v10/channels/" + room.ID, auth: botAuth,
		body: map[string]any{"name": "Table 2", "user_limit": 2}}.do(t, s)
	if resp.StatusCode != 200 {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}
	if got := decodeJSON[map[string]any](t, body); got["name"] != "Table 2" || got["user_limit"] != 2.0 || got["parent_id"] != g.RoomsCategoryID {
		t.Fatalf("PATCH answer %s", body)
	}
	if resp, body := (apiCall{method: "PATCH", path: "/api/v10/channels/" + room.ID, auth: botAuth,
		body: map[string]any{"type": 0}}).do(t, s); resp.StatusCode != 400 {
		t.Fatalf("PATCH type change: %d %s, want 400", resp.StatusCode, body)
	}

	if err := s.JoinVoice(g.ID, room.ID, alice.ID); err != nil {
		t.Fatal(err)
	}
	resp, body = apiCall{method: "DELETE", path: "/api/v10/channels/" + room.ID, auth: botAuth}.do(t, s)
	if resp.StatusCode != 200 || decodeJSON[map[string]any](t, body)["id"] != room.ID {
		t.Fatalf("DELETE: %d %s", resp.StatusCode, body)
	}
	gs, _ := s.GuildState(g.ID)
	if len(gs.VoiceStates) != 0 {
		t.Fatalf("voice states after deleting the channel: %+v", gs.VoiceStates)
	}
	if resp, _ := (apiCall{method: "DELETE", path: "/api/v10/channels/" + room.ID, auth: botAuth}).do(t, s); resp.StatusCode != 404 {
		t.Fatalf("second DELETE: %d, want 404", resp.StatusCode)
	}

	resp, _ = apiCall{method: "DELETE", path: "/api/v10/channels/" + g.RoomsCategoryID, auth: botAuth}.do(t, s)
	if resp.StatusCode != 200 {
		t.Fatalf("DELETE category: %d", resp.StatusCode)
	}
	gs, _ = s.GuildState(g.ID)
	for _, c := range gs.Channels {
		if c.ParentID != "" {
			t.Errorf("channel %s still under the deleted category", c.Name)
		}
	}
}

func TestRESTPermissionsAndLimits(t *testing.T) {
	s := startEmulator(t, func(c *Config) {
		c.Guilds = []GuildConfig{{MaxChannels: 4}}
		c.REST.MaxBodyBytes = 256
	})
	g := firstGuild(t, s)
	create := apiCall{method: "POST", path: "/api/v10/guilds/" + g.ID + "/channels", auth: botAuth, body: map[string]any{"name": "x"}}

	if resp, body := create.do(t, s); resp.StatusCode != 201 {
		t.Fatalf("4th channel: %d %s", resp.StatusCode, body)
	}
	resp, body := create.do(t, s)
	if resp.StatusCode != 400 || decodeJSON[map[string]any](t, body)["code"] != 30013.0 {
		t.Fatalf("5th channel: %d %s, want 30013", resp.StatusCode, body)
	}

	big := apiCall{method: "POST", path: create.path, auth: botAuth, body: map[string]any{"name": strings.Repeat("x", 300)}}
	if resp, body := big.do(t, s); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d %s, want 413", resp.StatusCode, body)
	}

	if err := s.SetBotPermissions(g.ID, 0); err != nil {
		t.Fatal(err)
	}
	resp, body = apiCall{method: "DELETE", path: "/api/v10/channels/" + g.RoomsCategoryID, auth: botAuth}.do(t, s)
	if resp.StatusCode != 403 || decodeJSON[map[string]any](t, body)["code"] != 50013.0 {
		t.Fatalf("without MANAGE_CHANNELS: %d %s, want 403 50013", resp.StatusCode, body)
	}
	if s.InvalidRequests() != 1 {
		t.Fatalf("InvalidRequests() = %d, want the 403 counted", s.InvalidRequests())
	}
	// A guild admin (the control API) still can.
	if _, err := s.CreateChannel(g.ID, Channel{Name: "by-admin"}); err == nil {
		t.Fatal("the admin created a channel past MaxChannels")
	}
	if _, err := s.DeleteChannel(channelNamed(t, s, "general").ID); err != nil {
		t.Fatalf("admin delete without the bot's permission: %v", err)
	}
	if err := s.SetBotPermissions(g.ID, PermissionManageChannels); err != nil {
		t.Fatal(err)
	}
	if resp, _ := (apiCall{method: "DELETE", path: "/api/v10/channels/" + g.RoomsCategoryID, auth: botAuth}).do(t, s); resp.StatusCode != 200 {
		t.Fatalf("with MANAGE_CHANNELS: %d", resp.StatusCode)
	}
}

func TestRESTRoutesRealBotsCall(t *testing.T) {
	s := startEmulator(t, nil)
	alice, _ := s.AddUser(User{Username: "alice"})
	guild := firstGuild(t, s)
	general, lobby := channelNamed(t, s, "general"), channelNamed(t, s, "Lobby")
	bot := s.Bot()
	g := dialGateway(t, s, v10)
	g.identify(IntentGuilds | IntentGuildVoiceStates)
	g.expectDispatch("GUILD_CREATE")
	get := func(path string) map[string]any {
		t.Helper()
		resp, body := apiCall{method: "GET", path: "/api/v10" + path, auth: botAuth}.do(t, s)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		if bytes.HasPrefix(body, []byte("[")) {
			return map[string]any{"list": decodeJSON[[]any](t, body)}
		}
		return decodeJSON[map[string]any](t, body)
	}

	t.Run("users", func(t *testing.T) {
		if u := get("/users/" + alice.ID); u["username"] != "alice" || u["discriminator"] != "0" {
			t.Fatalf("alice %v", u)
		}
		// Bots keep a four-digit discriminator, never 0000.
		u := get("/users/" + bot.ID)
		if d, _ := u["discriminator"].(string); u["bot"] != true || len(d) != 4 || d == "0000" || get("/users/@me")["discriminator"] != d {
			t.Fatalf("bot %v", u)
		}
		if owner := get("/users/" + guild.OwnerID); owner["id"] != guild.OwnerID || owner["bot"] != nil {
			t.Fatalf("owner %v", owner)
		}
		if status, code := restCode(t, s, apiCall{method: "GET", path: "/api/v10/users/1234567890123"}); status != 404 || code != 10013 {
			t.Fatalf("unknown user: %d %v", status, code)
		}
		if status, code := restCode(t, s, apiCall{method: "GET", path: "/api/v10/users/nobody"}); status != 400 || code != 50035 {
			t.Fatalf("not a snowflake: %d %v", status, code)
		}
	})

	t.Run("application and roles", func(t *testing.T) {
		app := get("/applications/@me")
		if app["id"] != bot.ID || app["bot"].(map[string]any)["id"] != bot.ID || app["owner"].(map[string]any)["id"] != guild.OwnerID {
			t.Fatalf("application %v", app)
		}
		roles := get("/guilds/" + guild.ID + "/roles")["list"].([]any)
		if len(roles) != 2 || roles[0].(map[string]any)["id"] != guild.ID || roles[1].(map[string]any)["id"] != guild.BotRoleID ||
			roles[1].(map[string]any)["tags"].(map[string]any)["bot_id"] != bot.ID {
			t.Fatalf("roles %v", roles)
		}
		member := get("/guilds/" + guild.ID + "/members/" + bot.ID)
		if r := member["roles"].([]any); len(r) != 1 || r[0] != guild.BotRoleID {
			t.Fatalf("bot member %v", member)
		}
	})

	t.Run("guild with counts", func(t *testing.T) {
		if err := s.JoinVoice(guild.ID, lobby.ID, alice.ID); err != nil {
			t.Fatal(err)
		}
		g.expectDispatch("VOICE_STATE_UPDATE")
		plain := get("/guilds/" + guild.ID)
		if _, ok := plain["approximate_member_count"]; ok || plain["owner_id"] != guild.OwnerID {
			t.Fatalf("guild without counts %v", plain)
		}
		counted := get("/guilds/" + guild.ID + "?with_counts=true")
		if counted["approximate_member_count"] != 2.0 || counted["approximate_presence_count"] != 2.0 {
			t.Fatalf("counts %v %v, want 2 members, alice in voice and the bot connected online",
				counted["approximate_member_count"], counted["approximate_presence_count"])
		}
		if status, code := restCode(t, s, apiCall{method: "GET", path: "/api/v10/guilds/" + guild.ID + "?with_counts=maybe"}); status != 400 || code != 50035 {
			t.Fatalf("with_counts=maybe: %d %v", status, code)
		}
	})

	t.Run("permission overwrites", func(t *testing.T) {
		path := "/api/v10/channels/" + lobby.ID + "/permissions/" + alice.ID
		put := apiCall{method: "PUT", path: path, body: map[string]any{"type": 1, "allow": "1024", "deny": "2048"}}
		if status, code := restCode(t, s, put); status != http.StatusNoContent {
			t.Fatalf("PUT: %d %v", status, code)
		}
		upd := decodeJSON[map[string]any](t, g.expectDispatch("CHANNEL_UPDATE").D)
		if ow := upd["permission_overwrites"].([]any); len(ow) != 1 || ow[0].(map[string]any)["allow"] != "1024" {
			t.Fatalf("CHANNEL_UPDATE %v", upd)
		}
		for _, bad := range []struct {
			name   string
			call   apiCall
			status int
			code   float64
		}{
			{"no type", apiCall{method: "PUT", path: path, body: map[string]any{"allow": "1"}}, 400, 50035},
			{"bad type", apiCall{method: "PUT", path: path, body: map[string]any{"type": 3}}, 400, 50035},
			{"bad bits", apiCall{method: "PUT", path: path, body: map[string]any{"type": 1, "allow": "lots"}}, 400, 50035},
			{"invalid JSON", apiCall{method: "PUT", path: path, body: "{"}, 400, 50109},
			{"unknown role", apiCall{method: "PUT", path: "/api/v10/channels/" + lobby.ID + "/permissions/123456789", body: map[string]any{"type": 0}}, 404, 10011},
			{"unknown user", apiCall{method: "PUT", path: "/api/v10/channels/" + lobby.ID + "/permissions/123456789", body: map[string]any{"type": 1}}, 404, 10013},
			{"unknown channel", apiCall{method: "PUT", path: "/api/v10/channels/123456789/permissions/" + alice.ID, body: map[string]any{"type": 1}}, 404, 10003},
			{"delete unknown overwrite", apiCall{method: "DELETE", path: "/api/v10/channels/" + lobby.ID + "/permissions/" + guild.ID}, 404, 10009},
		} {
			if status, code := restCode(t, s, bad.call); status != bad.status || code != bad.code {
				t.Errorf("%s: %d %v, want %d %v", bad.name, status, code, bad.status, bad.code)
			}
		}
		if ow := channelNamed(t, s, "Lobby").PermissionOverwrites; len(ow) != 1 || ow[0].Allow != 1024 {
			t.Fatalf("refused requests changed the overwrites: %+v", ow)
		}
		if status, code := restCode(t, s, apiCall{method: "DELETE", path: path}); status != http.StatusNoContent {
			t.Fatalf("DELETE: %d %v", status, code)
		}
		if upd := decodeJSON[map[string]any](t, g.expectDispatch("CHANNEL_UPDATE").D); len(upd["permission_overwrites"].([]any)) != 0 {
			t.Fatalf("CHANNEL_UPDATE after DELETE %v", upd)
		}
	})

	t.Run("channel positions", func(t *testing.T) {
		path := "/api/v10/guilds/" + guild.ID + "/channels"
		move := apiCall{method: "PATCH", path: path, body: []map[string]any{{"id": general.ID, "position": 5, "parent_id": guild.RoomsCategoryID}}}
		if status, code := restCode(t, s, move); status != http.StatusNoContent {
			t.Fatalf("PATCH positions: %d %v", status, code)
		}
		upd := decodeJSON[map[string]any](t, g.expectDispatch("CHANNEL_UPDATE").D)
		if upd["id"] != general.ID || upd["position"] != 5.0 || upd["parent_id"] != guild.RoomsCategoryID {
			t.Fatalf("CHANNEL_UPDATE %v", upd)
		}
		for _, bad := range []struct {
			name   string
			body   any
			status int
			code   float64
		}{
			{"not a list", map[string]any{"id": general.ID}, 400, 50035},
			{"no id", []map[string]any{{"position": 1}}, 400, 50035},
			{"negative position", []map[string]any{{"id": general.ID, "position": -1}}, 400, 50035},
			{"parent not a category", []map[string]any{{"id": general.ID, "parent_id": lobby.ID}}, 400, 50035},
			{"unknown channel", []map[string]any{{"id": general.ID, "position": 1}, {"id": "123456789", "position": 2}}, 404, 10003},
		} {
			if status, code := restCode(t, s, apiCall{method: "PATCH", path: path, body: bad.body}); status != bad.status || code != bad.code {
				t.Errorf("%s: %d %v, want %d %v", bad.name, status, code, bad.status, bad.code)
			}
		}
		if c := channelNamed(t, s, "general"); c.Position != 5 || c.ParentID != guild.RoomsCategoryID {
			t.Fatalf("refused requests moved general: %+v", c)
		}
		if err := s.SetBotPermissions(guild.ID, 0); err != nil {
			t.Fatal(err)
		}
		if status, code := restCode(t, s, move); status != http.StatusForbidden || code != 50013 {
			t.Fatalf("PATCH positions without Manage Channels: %d %v", status, code)
		}
	})
}
