package discordtest

import (
	"strconv"
	"strings"
	"testing"
)

// djsGuild is a guild of discord.js's cache as the djsclient script reports it at ready.
type djsGuild struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	OwnerID     string `json:"owner_id"`
	Channels    int    `json:"channels"`
	Members     int    `json:"members"`
	Roles       int    `json:"roles"`
	MeRoles     int    `json:"me_roles"`
	VoiceStates int    `json:"voice_states"`
}

// startDiscordJS runs a discord.js Client (discordtest/djsclient/bot.mjs) with the given intents.
func startDiscordJS(t *testing.T, s *Server, intents Intents) *jsClient {
	t.Helper()
	return startNodeClient(t, s, "djsclient", "bot.mjs", "discord.js", "INTENTS="+strconv.FormatUint(uint64(intents), 10))
}

// result sends a command and waits for its result line.
func (c *jsClient) result(cmd map[string]any) jsEvent {
	c.t.Helper()
	c.send(cmd)
	name := cmd["cmd"].(string)
	return c.expect("the result of "+name, func(e jsEvent) bool { return e.Event == "result" && e.Cmd == name })
}

// change sends a command that changes a channel and waits for both its result and the channel
// event of type t it fires, which discord.js may emit before or after the REST answer.
func (c *jsClient) change(cmd map[string]any, t string) jsEvent {
	c.t.Helper()
	c.send(cmd)
	name := cmd["cmd"].(string)
	var r jsEvent
	events := map[string]bool{}
	c.expect("the result of "+name+" and its channel "+t, func(e jsEvent) bool {
		switch {
		case e.Event == "result" && e.Cmd == name:
			r = e
		case e.Event == "channel" && e.T == t:
			events[e.ID] = true
		}
		return r.Event != "" && (!r.OK || events[r.ID])
	})
	return r
}

// TestDiscordJSClient runs discord.js's Client, as a bot author would, against the emulator: login
// and the guild cache, channel changes and their events, voice states, member fetches with and
// without the GUILD_MEMBERS intent, a permission refusal and a resume.
func TestDiscordJSClient(t *testing.T) {
	s := startEmulator(t, func(c *Config) { c.Gateway.PrivilegedIntents = IntentGuildMembers })
	alice, _ := s.AddUser(User{Username: "alice"})
	bob, _ := s.AddUser(User{Username: "bob"})
	guild := firstGuild(t, s)
	lobby := channelNamed(t, s, "Lobby")
	if err := s.JoinVoice(guild.ID, lobby.ID, bob.ID); err != nil {
		t.Fatal(err)
	}

	djs := startDiscordJS(t, s, IntentGuilds|IntentGuildVoiceStates)
	ready := djs.expect("ready", isEvent("ready"))
	gs, _ := s.GuildState(guild.ID)
	if len(ready.Guilds) != 1 {
		t.Fatalf("ready %+v", ready)
	}
	cached := ready.Guilds[0]
	// The cache holds the bot and bob (in voice): GUILD_CREATE without GUILD_PRESENCES.
	if cached.ID != guild.ID || cached.OwnerID != guild.OwnerID || cached.Channels != len(gs.Channels) || cached.Roles != 2 ||
		cached.MeRoles != 2 || cached.Members != 2 || cached.VoiceStates != 1 {
		t.Fatalf("guild cache %+v, emulator %d channels", cached, len(gs.Channels))
	}
	if ready.Discriminator == "0" || ready.Discriminator == "0000" || ready.Tag != s.Bot().Username+"#"+ready.Discriminator {
		t.Fatalf("bot tag %q, discriminator %q", ready.Tag, ready.Discriminator)
	}

	// Channels: create, edit and delete through discord.js, each with its event.
	created := djs.change(map[string]any{"cmd": "create_channel", "name": "table", "type": 2, "parent_id": guild.RoomsCategoryID}, "create")
	if !created.OK || created.Name != "table" {
		t.Fatalf("create: %+v", created)
	}
	if r := djs.change(map[string]any{"cmd": "edit_channel", "id": created.ID, "name": "big table"}, "update"); !r.OK || r.Name != "big table" {
		t.Fatalf("edit: %+v", r)
	}
	if r := djs.change(map[string]any{"cmd": "delete_channel", "id": created.ID}, "delete"); !r.OK {
		t.Fatalf("delete: %+v", r)
	}

	// Voice states.
	if err := s.JoinVoice(guild.ID, lobby.ID, alice.ID); err != nil {
		t.Fatal(err)
	}
	if v := djs.expect("voiceStateUpdate", isEvent("voice")); v.UserID != alice.ID || v.To == nil || *v.To != lobby.ID || v.Name != "alice" {
		t.Fatalf("voiceStateUpdate %+v", v)
	}

	// Without the GUILD_MEMBERS intent Discord never answers a full member fetch: discord.js
	// gives up when its (here short) wait ends.
	if r := djs.result(map[string]any{"cmd": "fetch_members", "time": 1500}); r.OK || r.ErrorCode != "GuildMembersTimeout" {
		t.Fatalf("members.fetch() without the intent: %+v", r)
	}

	// A refusal surfaces as discord.js's DiscordAPIError.
	if err := s.SetBotPermissions(guild.ID, 0); err != nil {
		t.Fatal(err)
	}
	refused := djs.result(map[string]any{"cmd": "create_channel", "name": "refused", "type": 2})
	if refused.OK || refused.Name != "DiscordAPIError[50013]" || refused.ErrorCode != "50013" || refused.Status != 403 {
		t.Fatalf("create without permission: %+v", refused)
	}
	if err := s.SetBotPermissions(guild.ID, DefaultBotPermissions); err != nil {
		t.Fatal(err)
	}

	// A dropped connection: discord.js resumes and gets what it missed.
	if err := s.DropConnection(onlySession(t, s).ID); err != nil {
		t.Fatal(err)
	}
	if err := s.LeaveVoice(guild.ID, alice.ID); err != nil {
		t.Fatal(err)
	}
	// The missed event is replayed before RESUMED (or came before the client saw the drop).
	var resumed, left bool
	djs.expect("the resume and the missed voiceStateUpdate", func(e jsEvent) bool {
		resumed = resumed || e.Event == "resumed"
		left = left || (e.Event == "voice" && e.UserID == alice.ID && e.To == nil)
		return resumed && left
	})
	if st := s.Stats(); st.Identifies != 1 || st.Resumes != 1 {
		t.Fatalf("identifies %d, resumes %d: want one session, resumed once", st.Identifies, st.Resumes)
	}
	djs.send(map[string]any{"cmd": "exit"})
	djs.expect("exit", isEvent("exit"))

	// With the intent, the fetch is answered: every member.
	withMembers := startDiscordJS(t, s, IntentGuilds|IntentGuildVoiceStates|IntentGuildMembers)
	withMembers.expect("ready", isEvent("ready"))
	if r := withMembers.result(map[string]any{"cmd": "fetch_members", "time": 10000}); !r.OK || r.Count != 3 {
		t.Fatalf("members.fetch() with the intent: %+v", r)
	}
	withMembers.send(map[string]any{"cmd": "exit"})
	withMembers.expect("exit", isEvent("exit"))
	if strings.Contains(djs.stderr.String()+withMembers.stderr.String(), testToken) {
		t.Fatal("discord.js printed the token")
	}
}
