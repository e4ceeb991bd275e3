package hub

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/spellcoven/gateway/event"
)

func TestRecordFrameIsCanonicalJSON(t *testing.T) {
	full := event.Member{UserID: "101", Username: "a<b>&\"c\"", GlobalName: "Ünïcode \u2028 line", Avatar: "x", SelfMute: true, SelfVideo: true}
	tests := []struct {
		name string
		typ  event.Type
		data string // as the worker might send it: any spacing and key order
	}{
		{"room.created", event.RoomCreated, `{ "room": {"name":"Table","id":"11","user_limit":4,"position":1,"owner_id":"5"} }`},
		{"room.updated", event.RoomUpdated, `{"room":{"id":"11","name":"Renamed","user_limit":0,"position":2}}`},
		{"room.deleted", event.RoomDeleted, "{\n\t\"room_id\": \"11\"\n}"},
		{"voice.joined", event.VoiceJoined, `{"room_id":"11","member":` + string(mustJSON(t, full)) + `}`},
		{"voice.updated", event.VoiceUpdated, `{"member":{"user_id":"101","username":"a","global_name":"","avatar":"","self_mute":false,"self_deaf":true,"mute":false,"deaf":false,"self_video":false,"self_stream":true},"room_id":"11"}`},
		{"voice.left", event.VoiceLeft, `{"room_id":"11","user_id":"101"}`},
		{"snapshot", event.Snapshot, `{"rooms":[{"id":"11","name":"T","user_limit":0,"position":0,"members":[` + string(mustJSON(t, full)) + `]}]}`},
		{"system.status", event.SystemStatus, `{"discord": "up"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := event.Event{V: 1, Epoch: "ep-1:x", Seq: 42, Type: tt.typ, TS: time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.FixedZone("", 3600)), GuildID: testGuild, Data: json.RawMessage(tt.data)}
			if err := e.Validate(); err != nil {
				t.Fatal(err)
			}
			r, err := NewRecord(&e)
			if err != nil {
				t.Fatal(err)
			}
			p, _ := e.Payload()
			canonical := e
			canonical.Data = mustJSON(t, p)
			want, err := json.Marshal(&canonical)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(r.Frame(), []byte(want)) {
				t.Errorf("frame\n%s\nwant\n%s", r.Frame(), want)
			}
			if bytes.ContainsRune(r.Frame(), '\n') {
				t.Error("frame contains a newline, which separates frames in a message")
			}
			back, err := event.Decode(r.Frame())
			if err != nil {
				t.Fatalf("frame does not decode as an event: %v", err)
			}
			if back.Position() != e.Position() || r.Position() != e.Position() || r.Type() != tt.typ {
				t.Errorf("positions %v, %v and type %s; want %v and %s", back.Position(), r.Position(), r.Type(), e.Position(), tt.typ)
			}
		})
	}
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	tests := []struct{ name, in string }{
		{"plain", "ep-1_a.b:c"},
		{"empty", ""},
		{"quote and backslash", `a"b\c`},
		{"html characters", "<a>&"},
		{"control character", "a\nb\x01"},
		{"non-ASCII", "é\u2028"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, _ := json.Marshal(tt.in)
			if got := appendJSONString(nil, tt.in); !bytes.Equal(got, want) {
				t.Errorf("got %s, want %s", got, want)
			}
		})
	}
}

func TestResumedHelloIsTheDocumentedJSON(t *testing.T) {
	got := resumedHello(event.Position{Epoch: "e1", Seq: 7})
	if want := `{"type":"hello","resumed":true,"epoch":"e1","seq":7}`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
	snap, err := encodeSnapshotHello(event.Position{Epoch: "e1", Seq: 9}, &event.SnapshotPayload{Rooms: []event.RoomState{}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type":"hello","resumed":false,"epoch":"e1","seq":9,"snapshot":{"rooms":[]}}`; string(snap) != want {
		t.Errorf("got %s, want %s", snap, want)
	}
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
