package voice_test

import (
	"context"
	"fmt"
	"time"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/discordtest/voiceserver"
	"github.com/spellcoven/gateway/voice"
)

// Connecting with what VOICE_STATE_UPDATE and VOICE_SERVER_UPDATE carried, here handed out by
// the emulator's voice server, and sending a silence frame.
func ExampleDial() {
	vs, _ := voiceserver.New(voiceserver.Config{})
	_ = vs.Start()
	defer vs.Close()
	endpoint, token := vs.Allocate(discordtest.VoiceGrant{GuildID: "1", ChannelID: "2", UserID: "3", SessionID: "s"})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := voice.Dial(ctx, voice.ServerInfo{
		GuildID: "1", ChannelID: "2", UserID: "3", SessionID: "s", Token: token, Endpoint: endpoint,
	}, voice.Config{Scheme: "ws"}) // the emulator serves plain WebSockets
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	fmt.Println(conn.Mode())
	fmt.Println(conn.SendOpus(voice.SilenceFrame()))
	// Output:
	// aead_aes256_gcm_rtpsize
	// <nil>
}
