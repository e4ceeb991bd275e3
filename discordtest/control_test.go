package discordtest

import (
	"errors"
	"net/http"
	"testing"
)

func TestVoiceControl(t *testing.T) {
	s := startEmulator(t, nil)
	g := firstGuild(t, s)
	alice, err := s.AddUser(User{Username: "alice", GlobalName: "Alice", Avatar: "a1b2"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := s.AddUser(User{Username: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	small, err := s.CreateChannel(g.ID, Channel{Type: ChannelTypeGuildVoice, Name: "Duel", UserLimit: 1, ParentID: g.RoomsCategoryID})
	if err != nil {
		t.Fatal(err)
	}
	big, err := s.CreateChannel(g.ID, Channel{Type: ChannelTypeGuildVoice, Name: "Commander"})
	if err != nil {
		t.Fatal(err)
	}
	var text string
	for _, c := range s.State().Guilds[0].Channels {
		if c.Type == ChannelTypeGuildText {
			text = c.ID
		}
	}

	steps := []struct {
		name     string
		do       func() error
		wantCode int // Discord error code expected, -1 for success
	}{
		{"alice joins the duel", func() error { return s.JoinVoice(g.ID, small.ID, alice.ID) }, -1},
		{"bob is refused by the full duel", func() error { return s.JoinVoice(g.ID, small.ID, bob.ID) }, 0},
		{"bob cannot join a text channel", func() error { return s.JoinVoice(g.ID, text, bob.ID) }, 50024},
		{"unknown users cannot join", func() error { return s.JoinVoice(g.ID, big.ID, "42") }, 10007},
		{"unknown channels cannot be joined", func() error { return s.JoinVoice(g.ID, "42", bob.ID) }, 10003},
		{"unknown guilds are refused", func() error { return s.JoinVoice("42", big.ID, bob.ID) }, 10004},
		{"bob joins the commander table", func() error { return s.JoinVoice(g.ID, big.ID, bob.ID) }, -1},
		{"alice moves to the commander table", func() error { return s.JoinVoice(g.ID, big.ID, alice.ID) }, -1},
		{"alice mutes herself and starts video", func() error {
			yes := true
			return s.SetVoiceFlags(g.ID, alice.ID, VoiceFlags{SelfMute: &yes, SelfVideo: &yes})
		}, -1},
		{"bob leaves", func() error { return s.LeaveVoice(g.ID, bob.ID) }, -1},
		{"bob cannot leave twice", func() error { return s.LeaveVoice(g.ID, bob.ID) }, 40032},
		{"flags of a user not in voice", func() error { return s.SetVoiceFlags(g.ID, bob.ID, VoiceFlags{}) }, 40032},
	}
	for _, st := range steps {
		err := st.do()
		var apiErr *APIError
		switch {
		case st.wantCode < 0 && err != nil:
			t.Fatalf("%s: %v", st.name, err)
		case st.wantCode >= 0 && (!errors.As(err, &apiErr) || apiErr.Code != st.wantCode):
			t.Fatalf("%s: got %v, want Discord error %d", st.name, err, st.wantCode)
		}
	}

	gs, err := s.GuildState(g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(gs.VoiceStates) != 1 {
		t.Fatalf("voice states %+v, want only alice", gs.VoiceStates)
	}
	vs := gs.VoiceStates[0]
	if vs.UserID != alice.ID || vs.ChannelID != big.ID || !vs.SelfMute || !vs.SelfVideo || vs.Deaf || vs.SessionID == "" {
		t.Fatalf("alice's voice state %+v", vs)
	}
	if len(gs.Members) != 3 {
		t.Fatalf("members %+v, want the bot, alice and bob", gs.Members)
	}
}

func TestAddUserRejectsBadUsers(t *testing.T) {
	s := startEmulator(t, nil)
	alice, err := s.AddUser(User{Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	for name, u := range map[string]User{
		"duplicate ID":       {ID: alice.ID, Username: "again"},
		"ID not a snowflake": {ID: "x", Username: "xavier"},
		"name too short":     {Username: "a"},
		"name too long":      {Username: "abcdefghijklmnopqrstuvwxyz0123456"},
	} {
		if _, err := s.AddUser(u); err == nil {
			t.Errorf("%s: AddUser accepted %+v", name, u)
		}
	}
	if n := len(s.State().Users); n != 1 {
		t.Fatalf("%d users after rejected additions, want 1", n)
	}
}

func TestControlHTTP(t *testing.T) {
	s := startEmulator(t, nil)
	g := firstGuild(t, s)
	bearer := "Bearer " + testControl
	call := func(method, path string, body any) (*http.Response, []byte) {
		return apiCall{method: method, path: "/_emulator" + path, auth: bearer, body: body}.do(t, s)
	}

	t.Run("authentication", func(t *testing.T) {
		for name, auth := range map[string]string{
			"none": "", "bot token": botAuth, "bot token as bearer": "Bearer " + testToken, "wrong": "Bearer nope",
		} {
			resp, body := apiCall{method: "GET", path: "/_emulator/state", auth: auth}.do(t, s)
			if resp.StatusCode != 401 {
				t.Errorf("%s: %d %s, want 401", name, resp.StatusCode, body)
			}
		}
	})

	t.Run("world", func(t *testing.T) {
		resp, body := call("POST", "/users", map[string]any{"username": "carol", "global_name": "Carol"})
		if resp.StatusCode != 200 {
			t.Fatalf("add user: %d %s", resp.StatusCode, body)
		}
		carol := decodeJSON[User](t, body)
		resp, body = call("POST", "/guilds/"+g.ID+"/channels", map[string]any{"name": "Table", "type": 2, "parent_id": g.RoomsCategoryID})
		if resp.StatusCode != 200 {
			t.Fatalf("create channel: %d %s", resp.StatusCode, body)
		}
		room := decodeJSON[Channel](t, body)
		if resp, body := call("PUT", "/guilds/"+g.ID+"/voice/"+carol.ID, map[string]any{"channel_id": room.ID}); resp.StatusCode != 204 {
			t.Fatalf("join: %d %s", resp.StatusCode, body)
		}
		if resp, body := call("PATCH", "/guilds/"+g.ID+"/voice/"+carol.ID, map[string]any{"self_stream": true, "deaf": true}); resp.StatusCode != 204 {
			t.Fatalf("flags: %d %s", resp.StatusCode, body)
		}
		_, body = call("GET", "/state", nil)
		st := decodeJSON[State](t, body)
		if vs := st.Guilds[0].VoiceStates; len(vs) != 1 || vs[0].UserID != carol.ID || !vs[0].SelfStream || !vs[0].Deaf {
			t.Fatalf("voice states in state: %+v", vs)
		}
		if resp, _ := call("DELETE", "/guilds/"+g.ID+"/voice/"+carol.ID, nil); resp.StatusCode != 204 {
			t.Fatalf("leave: %d", resp.StatusCode)
		}
		if resp, _ := call("DELETE", "/channels/"+room.ID, nil); resp.StatusCode != 200 {
			t.Fatalf("delete channel: %d", resp.StatusCode)
		}
		if resp, _ := call("PUT", "/guilds/"+g.ID+"/bot-permissions", map[string]any{"permissions": "16"}); resp.StatusCode != 204 {
			t.Fatalf("bot permissions: %d", resp.StatusCode)
		}
		if resp, _ := call("PUT", "/guilds/"+g.ID+"/roles/"+g.ID, map[string]any{"permissions": "1024"}); resp.StatusCode != 204 {
			t.Fatalf("@everyone permissions: %d", resp.StatusCode)
		}
		general := channelNamed(t, s, "general")
		if resp, body := call("PUT", "/channels/"+general.ID+"/permissions/"+g.ID, map[string]any{"type": 0, "deny": "1024"}); resp.StatusCode != 204 {
			t.Fatalf("set overwrite: %d %s", resp.StatusCode, body)
		}
		gs, _ := s.GuildState(g.ID)
		if gs.Roles[0].Permissions != 1024 || gs.Roles[1].Permissions != 16 || len(channelNamed(t, s, "general").PermissionOverwrites) != 1 {
			t.Fatalf("roles %+v, general %+v", gs.Roles, channelNamed(t, s, "general"))
		}
		if resp, _ := call("DELETE", "/channels/"+general.ID+"/permissions/"+g.ID, nil); resp.StatusCode != 204 {
			t.Fatalf("delete overwrite: %d", resp.StatusCode)
		}
	})

	t.Run("bad input changes nothing", func(t *testing.T) {
		before := s.State()
		tests := []struct {
			name, method, path string
			body               any
			wantStatus         int
		}{
			{"unknown field", "POST", "/users", map[string]any{"username": "dave", "admin": true}, 400},
			{"invalid user", "POST", "/users", map[string]any{"username": "d"}, 400},
			{"invalid channel", "POST", "/guilds/" + g.ID + "/channels", map[string]any{"name": "", "type": 2}, 400},
			{"unknown guild", "POST", "/guilds/1/channels", map[string]any{"name": "x"}, 404},
			{"not JSON", "POST", "/users", "{", 400},
			{"missing permissions", "PUT", "/guilds/" + g.ID + "/bot-permissions", map[string]any{}, 400},
			{"unknown role", "PUT", "/guilds/" + g.ID + "/roles/123456789", map[string]any{"permissions": "0"}, 404},
			{"overwrite without type", "PUT", "/channels/" + g.RoomsCategoryID + "/permissions/" + g.ID, map[string]any{"deny": "1024"}, 400},
			{"overwrite of an unknown role", "PUT", "/channels/" + g.RoomsCategoryID + "/permissions/123456789", map[string]any{"type": 0}, 404},
			{"bad fault scope", "POST", "/rest-faults", map[string]any{"kind": "rate_limit", "scope": "guild"}, 400},
			{"bad fault", "POST", "/rest-faults", map[string]any{"kind": "server_error", "status": 200}, 400},
			{"unknown session", "POST", "/sessions/nope/drop", nil, 404},
			{"unknown session action", "POST", "/sessions/nope/explode", nil, 404},
			{"close code out of range", "POST", "/sessions/nope/close", map[string]any{"code": 99}, 400},
		}
		for _, tt := range tests {
			resp, body := call(tt.method, tt.path, tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("%s: %d %s, want %d", tt.name, resp.StatusCode, body, tt.wantStatus)
			}
		}
		after := s.State()
		if len(after.Users) != len(before.Users) || len(after.Guilds[0].Channels) != len(before.Guilds[0].Channels) ||
			len(after.Guilds[0].Channels[0].PermissionOverwrites) != len(before.Guilds[0].Channels[0].PermissionOverwrites) {
			t.Fatal("rejected control requests changed the world")
		}
	})

	t.Run("rest faults", func(t *testing.T) {
		if resp, body := call("POST", "/rest-faults", map[string]any{"kind": "server_error", "status": 500, "count": 1}); resp.StatusCode != 204 {
			t.Fatalf("add fault: %d %s", resp.StatusCode, body)
		}
		if resp, _ := (apiCall{method: "GET", path: "/api/v10/users/@me", auth: botAuth}).do(t, s); resp.StatusCode != 500 {
			t.Fatalf("faulted request: %d", resp.StatusCode)
		}
		if resp, _ := call("DELETE", "/rest-faults", nil); resp.StatusCode != 204 {
			t.Fatalf("clear: %d", resp.StatusCode)
		}
		_, body := call("GET", "/stats", nil)
		if st := decodeJSON[Stats](t, body); st.RESTStatus[500] != 1 {
			t.Fatalf("stats %s", body)
		}
	})
}

func TestControlHTTPDisabledWithoutToken(t *testing.T) {
	s := startEmulator(t, func(c *Config) { c.ControlToken = "" })
	for _, auth := range []string{"", "Bearer ", botAuth} {
		if resp, _ := (apiCall{method: "GET", path: "/_emulator/state", auth: auth}).do(t, s); resp.StatusCode != 404 {
			t.Fatalf("auth %q: %d, want 404", auth, resp.StatusCode)
		}
	}
}

func TestControlHTTPCORS(t *testing.T) {
	s := startEmulator(t, func(c *Config) { c.ControlAllowedOrigins = []string{"https://sandbox.test"} })
	tests := []struct {
		name       string
		method     string
		origin     string
		auth       string
		wantStatus int
		wantAllow  string
	}{
		{"preflight from the sandbox", "OPTIONS", "https://sandbox.test", "", 204, "https://sandbox.test"},
		{"request from the sandbox", "GET", "https://sandbox.test", "Bearer " + testControl, 200, "https://sandbox.test"},
		{"request from the sandbox without token", "GET", "https://sandbox.test", "", 401, "https://sandbox.test"},
		{"preflight from elsewhere", "OPTIONS", "https://evil.test", "", 401, ""},
		{"request from elsewhere", "GET", "https://evil.test", "Bearer " + testControl, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := apiCall{method: tt.method, path: "/_emulator/stats", auth: tt.auth,
				headers: map[string]string{"Origin": tt.origin}}.do(t, s)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tt.wantStatus, body)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.wantAllow {
				t.Fatalf("Access-Control-Allow-Origin %q, want %q", got, tt.wantAllow)
			}
		})
	}
}
