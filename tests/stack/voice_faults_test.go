package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/discordtest/voiceserver"
	"github.com/spellcoven/gateway/internal/edgetest"
	"github.com/spellcoven/gateway/voice"
	"github.com/spellcoven/gateway/webhook"
	"github.com/spellcoven/gateway/worker/control"
	"github.com/spellcoven/gateway/worker/voicectl"
)

// controlRequest sends one request to the worker's control endpoint; sign, when set, signs it.
func (s *voiceStack) controlRequest(method, path string, body []byte, sign func(*http.Request)) (int, voicectl.Error) {
	s.t.Helper()
	req, err := http.NewRequest(method, "http://"+s.worker.health+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if sign != nil {
		sign(req)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var eb struct {
		Error voicectl.Error `json:"error"`
	}
	if resp.StatusCode != http.StatusOK && (json.Unmarshal(raw, &eb) != nil || eb.Error.Code == "") {
		s.t.Fatalf("%s %s: answer %d is not a JSON error: %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, eb.Error
}

// TestVoiceControlRefuses: the worker's control endpoint does only what a holder of the secret
// signed, for that request, recently, and never reaches outside its directories.
func TestVoiceControlRefuses(t *testing.T) {
	s := newVoiceStack(t, voiceOptions{})
	room := s.voiceRoom("Table four")
	signer, _ := webhook.NewSigner(webhook.SchemeCoven, edgetest.WebhookSecret)
	signAt := func(body []byte, at time.Time) func(*http.Request) {
		return func(r *http.Request) {
			if err := control.SignRequest(r, body, signer, at); err != nil {
				t.Fatal(err)
			}
		}
	}
	join := []byte(`{"room_id":"` + room.ID + `"}`)

	if code, e := s.controlRequest("POST", "/voice/join", join, nil); code != 401 || e.Code != voicectl.CodeUnauthorized {
		t.Fatalf("unsigned join: %d %+v", code, e)
	}
	if code, e := s.controlRequest("POST", "/voice/join", join, signAt(join, time.Now().Add(-3*time.Minute))); code != 401 || !strings.Contains(e.Message, "too old") {
		t.Fatalf("stale join: %d %+v", code, e)
	}
	if code, e := s.controlRequest("GET", "/voice", nil, nil); code != 401 {
		t.Fatalf("unsigned status: %d %+v", code, e)
	}
	if st, _ := s.client.Status(context.Background()); st.State != voicectl.StateIdle {
		t.Fatalf("a refused join changed the state: %+v", st)
	}

	var signed *http.Request
	code, _ := s.controlRequest("POST", "/voice/join", join, func(r *http.Request) { signAt(join, time.Now())(r); signed = r })
	if code != 200 {
		t.Fatalf("signed join: %d", code)
	}
	leave := []byte(`{}`)
	if code, e := s.controlRequest("POST", "/voice/leave", leave, func(r *http.Request) { r.Header = signed.Header.Clone() }); code != 401 {
		t.Fatalf("the join's signature on a leave: %d %+v", code, e)
	}
	if code, e := s.controlRequest("POST", "/voice/join", join, func(r *http.Request) { r.Header = signed.Header.Clone() }); code != 401 || e.Code != voicectl.CodeReplayed {
		t.Fatalf("the join replayed: %d %+v", code, e)
	}

	outside := t.TempDir()
	copyMedia(t, "tone-a.opus", filepath.Join(outside, "private.opus"))
	os.Symlink(filepath.Join(outside, "private.opus"), filepath.Join(s.media, "shortcut.opus"))
	os.Symlink(outside, filepath.Join(s.recordings, "elsewhere"))
	for _, c := range []struct{ path, body string }{
		{"/voice/play", `{"file":"../` + filepath.Base(outside) + `/private.opus"}`},
		{"/voice/play", `{"file":"` + filepath.Join(outside, "private.opus") + `"}`},
		{"/voice/play", `{"file":"shortcut.opus"}`},
		{"/voice/record", `{"action":"start","dir":"../escape"}`},
		{"/voice/record", `{"action":"start","dir":"/tmp/escape"}`},
		{"/voice/record", `{"action":"start","dir":"elsewhere/inside"}`},
	} {
		body := []byte(c.body)
		if code, e := s.controlRequest("POST", c.path, body, signAt(body, time.Now())); code != 400 || e.Code != voicectl.CodeBadPath {
			t.Fatalf("%s %s: %d %+v", c.path, c.body, code, e)
		}
	}
	st, _ := s.client.Status(context.Background())
	if st.State != voicectl.StateConnected || st.Playing != nil || st.Recording != nil || len(s.vs.Received(st.SSRC)) != 0 {
		t.Fatalf("a refused request changed the call: %+v", st)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 1 {
		t.Fatalf("something was written outside the recordings directory: %v", entries)
	}
	if v := s.worker.metric("coven_worker_voice_control_rejected_total"); v < 5 {
		t.Fatalf("coven_worker_voice_control_rejected_total %v", v)
	}
}

// TestVoiceCallEnds: however the call ends on Discord's side, the worker's voice connection
// ends with it, soon, and the status says why.
func TestVoiceCallEnds(t *testing.T) {
	s := newVoiceStack(t, voiceOptions{})
	bot := s.emu.Bot().ID
	cases := []struct {
		name      string
		end       func(room, other discordtest.Channel)
		reason    string
		closeCode int
	}{
		{"kicked", func(room, _ discordtest.Channel) {
			if err := s.emu.LeaveVoice(s.guild.ID, bot); err != nil {
				t.Fatal(err)
			}
		}, voicectl.EndDisconnected, 0},
		{"moved to another room", func(_, other discordtest.Channel) {
			if err := s.emu.JoinVoice(s.guild.ID, other.ID, bot); err != nil {
				t.Fatal(err)
			}
		}, voicectl.EndMoved, 0},
		{"room deleted", func(room, _ discordtest.Channel) {
			if _, err := s.emu.DeleteChannel(room.ID); err != nil {
				t.Fatal(err)
			}
		}, voicectl.EndRoomDeleted, 0},
		{"voice server disconnects the bot", func(room, _ discordtest.Channel) {
			if err := s.vs.CloseSession(s.guild.ID, bot, voice.CloseDisconnected, "Disconnected."); err != nil {
				t.Fatal(err)
			}
		}, voicectl.EndDisconnected, voice.CloseDisconnected},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			room, other := s.voiceRoom(c.name), s.voiceRoom(c.name+" (other)")
			s.join(room.ID)
			c.end(room, other)
			st := s.waitStatus("the end of the call", 10*time.Second, func(st voicectl.Status) bool {
				return st.State == voicectl.StateIdle && st.LastEnd != nil && st.LastEnd.RoomID == room.ID && st.LastEnd.Reason == c.reason
			})
			if st.LastEnd.CloseCode != c.closeCode || st.LastEnd.Message == "" {
				t.Fatalf("last end %+v", st.LastEnd)
			}
			deadline := time.Now().Add(10 * time.Second)
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
					t.Fatalf("after the end: voice session %v, bot in voice %v", session, inVoice)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	if v := s.worker.metric("coven_worker_voice_calls_ended_total"); v != float64(len(cases)) {
		t.Fatalf("coven_worker_voice_calls_ended_total %v", v)
	}
}

// TestVoiceJoinRefused: joins that cannot succeed fail clearly, within their bounds, and leave
// the bot out of voice.
func TestVoiceJoinRefused(t *testing.T) {
	s := newVoiceStack(t, voiceOptions{server: func(c *voiceserver.Config) {
		// A voice server from before 2024: only the discontinued mode, which the worker refuses.
		c.Modes = []string{voiceserver.ModeXSalsa20Poly1305}
	}})
	room := s.voiceRoom("Old server")
	gone := s.voiceRoom("Gone")
	s.afterEvent("room.deleted", func() {
		if _, err := s.emu.DeleteChannel(gone.ID); err != nil {
			t.Fatal(err)
		}
	})
	var text string
	gs, _ := s.emu.GuildState(s.guild.ID)
	for _, ch := range gs.Channels {
		if ch.Type == discordtest.ChannelTypeGuildText {
			text = ch.ID
		}
	}
	cases := []struct {
		name, room, code, message string
		status                    int
	}{
		{"a deleted room", gone.ID, voicectl.CodeNotARoom, "not a room", http.StatusNotFound},
		{"a text channel", text, voicectl.CodeNotARoom, "not a room", http.StatusNotFound},
		{"no common encryption mode", room.ID, voicectl.CodeEncryptionRefused, "encryption mode", http.StatusBadGateway},
	}
	for _, c := range cases {
		_, err := s.client.Join(context.Background(), c.room)
		var e *voicectl.Error
		if !errors.As(err, &e) || e.Code != c.code || e.Status != c.status || !strings.Contains(e.Message, c.message) {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	bot := s.emu.Bot().ID
	deadline := time.Now().Add(10 * time.Second)
	for {
		gs, _ := s.emu.GuildState(s.guild.ID)
		inVoice := false
		for _, v := range gs.VoiceStates {
			inVoice = inVoice || v.UserID == bot
		}
		if !inVoice {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the bot stayed in the room after a refused join")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st, _ := s.client.Status(context.Background()); st.State != voicectl.StateIdle {
		t.Fatalf("status after refused joins: %+v", st)
	}
	if v := s.worker.metric(`coven_worker_voice_joins_total{result="encryption_refused"}`); v != 1 {
		t.Fatalf(`coven_worker_voice_joins_total{result="encryption_refused"} %v`, v)
	}
}
