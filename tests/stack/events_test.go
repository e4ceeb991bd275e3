package stack

import (
	"encoding/json"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/worker/workertest"
)

// want is one expected event: its type and exact payload.
type want struct {
	typ     event.Type
	payload any
}

func (s *stack) channel(id string) discordtest.Channel {
	s.t.Helper()
	gs, err := s.emu.GuildState(s.guild.ID)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, c := range gs.Channels {
		if c.ID == id {
			return c
		}
	}
	s.t.Fatalf("no channel %s", id)
	return discordtest.Channel{}
}

func roomOf(c discordtest.Channel) event.Room {
	return event.Room{ID: c.ID, Name: c.Name, UserLimit: c.UserLimit, Position: c.Position}
}

func memberOf(u discordtest.User, set func(*event.Member)) event.Member {
	m := event.Member{UserID: u.ID, Username: u.Username, GlobalName: u.GlobalName, Avatar: u.Avatar}
	if set != nil {
		set(&m)
	}
	return m
}

// TestEachEventTypeEndToEnd drives the emulator through every kind of change and checks each event
// a browser receives, payload included, then the snapshot and link statuses of a reconnection and
// of a graceful stop.
func TestEachEventTypeEndToEnd(t *testing.T) {
	s := newStack(t, stackOptions{})
	alice, err := s.emu.AddUser(discordtest.User{Username: "alice", GlobalName: "Alice", Avatar: "a1b2c3"})
	if err != nil {
		t.Fatal(err)
	}
	bob, _ := s.emu.AddUser(discordtest.User{Username: "bob"})
	s.worker.waitReady(20 * time.Second)
	v := s.connect(nil)
	if v.hello.Resumed || v.hello.Snapshot == nil {
		t.Fatalf("hello %s", v.hello.Raw)
	}
	expected, _ := workertest.Expected(s.emu, s.guild.ID, s.guild.RoomsCategoryID)
	if ok, diff := workertest.Equal(v.state(), expected); !ok || len(expected.Rooms) != 1 {
		t.Fatalf("hello snapshot is not the seeded guild:\n%s", diff)
	}
	lobby := expected.Rooms[0].ID

	var table1, table2 discordtest.Channel
	on := true
	steps := []struct {
		name string
		act  func() []want
	}{
		{"room created", func() []want {
			var err error
			table1, err = s.emu.CreateChannel(s.guild.ID, discordtest.Channel{Type: discordtest.ChannelTypeGuildVoice, Name: "Table 1", UserLimit: 4, ParentID: s.guild.RoomsCategoryID})
			if err != nil {
				t.Fatal(err)
			}
			return []want{{event.RoomCreated, event.RoomPayload{Room: roomOf(table1)}}}
		}},
		{"room renamed", func() []want {
			if code, body := s.rest(http.MethodPatch, "/channels/"+table1.ID, map[string]any{"name": "Table One", "user_limit": 5}); code != 200 {
				t.Fatalf("PATCH: %d %s", code, body)
			}
			return []want{{event.RoomUpdated, event.RoomPayload{Room: roomOf(s.channel(table1.ID))}}}
		}},
		{"member joins", func() []want {
			if err := s.emu.JoinVoice(s.guild.ID, table1.ID, alice.ID); err != nil {
				t.Fatal(err)
			}
			return []want{{event.VoiceJoined, event.VoiceMemberPayload{RoomID: table1.ID, Member: memberOf(alice, nil)}}}
		}},
		{"member starts video and mutes", func() []want {
			if err := s.emu.SetVoiceFlags(s.guild.ID, alice.ID, discordtest.VoiceFlags{SelfVideo: &on, SelfMute: &on}); err != nil {
				t.Fatal(err)
			}
			return []want{{event.VoiceUpdated, event.VoiceMemberPayload{RoomID: table1.ID, Member: memberOf(alice, func(m *event.Member) { m.SelfVideo, m.SelfMute = true, true })}}}
		}},
		{"member streams and deafens", func() []want {
			if err := s.emu.SetVoiceFlags(s.guild.ID, alice.ID, discordtest.VoiceFlags{SelfStream: &on, SelfDeaf: &on}); err != nil {
				t.Fatal(err)
			}
			return []want{{event.VoiceUpdated, event.VoiceMemberPayload{RoomID: table1.ID, Member: memberOf(alice, func(m *event.Member) {
				m.SelfVideo, m.SelfMute, m.SelfStream, m.SelfDeaf = true, true, true, true
			})}}}
		}},
		{"second room", func() []want {
			table2 = s.room("Table 2")
			return []want{{event.RoomCreated, event.RoomPayload{Room: roomOf(table2)}}}
		}},
		{"member moves between rooms", func() []want {
			if err := s.emu.JoinVoice(s.guild.ID, table2.ID, alice.ID); err != nil {
				t.Fatal(err)
			}
			return []want{
				{event.VoiceLeft, event.VoiceLeftPayload{RoomID: table1.ID, UserID: alice.ID}},
				{event.VoiceJoined, event.VoiceMemberPayload{RoomID: table2.ID, Member: memberOf(alice, func(m *event.Member) {
					m.SelfVideo, m.SelfMute, m.SelfStream, m.SelfDeaf = true, true, true, true
				})}},
			}
		}},
		{"member server-muted and deafened", func() []want {
			if err := s.emu.JoinVoice(s.guild.ID, lobby, bob.ID); err != nil {
				t.Fatal(err)
			}
			if err := s.emu.SetVoiceFlags(s.guild.ID, bob.ID, discordtest.VoiceFlags{Mute: &on, Deaf: &on}); err != nil {
				t.Fatal(err)
			}
			return []want{
				{event.VoiceJoined, event.VoiceMemberPayload{RoomID: lobby, Member: memberOf(bob, nil)}},
				{event.VoiceUpdated, event.VoiceMemberPayload{RoomID: lobby, Member: memberOf(bob, func(m *event.Member) { m.Mute, m.Deaf = true, true })}},
			}
		}},
		{"member leaves voice", func() []want {
			if err := s.emu.LeaveVoice(s.guild.ID, alice.ID); err != nil {
				t.Fatal(err)
			}
			return []want{{event.VoiceLeft, event.VoiceLeftPayload{RoomID: table2.ID, UserID: alice.ID}}}
		}},
		{"room moved out of the category", func() []want {
			if code, body := s.rest(http.MethodPatch, "/channels/"+table2.ID, map[string]any{"parent_id": nil}); code != 200 {
				t.Fatalf("PATCH: %d %s", code, body)
			}
			return []want{{event.RoomDeleted, event.RoomDeletedPayload{RoomID: table2.ID}}}
		}},
		{"channel moved into the category, with its member", func() []want {
			if err := s.emu.JoinVoice(s.guild.ID, table2.ID, alice.ID); err != nil {
				t.Fatal(err)
			}
			if code, body := s.rest(http.MethodPatch, "/channels/"+table2.ID, map[string]any{"parent_id": s.guild.RoomsCategoryID}); code != 200 {
				t.Fatalf("PATCH: %d %s", code, body)
			}
			return []want{
				{event.RoomCreated, event.RoomPayload{Room: roomOf(s.channel(table2.ID))}},
				// She left voice before: she joins with fresh flags.
				{event.VoiceJoined, event.VoiceMemberPayload{RoomID: table2.ID, Member: memberOf(alice, nil)}},
			}
		}},
		{"room deleted", func() []want {
			if _, err := s.emu.DeleteChannel(table1.ID); err != nil {
				t.Fatal(err)
			}
			return []want{{event.RoomDeleted, event.RoomDeletedPayload{RoomID: table1.ID}}}
		}},
	}
	for _, step := range steps {
		wants := step.act()
		for i, w := range wants {
			f := v.next(10 * time.Second)
			raw, _ := json.Marshal(w.payload)
			if f.Type != string(w.typ) || string(f.Data) != string(raw) {
				t.Fatalf("%s: event %d is %s %s\nwant %s %s", step.name, i, f.Type, f.Data, w.typ, raw)
			}
		}
	}
	v.waitFor(s, 5*time.Second)

	// A dropped gateway connection: the link goes down and up, with a snapshot in between.
	if err := s.emu.DropConnection(s.session()); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 3 {
		f := v.next(15 * time.Second)
		label := f.Type
		if f.Type == string(event.SystemStatus) {
			label += ":" + statusOf(t, f.Data)
		}
		got = append(got, label)
	}
	if strings.Join(got, " ") != "system.status:reconnecting snapshot system.status:up" {
		t.Fatalf("events of a reconnection: %v", got)
	}
	v.waitFor(s, time.Second)

	// A graceful stop says the link is down and exits 0.
	s.worker.Signal(syscall.SIGTERM)
	f := v.expect(event.SystemStatus, 10*time.Second)
	if st := statusOf(t, f.Data); st != event.DiscordDown {
		t.Fatalf("status after SIGTERM: %s", st)
	}
	if code := s.worker.exitCode(10 * time.Second); code != 0 {
		t.Fatalf("exit status after SIGTERM: %d", code)
	}
}

