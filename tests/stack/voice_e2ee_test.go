package stack

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest/voiceserver"
	"github.com/spellcoven/gateway/voice/dave"
	"github.com/spellcoven/gateway/worker/voicectl"
)

// TestVoiceEndToEndEncrypted: in a voice server that requires DAVE (as Discord does outside
// stage channels), the worker joins a room where a player is, shares one DAVE group with them
// (the same privacy code on both sides), and plays a file: the voice server relays only DAVE
// frames, which the player decrypts to the file's packets. When the player leaves, the group
// moves on without them.
func TestVoiceEndToEndEncrypted(t *testing.T) {
	s := newVoiceStack(t, voiceOptions{server: func(c *voiceserver.Config) { c.RequireDAVE = true }})
	room := s.voiceRoom("Sealed table")
	player := s.users(1)[0]
	if err := s.emu.JoinVoice(s.guild.ID, room.ID, player.ID); err != nil {
		t.Fatal(err)
	}
	u, err := s.vs.JoinUser(s.guild.ID, room.ID, player.ID)
	if err != nil {
		t.Fatal(err)
	}
	s.join(room.ID)
	st := s.waitStatus("one DAVE group with the player", 10*time.Second, func(st voicectl.Status) bool {
		e := u.E2EE()
		return st.E2EE != nil && st.E2EE.Active && e != nil && e.Ready() && st.E2EE.PrivacyCode == e.PrivacyCode() && st.E2EE.Epoch == e.Epoch()
	})
	if st.E2EE.ProtocolVersion != dave.ProtocolVersion || len(st.E2EE.PrivacyCode) != 30 {
		t.Fatalf("e2ee status %+v", st.E2EE)
	}
	joinedEpoch := st.E2EE.Epoch
	if v := s.worker.metric("coven_worker_voice_e2ee_active"); v != 1 {
		t.Fatalf("coven_worker_voice_e2ee_active %v in an encrypted call", v)
	}

	want := readOpusFile(t, mediaDir+"/tone-b.opus")
	if _, err := s.client.Play(context.Background(), "tone-b.opus"); err != nil {
		t.Fatal(err)
	}
	st = s.waitStatus("the end of the playback", 15*time.Second, func(st voicectl.Status) bool { return st.LastPlayback != nil })
	got := s.vs.Received(st.SSRC)
	if len(got) < len(want) {
		t.Fatalf("the voice server received %d packets, want at least %d", len(got), len(want))
	}
	for i, p := range want {
		if !dave.IsProtocolFrame(got[i].Payload) {
			t.Fatalf("packet %d reached the voice server without end-to-end encryption", i)
		}
		heard, err := u.Hear(s.emu.Bot().ID, got[i].Payload)
		if err != nil {
			t.Fatalf("packet %d: the player cannot decrypt it: %v", i, err)
		}
		if !bytes.Equal(heard, p) {
			t.Fatalf("packet %d decrypts to other bytes than the file's", i)
		}
	}

	if err := u.Leave(); err != nil {
		t.Fatal(err)
	}
	st = s.waitStatus("a new epoch without the player", 10*time.Second, func(st voicectl.Status) bool {
		return st.E2EE != nil && st.E2EE.Epoch != joinedEpoch
	})
	if g, ok := s.vs.DAVEGroup(s.guild.ID, room.ID); !ok || len(g.Members) > 1 {
		t.Fatalf("DAVE group after the player left: %+v (ok %v)", g, ok)
	}
	if v := s.vs.Counters(); v.DAVEErrors != 0 || v.DAVEInvalidCommits != 0 {
		t.Fatalf("voice server counters %+v", v)
	}
}

// TestVoiceTransportOnly: with -voice-transport-only the worker joins a stage-like call
// without DAVE, and a voice server that requires DAVE refuses it with a clear error.
func TestVoiceTransportOnly(t *testing.T) {
	s := newVoiceStack(t, voiceOptions{
		server:     func(c *voiceserver.Config) { c.RequireDAVE = true },
		workerArgs: []string{"-voice-transport-only"},
	})
	room := s.voiceRoom("Stage")
	_, err := s.client.Join(context.Background(), room.ID)
	if v := s.worker.metric("coven_worker_voice_e2ee_active"); v != 0 {
		t.Fatalf("coven_worker_voice_e2ee_active %v without a call", v)
	}
	var e *voicectl.Error
	if !errors.As(err, &e) || e.Code != voicectl.CodeDAVERequired || e.Status != http.StatusBadGateway || !strings.Contains(e.Message, "transport-only") {
		t.Fatalf("join: %v", err)
	}
}
