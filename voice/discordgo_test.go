package voice_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/discordtest/voiceserver"
	"github.com/spellcoven/gateway/voice"
)

// rewriteHost sends discordgo's requests (to discord.com, from its process-global endpoint
// variables) to the emulator.
type rewriteHost struct{ target *url.URL }

func (rt rewriteHost) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host, out.Host = rt.target.Scheme, rt.target.Host, rt.target.Host
	return http.DefaultTransport.RoundTrip(out)
}

// TestJoinThroughMainGateway is the worker's path: discordgo joins with op 4 only
// (ChannelVoiceJoinManual), the emulator's gateway answers VOICE_STATE_UPDATE and
// VOICE_SERVER_UPDATE with a grant from the voice server, and the voice client connects with
// them and plays a file that the voice server receives intact.
func TestJoinThroughMainGateway(t *testing.T) {
	vs, err := voiceserver.New(voiceserver.Config{HeartbeatInterval: 200 * time.Millisecond, HeartbeatTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := vs.Start(); err != nil {
		t.Fatal(err)
	}
	defer vs.Close()
	const token = "voice-test-bot-token"
	emu, err := discordtest.New(discordtest.Config{
		BotTokens: []string{token},
		REST:      discordtest.RESTConfig{RateLimitsDisabled: true},
		Gateway:   discordtest.GatewayConfig{HeartbeatInterval: 200 * time.Millisecond, HeartbeatTimeout: time.Minute},
		Voice:     vs,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	guild := emu.Guilds()[0]
	var lobby string
	for _, ch := range mustGuildState(t, emu, guild.ID).Channels {
		if ch.Type == discordtest.ChannelTypeGuildVoice {
			lobby = ch.ID
		}
	}

	dg, err := discordgo.New("Bot " + token)
	if err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse(emu.URL())
	dg.Client = &http.Client{Transport: rewriteHost{target}, Timeout: 10 * time.Second}
	dg.Identify.Intents = discordgo.IntentsGuilds | discordgo.IntentsGuildVoiceStates
	dg.LogLevel = -1
	if os.Getenv("VOICE_DEBUG") != "" {
		dg.LogLevel = discordgo.LogInformational
	}
	ready := make(chan *discordgo.Ready, 1)
	states := make(chan *discordgo.VoiceStateUpdate, 8)
	servers := make(chan *discordgo.VoiceServerUpdate, 8)
	dg.AddHandler(func(_ *discordgo.Session, r *discordgo.Ready) { ready <- r })
	dg.AddHandler(func(_ *discordgo.Session, v *discordgo.VoiceStateUpdate) { states <- v })
	dg.AddHandler(func(_ *discordgo.Session, v *discordgo.VoiceServerUpdate) { servers <- v })
	if err := dg.Open(); err != nil {
		t.Fatal(err)
	}
	defer dg.Close()
	r := receive(t, ready, "READY")

	if err := dg.ChannelVoiceJoinManual(guild.ID, lobby, false, true); err != nil {
		t.Fatal(err)
	}
	var info voice.ServerInfo
	for info.SessionID == "" || info.Token == "" {
		select {
		case st := <-states:
			if st.UserID == r.User.ID {
				info.SessionID, info.ChannelID = st.SessionID, st.ChannelID
			}
		case sv := <-servers:
			info.GuildID, info.Token, info.Endpoint = sv.GuildID, sv.Token, sv.Endpoint
		case <-time.After(10 * time.Second):
			t.Fatal("no VOICE_STATE_UPDATE and VOICE_SERVER_UPDATE")
		}
	}
	info.UserID = r.User.ID

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := voice.Dial(ctx, info, testConfig(voice.Config{}))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer conn.Close()
	f, err := os.Open(mediaPath("tone-b.opus"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src, err := voice.NewOggOpusReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.PlayOpus(ctx, src); err != nil {
		t.Fatal(err)
	}
	want := readOpusPackets(t, "tone-b.opus")
	waitFor(t, "the file at the voice server", 5*time.Second, func() bool { return len(vs.Received(conn.SSRC())) == len(want)+5 })
	for i, p := range vs.Received(conn.SSRC())[:len(want)] {
		if !bytes.Equal(p.Payload, want[i]) {
			t.Fatalf("packet %d differs", i)
		}
	}

	// Leaving voice on the main gateway releases the grant: the voice server closes with 4014.
	if err := dg.ChannelVoiceJoinManual(guild.ID, "", false, false); err != nil {
		t.Fatal(err)
	}
	select {
	case <-conn.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the voice connection outlived the voice state")
	}
	if ce, ok := conn.Err().(*voice.CloseError); !ok || ce.Code != voice.CloseDisconnected {
		t.Fatalf("Err = %v", conn.Err())
	}
}

func mustGuildState(t *testing.T, emu *discordtest.Server, id string) discordtest.GuildState {
	t.Helper()
	gs, err := emu.GuildState(id)
	if err != nil {
		t.Fatal(err)
	}
	return gs
}

func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10s", what)
		var zero T
		return zero
	}
}