func statusOf(t testing.TB, data json.RawMessage) string {
	t.Helper()
	var p event.SystemStatusPayload
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatalf("system.status data %s: %v", data, err)
	}
	return p.Discord
}

// TestHealthEndpoints checks the worker's own endpoints on a running stack.
func TestHealthEndpoints(t *testing.T) {
	s := newStack(t, stackOptions{workerArgs: []string{"-edge-stale-after", "2s"}})
	s.worker.waitReady(20 * time.Second)
	cases := []struct {
		path, contains string
	}{
		{"/healthz", `"status":"ok"`},
		{"/readyz", `"ready":true`},
		{"/metrics", "coven_worker_gateway_connected 1"},
		{"/metrics", `coven_worker_events_produced_total{type="snapshot"} 1`},
		{"/metrics", "coven_worker_outbox_pending_events 0"},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			code, body, err := s.worker.get(c.path)
			if err != nil || code != 200 || !strings.Contains(body, c.contains) {
				t.Fatalf("%s: %d %v\n%s\nwant it to contain %s", c.path, code, err, tail(body, 2000), c.contains)
			}
		})
	}
	// The edge down: /readyz says so once the last delivery is older than -edge-stale-after.
	s.edge.Stop(syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body, _ := s.worker.get("/readyz")
		if code == http.StatusServiceUnavailable && strings.Contains(body, "no delivery accepted for") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz with the edge down: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
