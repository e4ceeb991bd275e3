package stack

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/spellcoven/gateway/voice"
	"github.com/spellcoven/gateway/worker/voicectl"
)

// TestVoiceJoinPlayLeave: through the signed control endpoint, the worker joins a room (op 4,
// Discord's answers, the voice handshake), plays a file whose Opus packets reach the voice
// server intact and in order, and leaves: its voice state is gone and so is the voice session.
func TestVoiceJoinPlayLeave(t *testing.T) {
	s := newVoiceStack(t, voiceOptions{})
	room := s.voiceRoom("Table one")
	bot := s.emu.Bot().ID

	st := s.join(room.ID)
	if st.State != voicectl.StateConnected || st.RoomID != room.ID || st.RoomName != "Table one" ||
		st.Mode != string(voice.ModeAES256GCM) || st.SSRC == 0 {
		t.Fatalf("status after the join: %+v", st)
	}
	if info, ok := s.vs.Session(s.guild.ID, bot); !ok || info.ChannelID != room.ID {
		t.Fatalf("the voice server holds no session for the bot in the room: %+v", info)
	}
	gs, err := s.emu.GuildState(s.guild.ID)
	if err != nil {
		t.Fatal(err)
	}
	inRoom := false
	for _, v := range gs.VoiceStates {
		inRoom = inRoom || (v.UserID == bot && v.ChannelID == room.ID)
	}
	if !inRoom {
		t.Fatal("the emulator does not show the bot in the room")
	}
	if v := s.worker.metric("coven_worker_voice_connected"); v != 1 {
		t.Fatalf("coven_worker_voice_connected %v", v)
	}

	want := readOpusFile(t, mediaDir+"/tone-b.opus")
	if st, err = s.client.Play(context.Background(), "tone-b.opus"); err != nil || st.Playing == nil {
		t.Fatalf("play: %v %+v", err, st)
	}
	st = s.waitStatus("the end of the playback", 15*time.Second, func(st voicectl.Status) bool { return st.LastPlayback != nil })
	if p := st.LastPlayback; p.Frames != len(want) || p.Error != "" || p.Stopped {
		t.Fatalf("playback %+v, want %d frames", p, len(want))
	}
	got := s.vs.Received(st.SSRC)
	if len(got) != len(want)+5 {
		t.Fatalf("the voice server received %d packets, want the file's %d and 5 of silence", len(got), len(want))
	}
	for i, p := range want {
		if !bytes.Equal(got[i].Payload, p) {
			t.Fatalf("packet %d differs from the file's", i)
		}
	}
	if v := s.worker.metric("coven_worker_voice_packets_sent_total"); v < float64(len(want)+5) {
		t.Fatalf("coven_worker_voice_packets_sent_total %v", v)
	}

	st, err = s.client.Leave(context.Background())
	if err != nil || st.State != voicectl.StateIdle || st.LastEnd == nil || st.LastEnd.Reason != voicectl.EndLeft {
		t.Fatalf("leave: %v %+v", err, st)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, session := s.vs.Session(s.guild.ID, bot)
		gs, _ := s.emu.GuildState(s.guild.ID)
		inVoice := false
		for _, v := range gs.VoiceStates {
			inVoice = inVoice || v.UserID == bot
		}
		if !session && !inVoice {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after leaving: voice session %v, bot in voice %v", session, inVoice)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v := s.worker.metric("coven_worker_voice_connected"); v != 0 {
		t.Fatalf("coven_worker_voice_connected %v after leaving", v)
	}
}
