package discordtest

import (
	"fmt"
	"testing"
	"time"
)

// memberIDs lists the user IDs of a members array of a gateway payload.
func memberIDs(t *testing.T, members any) []string {
	t.Helper()
	var ids []string
	for _, m := range members.([]any) {
		ids = append(ids, m.(map[string]any)["user"].(map[string]any)["id"].(string))
	}
	return ids
}

func TestGuildCreateMembersFollowThePresencesIntent(t *testing.T) {
	s := startEmulator(t, func(c *Config) { c.Gateway.PrivilegedIntents = IntentGuildMembers | IntentGuildPresences })
	alice, _ := s.AddUser(User{Username: "alice"})
	bob, _ := s.AddUser(User{Username: "bob"})
	guild := firstGuild(t, s)
	if err := s.JoinVoice(guild.ID, channelNamed(t, s, "Lobby").ID, bob.ID); err != nil {
		t.Fatal(err)
	}
	bot := s.Bot().ID
	cases := []struct {
		name    string
		intents Intents
		want    []string
	}{
		{"without privileged intents", IntentGuilds, []string{bot, bob.ID}},
		{"with GUILD_MEMBERS only", IntentGuilds | IntentGuildMembers, []string{bot, bob.ID}},
		{"with GUILD_PRESENCES", IntentGuilds | IntentGuildPresences, []string{bot, alice.ID, bob.ID}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := dialGateway(t, s, v10)
			g.identify(tc.intents)
			create := decodeJSON[map[string]any](t, g.expectDispatch("GUILD_CREATE").D)
			if got := memberIDs(t, create["members"]); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("members %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRequestGuildMembersAsDiscordAnswers(t *testing.T) {
	s := startEmulator(t, func(c *Config) {
		c.Gateway.PrivilegedIntents = IntentGuildMembers
		c.Guilds = []GuildConfig{{}, {}}
	})
	for i := range 120 {
		if _, err := s.AddUser(User{Username: fmt.Sprintf("player%03d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	alice, _ := s.AddUser(User{Username: "alice"})
	guild, otherGuild := s.Guilds()[0], s.Guilds()[1].ID

	t.Run("without GUILD_MEMBERS the whole list is not answered", func(t *testing.T) {
		g := dialGateway(t, s, v10)
		g.identify(IntentGuilds)
		g.expectDispatch("GUILD_CREATE")
		g.expectDispatch("GUILD_CREATE")
		g.send(opRequestGuildMembers, map[string]any{"guild_id": guild.ID, "query": "", "limit": 0, "nonce": "all"})
		// A query and a lookup by ID need no intent: their answer comes next, the full list's never.
		g.send(opRequestGuildMembers, map[string]any{"guild_id": guild.ID, "query": "ali", "limit": 10, "nonce": "query"})
		chunk := decodeJSON[map[string]any](t, g.expectDispatch("GUILD_MEMBERS_CHUNK").D)
		if got := memberIDs(t, chunk["members"]); chunk["nonce"] != "query" || fmt.Sprint(got) != fmt.Sprint([]string{alice.ID}) {
			t.Fatalf("chunk with nonce %v and %d members, want the query's: alice", chunk["nonce"], len(got))
		}
		g.send(opRequestGuildMembers, map[string]any{"guild_id": guild.ID, "user_ids": []string{alice.ID}, "nonce": "ids"})
		if chunk := decodeJSON[map[string]any](t, g.expectDispatch("GUILD_MEMBERS_CHUNK").D); chunk["nonce"] != "ids" {
			t.Fatalf("chunk with nonce %v, want the lookup's", chunk["nonce"])
		}
	})

	t.Run("with GUILD_MEMBERS", func(t *testing.T) {
		g := dialGateway(t, s, v10)
		g.identify(IntentGuilds | IntentGuildMembers)
		g.expectDispatch("GUILD_CREATE")
		g.expectDispatch("GUILD_CREATE")
		g.send(opRequestGuildMembers, map[string]any{"guild_id": guild.ID, "query": "", "limit": 0, "nonce": "all"})
		chunk := decodeJSON[map[string]any](t, g.expectDispatch("GUILD_MEMBERS_CHUNK").D)
		if n := len(chunk["members"].([]any)); chunk["nonce"] != "all" || n != 122 || chunk["chunk_count"] != 1.0 {
			t.Fatalf("full list: %d members, chunk %v %v", n, chunk["chunk_index"], chunk["chunk_count"])
		}
		// A query answers at most 100 members, whatever the limit asks.
		g.send(opRequestGuildMembers, map[string]any{"guild_id": guild.ID, "query": "player", "limit": 1000, "nonce": "q"})
		chunk = decodeJSON[map[string]any](t, g.expectDispatch("GUILD_MEMBERS_CHUNK").D)
		if n := len(chunk["members"].([]any)); n != 100 {
			t.Fatalf("query answered %d members, want 100", n)
		}
		// Several guilds in one request: only the first is answered.
		g.send(opRequestGuildMembers, map[string]any{"guild_id": []string{guild.ID, otherGuild}, "user_ids": []string{alice.ID}, "nonce": "two"})
		chunk = decodeJSON[map[string]any](t, g.expectDispatch("GUILD_MEMBERS_CHUNK").D)
		if chunk["guild_id"] != guild.ID {
			t.Fatalf("chunk for guild %v, want the first guild's", chunk["guild_id"])
		}
		g.send(opHeartbeat, nil)
		if m := g.next(5 * time.Second); m.Op != opHeartbeatACK {
			t.Fatalf("got op %d %v %s after the one chunk, want the heartbeat ACK", m.Op, deref(m.T), m.D)
		}
	})
}
