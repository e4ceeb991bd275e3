package hub

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/internal/wsframe"
)

// Record is an event ready to apply and deliver: its position, its decoded payload and its frame, the
// canonical JSON of its envelope. A record is immutable once built, so the history, every subscriber
// queue and a broker may share it.
type Record struct {
	pos     event.Position
	typ     event.Type
	payload any
	frame   []byte
	// wire is frame as one WebSocket text frame (the header, then frame in the same array), built once
	// and written as is to every subscriber that takes frames (FrameConn); nil for frames built
	// elsewhere (hellos, control frames), which are framed when written.
	wire []byte
}

// NewRecord decodes e's payload and encodes e once into its frame: the envelope with the payload
// re-marshaled from its decoded form, so that every client receives the same canonical JSON whatever
// spacing or key order the worker sent. e must be a valid event (as event.Decode and event.DecodeBatch
// return them); an invalid payload is reported as event.Decode reports it.
func NewRecord(e *event.Event) (*Record, error) {
	p, err := e.Payload()
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("hub: encoding %s payload: %w", e.Type, err)
	}
	buf := make([]byte, wsframe.MaxHeaderLen, wsframe.MaxHeaderLen+len(data)+len(e.Epoch)+len(e.GuildID)+96)
	buf = appendEnvelope(buf, e, data)
	return &Record{pos: e.Position(), typ: e.Type, payload: p, frame: buf[wsframe.MaxHeaderLen:], wire: wsframe.Text(buf)}, nil
}

// Position returns the event's position.
func (r *Record) Position() event.Position { return r.pos }

// Type returns the event's type.
func (r *Record) Type() event.Type { return r.typ }

// Frame returns the event's canonical JSON, as sent to browsers. It is shared: never modify it.
func (r *Record) Frame() []byte { return r.frame }

// appendEnvelope appends the JSON of e with data in place of e.Data, byte for byte what json.Marshal
// produces for event.Event, without reflection: this runs once per event on the ingest path.
func appendEnvelope(b []byte, e *event.Event, data []byte) []byte {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(e.V), 10)
	b = append(b, `,"epoch":`...)
	b = appendJSONString(b, e.Epoch)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, string(e.Type))
	b = append(b, `,"ts":"`...)
	b = e.TS.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","guild_id":`...)
	b = appendJSONString(b, e.GuildID)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	return append(b, '}')
}

// appendJSONString appends s as a JSON string. Epochs, types and snowflakes are plain ASCII, which is
// copied as is; anything else goes through encoding/json so that escaping stays its business.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// helloSnapshot is the first frame of a client that cannot resume.
type helloSnapshot struct {
	Type     string                 `json:"type"`
	Resumed  bool                   `json:"resumed"`
	Epoch    string                 `json:"epoch"`
	Seq      uint64                 `json:"seq"`
	State    string                 `json:"state,omitempty"`
	Snapshot *event.SnapshotPayload `json:"snapshot"`
}

// StateUnknown is the hello's "state" while the hub holds nothing from the worker yet (a fresh or
// restarted edge): the snapshot is null, not an empty world, and the rooms arrive with the worker's
// snapshot event.
const StateUnknown = "unknown"

// encodeSnapshotHello encodes {"type":"hello","resumed":false,"epoch","seq","snapshot":{"rooms":[...]}},
// or, when the hub holds nothing (pos is zero), {"type":"hello","resumed":false,"epoch":"","seq":0,
// "state":"unknown","snapshot":null}.
func encodeSnapshotHello(pos event.Position, snap *event.SnapshotPayload) ([]byte, error) {
	h := helloSnapshot{Type: "hello", Epoch: pos.Epoch, Seq: pos.Seq, Snapshot: snap}
	if pos.IsZero() {
		h.State, h.Snapshot = StateUnknown, nil
	}
	return json.Marshal(h)
}

// resumedHello encodes {"type":"hello","resumed":true,"epoch","seq"}: the client continues after pos.
func resumedHello(pos event.Position) []byte {
	b := make([]byte, 0, 64+len(pos.Epoch))
	b = append(b, `{"type":"hello","resumed":true,"epoch":`...)
	b = appendJSONString(b, pos.Epoch)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, pos.Seq, 10)
	return append(b, '}')
}
