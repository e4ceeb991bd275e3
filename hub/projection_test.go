package hub

import (
	"reflect"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/spellcoven/gateway/event"
)

func TestProjection(t *testing.T) {
	a, b := room("11", "Table A", 1), room("22", "Table B", 2)
	alice, bob := member("101"), member("202")
	aliceMuted := alice
	aliceMuted.SelfMute, aliceMuted.SelfVideo = true, true
	withMembers := func(r event.Room, ms ...event.Member) event.RoomState {
		if ms == nil {
			ms = []event.Member{}
		}
		return event.RoomState{Room: r, Members: ms}
	}
	renamed := a
	renamed.Name = "Renamed"
	type step struct {
		typ event.Type
		p   any
	}
	tests := []struct {
		name         string
		start        []event.RoomState // the snapshot the hub starts from
		steps        []step
		want         []event.RoomState
		wantDiscord  string
		wantMismatch bool // the steps do not fit the projection: applied sensibly and logged at debug
	}{
		{
			name:  "room.created adds a room without members",
			steps: []step{{event.RoomCreated, &event.RoomPayload{Room: a}}},
			want:  []event.RoomState{withMembers(a)},
		},
		{
			name:         "room.created for a held room updates it and keeps its members",
			start:        []event.RoomState{withMembers(a, alice)},
			steps:        []step{{event.RoomCreated, &event.RoomPayload{Room: renamed}}},
			want:         []event.RoomState{withMembers(renamed, alice)},
			wantMismatch: true,
		},
		{
			name:  "room.updated replaces the room's fields and keeps its members",
			start: []event.RoomState{withMembers(a, alice)},
			steps: []step{{event.RoomUpdated, &event.RoomPayload{Room: renamed}}},
			want:  []event.RoomState{withMembers(renamed, alice)},
		},
		{
			name:         "room.updated for an unknown room creates it",
			steps:        []step{{event.RoomUpdated, &event.RoomPayload{Room: b}}},
			want:         []event.RoomState{withMembers(b)},
			wantMismatch: true,
		},
		{
			name:  "room.deleted removes the room and its members",
			start: []event.RoomState{withMembers(a, alice), withMembers(b)},
			steps: []step{
				{event.RoomDeleted, &event.RoomDeletedPayload{RoomID: a.ID}},
				// alice is no longer listed anywhere, so joining b is not a move
				{event.VoiceJoined, &event.VoiceMemberPayload{RoomID: b.ID, Member: alice}},
			},
			want: []event.RoomState{withMembers(b, alice)},
		},
		{
			name:         "room.deleted for an unknown room changes nothing",
			start:        []event.RoomState{withMembers(a)},
			steps:        []step{{event.RoomDeleted, &event.RoomDeletedPayload{RoomID: b.ID}}},
			want:         []event.RoomState{withMembers(a)},
			wantMismatch: true,
		},
		{
			name:  "voice.joined lists members in join order",
			start: []event.RoomState{withMembers(a)},
			steps: []step{
				{event.VoiceJoined, &event.VoiceMemberPayload{RoomID: a.ID, Member: bob}},
				{event.VoiceJoined, &event.VoiceMemberPayload{RoomID: a.ID, Member: alice}},
			},
			want: []event.RoomState{withMembers(a, bob, alice)},
		},
		{
			name:         "voice.joined to an unknown room lists no one and takes the member out of the old room",
			start:        []event.RoomState{withMembers(a, alice)},
			steps:        []step{{event.VoiceJoined, &event.VoiceMemberPayload{RoomID: b.ID, Member: alice}}},
			want:         []event.RoomState{withMembers(a)},
			wantMismatch: true,
		},
		{
			name:         "voice.joined while listed in another room moves the member",
			start:        []event.RoomState{withMembers(a, alice, bob), withMembers(b)},
			steps:        []step{{event.VoiceJoined, &event.VoiceMemberPayload{RoomID: b.ID, Member: alice}}},
			want:         []event.RoomState{withMembers(a, bob), withMembers(b, alice)},
			wantMismatch: true,
		},
		{
			name:         "voice.joined for a member already in the room updates it in place",
			start:        []event.RoomState{withMembers(a, alice, bob)},
			steps:        []step{{event.VoiceJoined, &event.VoiceMemberPayload{RoomID: a.ID, Member: aliceMuted}}},
			want:         []event.RoomState{withMembers(a, aliceMuted, bob)},
			wantMismatch: true,
		},
		{
			name:  "voice.updated changes mute, deaf, video and stream flags in place",
			start: []event.RoomState{withMembers(a, alice, bob)},
			steps: []step{{event.VoiceUpdated, &event.VoiceMemberPayload{RoomID: a.ID, Member: aliceMuted}}},
			want:  []event.RoomState{withMembers(a, aliceMuted, bob)},
		},
		{
			name:         "voice.updated for a member not in the room adds it",
			start:        []event.RoomState{withMembers(a)},
			steps:        []step{{event.VoiceUpdated, &event.VoiceMemberPayload{RoomID: a.ID, Member: bob}}},
			want:         []event.RoomState{withMembers(a, bob)},
			wantMismatch: true,
		},
		{
			name:  "voice.left removes the member",
			start: []event.RoomState{withMembers(a, alice, bob)},
			steps: []step{{event.VoiceLeft, &event.VoiceLeftPayload{RoomID: a.ID, UserID: alice.UserID}}},
			want:  []event.RoomState{withMembers(a, bob)},
		},
		{
			name:         "voice.left naming another room than the member's changes nothing",
			start:        []event.RoomState{withMembers(a, alice), withMembers(b)},
			steps:        []step{{event.VoiceLeft, &event.VoiceLeftPayload{RoomID: b.ID, UserID: alice.UserID}}},
			want:         []event.RoomState{withMembers(a, alice), withMembers(b)},
			wantMismatch: true,
		},
		{
			name:         "voice.left for an unknown room changes nothing",
			start:        []event.RoomState{withMembers(a, alice)},
			steps:        []step{{event.VoiceLeft, &event.VoiceLeftPayload{RoomID: "33", UserID: bob.UserID}}},
			want:         []event.RoomState{withMembers(a, alice)},
			wantMismatch: true,
		},
		{
			name:  "snapshot replaces every room and member",
			start: []event.RoomState{withMembers(a, alice)},
			steps: []step{{event.Snapshot, &event.SnapshotPayload{Rooms: []event.RoomState{withMembers(b, bob, alice)}}}},
			want:  []event.RoomState{withMembers(b, bob, alice)},
		},
		{
			name:  "snapshot with no rooms empties the projection",
			start: []event.RoomState{withMembers(a, alice)},
			steps: []step{
				{event.Snapshot, &event.SnapshotPayload{Rooms: []event.RoomState{}}},
				{event.VoiceJoined, &event.VoiceMemberPayload{RoomID: a.ID, Member: alice}},
			},
			want:         []event.RoomState{},
			wantMismatch: true,
		},
		{
			name:        "system.status keeps the Discord link state",
			start:       []event.RoomState{withMembers(a)},
			steps:       []step{{event.SystemStatus, &event.SystemStatusPayload{Discord: event.DiscordUp}}, {event.SystemStatus, &event.SystemStatusPayload{Discord: event.DiscordReconnecting}}},
			want:        []event.RoomState{withMembers(a)},
			wantDiscord: event.DiscordReconnecting,
		},
		{
			name:  "rooms are listed by position, then by id as a number",
			steps: []step{{event.RoomCreated, &event.RoomPayload{Room: room("900", "Late", 2)}}, {event.RoomCreated, &event.RoomPayload{Room: room("1000", "Later", 2)}}, {event.RoomCreated, &event.RoomPayload{Room: room("5000", "First", 0)}}},
			want:  []event.RoomState{withMembers(room("5000", "First", 0)), withMembers(room("900", "Late", 2)), withMembers(room("1000", "Later", 2))},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.DebugLevel)
			h, err := New(Config{}, nil, zap.New(core))
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			events := []event.Event{snapshotEvent(t, "e1", 1, tt.start...)}
			for i, s := range tt.steps {
				events = append(events, mustEvent(t, "e1", uint64(i+2), s.typ, s.p))
			}
			mustIngest(t, h, events...)

			_, got := h.Snapshot()
			if !reflect.DeepEqual(got.Rooms, tt.want) {
				t.Errorf("rooms = %+v\nwant    %+v", got.Rooms, tt.want)
			}
			for _, want := range tt.want {
				if rs, ok := h.Room(want.ID); !ok || !reflect.DeepEqual(rs, want) {
					t.Errorf("Room(%s) = %+v, %v; want %+v", want.ID, rs, ok, want)
				}
			}
			if got := h.Health().Discord; got != tt.wantDiscord {
				t.Errorf("Discord = %q, want %q", got, tt.wantDiscord)
			}
			mismatches := logs.FilterMessage("event does not fit the projection").Len()
			if (mismatches > 0) != tt.wantMismatch {
				t.Errorf("%d mismatches logged, want some: %v", mismatches, tt.wantMismatch)
			}
		})
	}
}

func TestSnapshotAndRoomReturnCopies(t *testing.T) {
	h := startHub(t, Config{}, nil)
	mustIngest(t, h, snapshotEvent(t, "e1", 1, event.RoomState{Room: room("11", "A", 0), Members: []event.Member{member("101")}}))
	_, snap := h.Snapshot()
	snap.Rooms[0].Name = "changed"
	snap.Rooms[0].Members[0].Username = "changed"
	rs, _ := h.Room("11")
	rs.Members[0].Username = "changed too"
	if rs, _ := h.Room("11"); rs.Name != "A" || rs.Members[0].Username != "user101" {
		t.Errorf("changing returned copies changed the hub: %+v", rs)
	}
	if _, ok := h.Room("99"); ok {
		t.Error("Room(99) found a room that does not exist")
	}
}
