package voice_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest/voiceserver"
	"github.com/spellcoven/gateway/voice"
	"github.com/spellcoven/gateway/voice/dave"
)

const (
	e2eeUserA = "200000000000000011"
	e2eeUserB = "200000000000000012"
)

// waitE2EE waits until the bot and the emulated users share one DAVE epoch with the same
// privacy code, and returns that epoch.
func waitE2EE(t *testing.T, conn *voice.Conn, users ...*voiceserver.User) uint64 {
	t.Helper()
	var epoch uint64
	waitFor(t, "one DAVE group for the bot and the users", 10*time.Second, func() bool {
		s := conn.DAVE()
		if s == nil || !s.Ready() {
			return false
		}
		epoch = s.Epoch()
		for _, u := range users {
			e := u.E2EE()
			if e == nil || !e.Ready() || e.Epoch() != epoch || e.PrivacyCode() != s.PrivacyCode() {
				return false
			}
		}
		return true
	})
	return epoch
}

// TestE2EEAudioBothWays: the bot and an emulated user share a DAVE group through the
// emulator's voice gateway; the audio each sends is end-to-end encrypted on the wire (the
// server sees DAVE frames, not Opus) and arrives as the original packets at the other.
func TestE2EEAudioBothWays(t *testing.T) {
	h := newVoiceHarness(t, nil)
	rec := newRecorder(t)
	events := newEventLog()
	conn := h.dial(voice.Config{Media: rec, OnEvent: events.record})
	u, err := h.vs.JoinUser(testGuild, testChannel, e2eeUserA)
	if err != nil {
		t.Fatal(err)
	}
	epoch := waitE2EE(t, conn, u)
	if info, _ := h.vs.Session(testGuild, testBot); info.DAVEProtocolVersion != dave.ProtocolVersion || !info.DAVEMember {
		t.Fatalf("server session %+v", info)
	}
	group, ok := h.vs.DAVEGroup(testGuild, testChannel)
	if !ok || group.Epoch != epoch || !slices.Equal(group.Members, []uint64{100000000000000003, 200000000000000011}) {
		t.Fatalf("group %+v (ok %v), bot at epoch %d", group, ok, epoch)
	}
	code := conn.DAVE().PrivacyCode()
	if len(code) != 30 {
		t.Fatalf("privacy code %q", code)
	}
	waitFor(t, "an E2EE event with the privacy code", 20*time.Second, func() bool {
		return slices.ContainsFunc(events.snapshot(), func(e voice.Event) bool {
			ev, ok := e.(*voice.E2EEEvent)
			return ok && ev.PrivacyCode == code && ev.ProtocolVersion == dave.ProtocolVersion && ev.Epoch == epoch
		})
	})

	// The user speaks: the bot hears the Opus packets.
	want := readOpusPackets(t, "tone-b.opus")
	if _, err := u.SendOpus(context.Background(), want, voiceserver.SendOptions{Interval: 2 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the user's audio at the bot", 20*time.Second, func() bool { return len(rec.Audio(e2eeUserA)) >= len(want) })
	if got := rec.Audio(e2eeUserA); !slices.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("bot heard %d packets, not the %d sent", len(got), len(want))
	}

	// The bot plays a file: the server relays DAVE frames the user decrypts to the file.
	playFile(t, conn, "tone-a.opus")
	played := readOpusPackets(t, "tone-a.opus")
	waitFor(t, "the bot's audio at the server", 20*time.Second, func() bool { return len(h.vs.Received(conn.SSRC())) >= len(played) })
	for i, p := range h.vs.Received(conn.SSRC())[:len(played)] {
		if !dave.IsProtocolFrame(p.Payload) || bytes.Contains(p.Payload, played[i][1:]) {
			t.Fatalf("packet %d reached the server as clear media", i)
		}
		heard, err := u.Hear(testBot, p.Payload)
		if err != nil {
			t.Fatalf("packet %d: the user cannot decrypt it: %v", i, err)
		}
		if !bytes.Equal(heard, played[i]) {
			t.Fatalf("packet %d decrypts to other bytes than the file's", i)
		}
	}
	if st := conn.Stats(); st.Undecryptable != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestResumeReplaysDAVEMessages loses the DAVE messages of a user's join in flight (binary
// proposals and commits among them), drops the connection, and checks that the resume's
// replay brings the bot into the user's group: the binary messages' 16-bit seq is
// acknowledged and replayed like the JSON ones.
func TestResumeReplaysDAVEMessages(t *testing.T) {
	h := newVoiceHarness(t, func(c *voiceserver.Config) { c.DAVETransitionTimeout = 10 * time.Second })
	events := newEventLog()
	conn := h.dial(voice.Config{OnEvent: events.record})
	before, _ := h.vs.Session(testGuild, testBot)
	if !before.DAVEMember {
		t.Fatalf("session %+v: the bot is not a DAVE member", before)
	}
	if err := h.vs.PauseDelivery(testGuild, testBot); err != nil {
		t.Fatal(err)
	}
	u, err := h.vs.JoinUser(testGuild, testChannel, e2eeUserA)
	if err != nil {
		t.Fatal(err)
	}
	var missed voiceserver.SessionInfo
	waitFor(t, "DAVE messages held back", 20*time.Second, func() bool {
		missed, _ = h.vs.Session(testGuild, testBot)
		return missed.Seq >= before.Seq+2 // op 11 and at least the proposals
	})
	if err := h.vs.DropConnection(testGuild, testBot); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "resumed", 20*time.Second, func() bool { return events.hasState(voice.StateResumed) })
	waitE2EE(t, conn, u)
	info, _ := h.vs.Session(testGuild, testBot)
	if info.Identifies != 1 || info.Resumes != 1 {
		t.Fatalf("session %+v: want one identify and one resume", info)
	}
	want := readOpusPackets(t, "tone-c.opus")[:20]
	if _, err := u.SendOpus(context.Background(), want, voiceserver.SendOptions{Interval: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the user's frames decrypted at the bot", 20*time.Second, func() bool { return conn.Stats().PacketsReceived >= uint64(len(want)) })
	if st := conn.Stats(); st.Undecryptable != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestTransportOnly: with Config.TransportOnly identify offers no DAVE, the server chooses
// version 0, and media flows with transport encryption alone; by default identify offers
// DAVE version 1.
func TestTransportOnly(t *testing.T) {
	identifyMax := func(h *voiceHarness) int {
		for _, op := range h.vs.Ops(testGuild, testBot) {
			if op.Op == 0 {
				var id struct {
					Max *int `json:"max_dave_protocol_version"`
				}
				if err := json.Unmarshal(op.D, &id); err != nil || id.Max == nil {
					t.Fatalf("identify %s", op.D)
				}
				return *id.Max
			}
		}
		t.Fatal("no identify recorded")
		return -1
	}
	h := newVoiceHarness(t, nil)
	h.dial(voice.Config{})
	if got := identifyMax(h); got != dave.ProtocolVersion {
		t.Fatalf("default identify offers DAVE %d", got)
	}

	h = newVoiceHarness(t, nil)
	rec := newRecorder(t)
	conn := h.dial(voice.Config{TransportOnly: true, Media: rec})
	if got := identifyMax(h); got != 0 {
		t.Fatalf("transport-only identify offers DAVE %d", got)
	}
	if conn.DAVE() != nil {
		t.Fatal("a transport-only connection has a DAVE session")
	}
	if info, _ := h.vs.Session(testGuild, testBot); info.DAVEProtocolVersion != 0 || info.DAVEMember {
		t.Fatalf("server session %+v", info)
	}
	u, err := h.vs.JoinUser(testGuild, testChannel, e2eeUserB)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := h.vs.DAVEGroup(testGuild, testChannel); ok || u.E2EE() != nil {
		t.Fatal("a call without a DAVE bot has a DAVE group")
	}
	want := readOpusPackets(t, "tone-c.opus")[:25]
	if _, err := u.SendOpus(context.Background(), want, voiceserver.SendOptions{Interval: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the user's audio", 20*time.Second, func() bool { return len(rec.Audio(e2eeUserB)) >= len(want) })
	if got := rec.Audio(e2eeUserB); !slices.EqualFunc(got, want, bytes.Equal) {
		t.Fatal("audio differs")
	}
}

// TestE2EETwoClients: two voice clients (two bots) and an emulated user in one call share a
// DAVE group; one bot plays Opus and VP8, which the voice server relays, and the other bot
// records exactly the file's packets and frames, decrypted. When the user leaves and then the
// first bot leaves, the group moves to new epochs and the remaining bot stays in it.
func TestE2EETwoClients(t *testing.T) {
	const otherBot = "100000000000000004"
	h := newVoiceHarness(t, nil)
	rec := newRecorder(t)
	receiver := h.dial(voice.Config{Media: rec})
	sender := h.dialAs(otherBot, "gateway-session-2", voice.Config{})
	u, err := h.vs.JoinUser(testGuild, testChannel, e2eeUserA)
	if err != nil {
		t.Fatal(err)
	}
	epoch := waitE2EE(t, receiver, u)
	// The group may move on while the sender catches up: same epoch as the receiver's now.
	waitFor(t, "the sender in the receiver's epoch", 20*time.Second, func() bool {
		s, r := sender.DAVE(), receiver.DAVE()
		if s == nil || r == nil || !s.Ready() || !r.Ready() || s.Epoch() != r.Epoch() || s.PrivacyCode() != r.PrivacyCode() {
			return false
		}
		epoch = r.Epoch()
		return true
	})
	if members := receiver.DAVE().Members(); len(members) != 3 {
		t.Fatalf("group members %v", members)
	}

	playFile(t, sender, "tone-a.opus")
	v, err := os.Open(mediaPath("clip.ivf"))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ivf, err := voice.NewIVFReader(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sender.PlayVP8(context.Background(), ivf); err != nil {
		t.Fatal(err)
	}
	audio, frames := readOpusPackets(t, "tone-a.opus"), readIVFFrames(t, "clip.ivf")
	waitFor(t, "the relayed audio and video", 20*time.Second, func() bool {
		return len(rec.Audio(otherBot)) >= len(audio) && len(rec.VideoFrames(otherBot)) >= len(frames)
	})
	if got := rec.Audio(otherBot)[:len(audio)]; !slices.EqualFunc(got, audio, bytes.Equal) {
		t.Fatal("the receiver's audio differs from the file")
	}
	if got := rec.VideoFrames(otherBot); !slices.EqualFunc(got, frames, bytes.Equal) {
		t.Fatalf("the receiver got %d video frames, not the clip's %d", len(got), len(frames))
	}
	for i, p := range h.vs.Received(sender.SSRC())[:len(audio)] {
		if !dave.IsProtocolFrame(p.Payload) {
			t.Fatalf("audio packet %d crossed the server without end-to-end encryption", i)
		}
	}
	if st := receiver.Stats(); st.Undecryptable != 0 {
		t.Fatalf("receiver stats %+v", st)
	}

	if err := u.Leave(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "an epoch without the user", 20*time.Second, func() bool {
		s := receiver.DAVE()
		return s.Ready() && s.Epoch() > epoch && len(s.Members()) == 2 && sender.DAVE().Epoch() == s.Epoch()
	})
	if err := sender.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the receiver alone in its group", 20*time.Second, func() bool {
		g, ok := h.vs.DAVEGroup(testGuild, testChannel)
		return ok && len(g.Members) <= 1
	})
	if c := h.vs.Counters(); c.DAVEErrors != 0 || c.DAVEInvalidCommits != 0 {
		t.Fatalf("server counters %+v", c)
	}
}

// TestE2EEDowngradeAndUpgrade: a transport-only client joining a DAVE call downgrades it to
// protocol version 0 (opcodes 21 and 22): everyone's media then crosses in clear frames that all
// hear. When it leaves, the call is upgraded (opcode 24) and the bot and the user share a new
// group, encrypting again.
func TestE2EEDowngradeAndUpgrade(t *testing.T) {
	const stageBot = "100000000000000005"
	h := newVoiceHarness(t, func(c *voiceserver.Config) { c.DAVETransitionTimeout = 5 * time.Second })
	rec := newRecorder(t)
	events := newEventLog()
	conn := h.dial(voice.Config{Media: rec, OnEvent: events.record})
	u, err := h.vs.JoinUser(testGuild, testChannel, e2eeUserA)
	if err != nil {
		t.Fatal(err)
	}
	first := waitE2EE(t, conn, u)

	stageRec := newRecorder(t)
	stage := h.dialAs(stageBot, "gateway-session-3", voice.Config{TransportOnly: true, Media: stageRec})
	waitFor(t, "the downgrade", 20*time.Second, func() bool {
		s := conn.DAVE()
		return s.ProtocolVersion() == 0 && !s.Ready() && u.E2EE() == nil
	})
	if _, ok := h.vs.DAVEGroup(testGuild, testChannel); ok {
		t.Fatal("a downgraded call still has a DAVE group")
	}
	if !slices.ContainsFunc(events.snapshot(), func(e voice.Event) bool {
		ev, ok := e.(*voice.E2EEEvent)
		return ok && ev.ProtocolVersion == 0
	}) {
		t.Fatal("no E2EE event reported the downgrade")
	}

	// A bot that speaks DAVE, joining the downgraded call, gets version 0 too.
	const lateBot = "100000000000000006"
	late := h.dialAs(lateBot, "gateway-session-4", voice.Config{})
	if info, _ := h.vs.Session(testGuild, lateBot); info.DAVEProtocolVersion != 0 || info.DAVEMember || late.DAVE().ProtocolVersion() != 0 {
		t.Fatalf("a DAVE bot joining a downgraded call: %+v, client version %d", info, late.DAVE().ProtocolVersion())
	}

	// Clear media: the user is heard by both bots, the first bot by the stage bot.
	want := readOpusPackets(t, "tone-b.opus")[:20]
	if _, err := u.SendOpus(context.Background(), want, voiceserver.SendOptions{Interval: 2 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the user's audio at both bots", 20*time.Second, func() bool {
		return len(rec.Audio(e2eeUserA)) >= len(want) && len(stageRec.Audio(e2eeUserA)) >= len(want)
	})
	if !slices.EqualFunc(rec.Audio(e2eeUserA), want, bytes.Equal) || !slices.EqualFunc(stageRec.Audio(e2eeUserA), want, bytes.Equal) {
		t.Fatal("the user's audio differs after the downgrade")
	}
	if err := conn.SetSpeaking(voice.SpeakingMicrophone); err != nil { // maps the bot's SSRC for the others
		t.Fatal(err)
	}
	for _, p := range want {
		if err := conn.SendOpus(p); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the bot's audio at the stage bot", 20*time.Second, func() bool { return len(stageRec.Audio(testBot)) >= len(want) })
	if !slices.EqualFunc(stageRec.Audio(testBot), want, bytes.Equal) {
		t.Fatal("the stage bot hears other audio than the bot sent")
	}

	// The stage bot leaves: a new group, encrypted media again.
	if err := stage.Close(); err != nil {
		t.Fatal(err)
	}
	second := waitE2EE(t, conn, u)
	waitFor(t, "the late bot in the new group", 20*time.Second, func() bool {
		s := late.DAVE()
		return s.Ready() && s.PrivacyCode() == conn.DAVE().PrivacyCode()
	})
	if members := conn.DAVE().Members(); len(members) != 3 {
		t.Fatalf("members after the upgrade %v, want the two bots and the user", members)
	}
	if conn.DAVE().ProtocolVersion() != dave.ProtocolVersion {
		t.Fatalf("protocol version %d after the upgrade", conn.DAVE().ProtocolVersion())
	}
	sent := len(h.vs.Received(conn.SSRC()))
	for _, p := range want {
		if err := conn.SendOpus(p); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the bot's audio after the upgrade", 20*time.Second, func() bool { return len(h.vs.Received(conn.SSRC())) >= sent+len(want) })
	for i, p := range h.vs.Received(conn.SSRC())[sent : sent+len(want)] {
		heard, err := u.Hear(testBot, p.Payload)
		if !dave.IsProtocolFrame(p.Payload) || err != nil || !bytes.Equal(heard, want[i]) {
			t.Fatalf("packet %d after the upgrade: encrypted %v, heard %v", i, dave.IsProtocolFrame(p.Payload), err)
		}
	}
	if c := h.vs.Counters(); c.DAVEErrors != 0 || c.DAVEInvalidCommits != 0 {
		t.Fatalf("server counters %+v", c)
	}
	t.Logf("epochs: %d before the downgrade, %d after the upgrade", first, second)
}
