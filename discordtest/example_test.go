package discordtest_test

import (
	"fmt"
	"io"
	"net/http"

	"github.com/spellcoven/gateway/discordtest"
)

// A test starts an emulator, points its client at URL()+"/api" (REST) — the gateway URL comes
// from GET /gateway — and drives the world through the control methods.
func Example() {
	srv, err := discordtest.New(discordtest.Config{BotTokens: []string{"bot-token"}})
	if err != nil {
		panic(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		panic(err)
	}
	defer srv.Close()

	req, _ := http.NewRequest("GET", srv.URL()+"/api/v10/users/@me", nil)
	req.Header.Set("Authorization", "Bot bot-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	fmt.Println("GET /users/@me:", resp.Status)

	guild := srv.Guilds()[0]
	room, _ := srv.CreateChannel(guild.ID, discordtest.Channel{
		Type: discordtest.ChannelTypeGuildVoice, Name: "Table 1", ParentID: guild.RoomsCategoryID, UserLimit: 4,
	})
	alice, _ := srv.AddUser(discordtest.User{Username: "alice", GlobalName: "Alice"})
	if err := srv.JoinVoice(guild.ID, room.ID, alice.ID); err != nil {
		panic(err)
	}
	state, _ := srv.GuildState(guild.ID)
	fmt.Println("in voice:", len(state.VoiceStates), "in", room.Name)
	// Output:
	// GET /users/@me: 200 OK
	// in voice: 1 in Table 1
}
