package event

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

const guild = "1100000000000000001"

func mustEvent(t *testing.T, seq uint64, typ Type, p any) Event {
	t.Helper()
	e, err := New(Position{Epoch: "ep1", Seq: seq}, guild, time.Unix(1700000000, 0), typ, p)
	if err != nil {
		t.Fatalf("New(%s): %v", typ, err)
	}
	return e
}

func TestNewAndDecodeRoundTrip(t *testing.T) {
	room := Room{ID: "1200000000000000001", Name: "Table 1", UserLimit: 4, Position: 2, OwnerID: "1300000000000000001"}
	member := Member{UserID: "1300000000000000002", Username: "alice", GlobalName: "Alice", SelfVideo: true}
	cases := []struct {
		typ Type
		p   any
	}{
		{RoomCreated, RoomPayload{Room: room}},
		{RoomUpdated, RoomPayload{Room: room}},
		{RoomDeleted, RoomDeletedPayload{RoomID: room.ID}},
		{VoiceJoined, VoiceMemberPayload{RoomID: room.ID, Member: member}},
		{VoiceUpdated, VoiceMemberPayload{RoomID: room.ID, Member: member}},
		{VoiceLeft, VoiceLeftPayload{RoomID: room.ID, UserID: member.UserID}},
		{Snapshot, SnapshotPayload{Rooms: []RoomState{{Room: room, Members: []Member{member}}}}},
		{SystemStatus, SystemStatusPayload{Discord: DiscordReconnecting}},
	}
	if len(cases) != len(Types) {
		t.Fatalf("cases cover %d types, contract has %d", len(cases), len(Types))
	}
	for i, c := range cases {
		t.Run(string(c.typ), func(t *testing.T) {
			e := mustEvent(t, uint64(i+1), c.typ, c.p)
			raw, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(raw)
			if err != nil {
				t.Fatalf("Decode(%s): %v", raw, err)
			}
			if got.Position() != e.Position() || got.Type != c.typ || !got.TS.Equal(e.TS) || got.GuildID != guild {
				t.Fatalf("round trip changed the envelope: %+v vs %+v", got, e)
			}
			p, err := got.Payload()
			if err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(c.p)
			have, _ := json.Marshal(p)
			if string(want) != string(have) {
				t.Fatalf("payload %s, want %s", have, want)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	valid := `{"v":1,"epoch":"ep1","seq":1,"type":"room.deleted","ts":"2026-01-01T00:00:00Z","guild_id":"1100000000000000001","data":{"room_id":"1200000000000000001"}}`
	replace := func(old, new string) string {
		if !strings.Contains(valid, old) {
			t.Fatalf("fixture lacks %q", old)
		}
		return strings.Replace(valid, old, new, 1)
	}
	if _, err := Decode([]byte(valid)); err != nil {
		t.Fatalf("fixture invalid: %v", err)
	}
	cases := []struct {
		name, body, path, msg string
	}{
		{"empty", ``, "", "empty body"},
		{"not json", `{"v":`, "", "invalid JSON"},
		{"trailing data", valid + `{}`, "", "unexpected data"},
		{"wrong version", replace(`"v":1`, `"v":2`), "v", "unsupported contract version 2"},
		{"missing epoch", replace(`"epoch":"ep1",`, ``), "epoch", "required"},
		{"bad epoch", replace(`"ep1"`, `"ep 1"`), "epoch", "letters, digits"},
		{"seq zero", replace(`"seq":1`, `"seq":0`), "seq", "at least 1"},
		{"seq at the top of uint64", replace(`"seq":1`, `"seq":18446744073709551615`), "seq", "below 18446744073709551615"},
		{"negative seq", replace(`"seq":1`, `"seq":-1`), "", "field \"seq\" must be uint64"},
		{"unknown type", replace(`"room.deleted"`, `"room.exploded"`), "type", `unknown event type "room.exploded"`},
		{"missing ts", replace(`"ts":"2026-01-01T00:00:00Z",`, ``), "ts", "required"},
		{"bad ts", replace(`2026-01-01T00:00:00Z`, `yesterday`), "", "invalid JSON"},
		{"guild not snowflake", replace(`"guild_id":"1100000000000000001"`, `"guild_id":"abc"`), "guild_id", "snowflake"},
		{"unknown envelope field", replace(`"v":1,`, `"v":1,"extra":true,`), "", `unknown field "extra"`},
		{"missing data", replace(`,"data":{"room_id":"1200000000000000001"}`, ``), "data", "required"},
		{"null data", replace(`{"room_id":"1200000000000000001"}`, `null`), "data", "required"},
		{"unknown data field", replace(`{"room_id":"1200000000000000001"}`, `{"room_id":"1200000000000000001","x":1}`), "data", `unknown field "x"`},
		{"bad room id", replace(`"room_id":"1200000000000000001"`, `"room_id":"01"`), "data.room_id", "snowflake"},
		{"snowflake overflow", replace(`"room_id":"1200000000000000001"`, `"room_id":"99999999999999999999"`), "data.room_id", "snowflake"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode([]byte(c.body))
			var ve *Error
			if !errors.As(err, &ve) {
				t.Fatalf("Decode: got %v, want *Error", err)
			}
			if ve.Path != c.path || !strings.Contains(ve.Msg, c.msg) {
				t.Fatalf("got path %q msg %q; want path %q msg containing %q", ve.Path, ve.Msg, c.path, c.msg)
			}
		})
	}
}

func TestPayloadRules(t *testing.T) {
	room := func(mod func(*Room)) RoomPayload {
		r := Room{ID: "1200000000000000001", Name: "Table", UserLimit: 0}
		mod(&r)
		return RoomPayload{Room: r}
	}
	member := Member{UserID: "1300000000000000002", Username: "bob"}
	cases := []struct {
		name string
		typ  Type
		p    any
		path string
	}{
		{"empty name", RoomCreated, room(func(r *Room) { r.Name = "" }), "data.room.name"},
		{"name of 101 characters", RoomCreated, room(func(r *Room) { r.Name = strings.Repeat("é", 101) }), "data.room.name"},
		{"name with control character", RoomCreated, room(func(r *Room) { r.Name = "a\x07b" }), "data.room.name"},
		{"name with outer spaces", RoomCreated, room(func(r *Room) { r.Name = " a " }), "data.room.name"},
		{"user limit 100", RoomUpdated, room(func(r *Room) { r.UserLimit = 100 }), "data.room.user_limit"},
		{"negative user limit", RoomUpdated, room(func(r *Room) { r.UserLimit = -1 }), "data.room.user_limit"},
		{"negative position", RoomUpdated, room(func(r *Room) { r.Position = -1 }), "data.room.position"},
		{"bad owner", RoomCreated, room(func(r *Room) { r.OwnerID = "me" }), "data.room.owner_id"},
		{"member without id", VoiceJoined, VoiceMemberPayload{RoomID: "1200000000000000001", Member: Member{Username: "x"}}, "data.member.user_id"},
		{"member name too long", VoiceUpdated, VoiceMemberPayload{RoomID: "1200000000000000001", Member: Member{UserID: "1300000000000000002", Username: strings.Repeat("x", 101)}}, "data.member.username"},
		{"left without user", VoiceLeft, VoiceLeftPayload{RoomID: "1200000000000000001"}, "data.user_id"},
		{"snapshot without rooms", Snapshot, SnapshotPayload{}, "data.rooms"},
		{"snapshot room twice", Snapshot, SnapshotPayload{Rooms: []RoomState{{Room: room(func(*Room) {}).Room}, {Room: room(func(*Room) {}).Room}}}, "data.rooms[1].id"},
		{"snapshot user in two rooms", Snapshot, SnapshotPayload{Rooms: []RoomState{
			{Room: room(func(*Room) {}).Room, Members: []Member{member}},
			{Room: room(func(r *Room) { r.ID = "1200000000000000002" }).Room, Members: []Member{member}},
		}}, "data.rooms[1].members[0].user_id"},
		{"unknown discord state", SystemStatus, SystemStatusPayload{Discord: "sideways"}, "data.discord"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(Position{Epoch: "e", Seq: 1}, guild, time.Now(), c.typ, c.p)
			var ve *Error
			if !errors.As(err, &ve) || ve.Path != c.path {
				t.Fatalf("got %v; want an error at %s", err, c.path)
			}
		})
	}
}

func TestDecodeBatch(t *testing.T) {
	ev := func(epoch string, seq uint64) Event {
		e := mustEvent(t, seq, SystemStatus, SystemStatusPayload{Discord: DiscordUp})
		e.Epoch = epoch
		return e
	}
	encode := func(b Batch) []byte {
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	good := encode(Batch{Epoch: "ep1", Events: []Event{ev("ep1", 5), ev("ep1", 6), ev("ep1", 7)}})
	b, err := DecodeBatch(good, 3)
	if err != nil || len(b.Events) != 3 || b.Events[2].Seq != 7 {
		t.Fatalf("DecodeBatch(valid) = %+v, %v", b, err)
	}
	cases := []struct {
		name string
		body []byte
		max  int
		path string
		msg  string
	}{
		{"too many events", good, 2, "events", "more than the limit of 2"},
		{"epoch mismatch", encode(Batch{Epoch: "ep1", Events: []Event{ev("ep1", 1), ev("ep2", 2)}}), 0, "events[1].epoch", `batch is of epoch "ep1"`},
		{"gap", encode(Batch{Epoch: "ep1", Events: []Event{ev("ep1", 1), ev("ep1", 3)}}), 0, "events[1].seq", "must follow 1"},
		{"out of order", encode(Batch{Epoch: "ep1", Events: []Event{ev("ep1", 2), ev("ep1", 1)}}), 0, "events[1].seq", "must follow 2"},
		{"missing events", []byte(`{"epoch":"ep1"}`), 0, "events", "required"},
		{"missing epoch", []byte(`{"events":[]}`), 0, "epoch", "characters"},
		{"invalid event inside", []byte(`{"epoch":"ep1","events":[{"v":1}]}`), 0, "events[0].epoch", "required"},
		{"unknown field", []byte(`{"epoch":"ep1","events":[],"more":1}`), 0, "", `unknown field "more"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeBatch(c.body, c.max)
			var ve *Error
			if !errors.As(err, &ve) || ve.Path != c.path || !strings.Contains(ve.Msg, c.msg) {
				t.Fatalf("got %v; want path %q msg containing %q", err, c.path, c.msg)
			}
		})
	}
}

func TestEmptyBatchIsValid(t *testing.T) {
	// An empty batch lets the worker probe the edge (and learn the expected position) without events.
	b, err := DecodeBatch([]byte(`{"epoch":"ep1","events":[]}`), 0)
	if err != nil || len(b.Events) != 0 {
		t.Fatalf("got %+v, %v", b, err)
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add([]byte(`{"epoch":"e","events":[{"v":1,"epoch":"e","seq":1,"type":"system.status","ts":"2026-01-01T00:00:00Z","guild_id":"1","data":{"discord":"up"}}]}`))
	f.Add([]byte(`{"epoch":"e","events":[{"v":1,"epoch":"e","seq":1,"type":"snapshot","ts":"2026-01-01T00:00:00Z","guild_id":"1","data":{"rooms":[{"id":"2","name":"a","user_limit":0,"position":0,"members":[{"user_id":"3","username":"","global_name":"","avatar":"","self_mute":false,"self_deaf":false,"mute":false,"deaf":false,"self_video":false,"self_stream":false}]}]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeBatch(data, 10)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode and decode to the same batch.
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeBatch(raw, 10); err != nil {
			t.Fatalf("re-encoded batch invalid: %v\n%s", err, raw)
		}
	})
}
