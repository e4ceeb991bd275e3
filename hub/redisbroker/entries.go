package redisbroker

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/hub"
)

// frameField is the stream entry field holding an event's frame.
const frameField = "f"

// streamID is a stream entry id, "<ms>-<n>", as two numbers so that ids compare in stream order.
type streamID struct{ ms, n uint64 }

// zeroID precedes every entry: reading after it reads the whole stream.
var zeroID = streamID{}

func parseStreamID(s string) (streamID, error) {
	ms, n, ok := strings.Cut(s, "-")
	a, err1 := strconv.ParseUint(ms, 10, 64)
	b, err2 := strconv.ParseUint(n, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return streamID{}, fmt.Errorf("redisbroker: %q is not a stream entry id", s)
	}
	return streamID{a, b}, nil
}

func (id streamID) String() string {
	return strconv.FormatUint(id.ms, 10) + "-" + strconv.FormatUint(id.n, 10)
}

func (id streamID) less(o streamID) bool {
	return id.ms < o.ms || (id.ms == o.ms && id.n < o.n)
}

// entry is a stream entry rebuilt into a record.
type entry struct {
	id  streamID
	rec *hub.Record
}

// decodeEntries rebuilds records from stream entries. An entry that does not hold a valid event (written
// by something else than a broker of this contract version) is reported through skip and left out.
func decodeEntries(msgs []redis.XMessage, skip func(id string, err error)) []entry {
	out := make([]entry, 0, len(msgs))
	for _, m := range msgs {
		id, err := parseStreamID(m.ID)
		if err != nil {
			skip(m.ID, err)
			continue
		}
		rec, err := decodeFrame(m.Values[frameField])
		if err != nil {
			skip(m.ID, err)
			continue
		}
		out = append(out, entry{id: id, rec: rec})
	}
	return out
}

func decodeFrame(v any) (*hub.Record, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("redisbroker: stream entry without a %q field", frameField)
	}
	e, err := event.Decode([]byte(s))
	if err != nil {
		return nil, err
	}
	return hub.NewRecord(&e)
}

// follows reports whether r may be applied after last: it is the next seq of the same epoch, or a
// snapshot, which stands on its own.
func follows(last event.Position, r *hub.Record) bool {
	if r.Type() == event.Snapshot {
		return true
	}
	pos := r.Position()
	return !last.IsZero() && pos.Epoch == last.Epoch && pos.Seq == last.Seq+1
}

// head is the position of the last event admitted, as the head key holds it.
type head struct {
	id      string // stream entry id of that event, "0-0" after seeding an empty history
	pos     event.Position
	discord string
}

// parseHead reads the head hash; ok is false when there is none.
func parseHead(m map[string]string) (h head, ok bool, err error) {
	if len(m) == 0 {
		return head{}, false, nil
	}
	seq, err := strconv.ParseUint(m["seq"], 10, 64)
	if err != nil || m["epoch"] == "" || m["id"] == "" {
		return head{}, false, fmt.Errorf("redisbroker: the head key holds %d fields but no valid position", len(m))
	}
	return head{id: m["id"], pos: event.Position{Epoch: m["epoch"], Seq: seq}, discord: m["discord"]}, true, nil
}

// checkpoint is a projection stored at a stream entry.
type checkpoint struct {
	id      streamID
	pos     event.Position
	rooms   *event.SnapshotPayload
	discord string
}

// parseCheckpoint reads the checkpoint hash; ok is false when there is none or it cannot be used.
func parseCheckpoint(m map[string]string) (c checkpoint, ok bool, err error) {
	if len(m) == 0 {
		return checkpoint{}, false, nil
	}
	id, err := parseStreamID(m["id"])
	if err != nil {
		return checkpoint{}, false, err
	}
	seq, err := strconv.ParseUint(m["seq"], 10, 64)
	if err != nil || m["epoch"] == "" {
		return checkpoint{}, false, fmt.Errorf("redisbroker: the checkpoint at %s has no valid position", id)
	}
	rooms := new(event.SnapshotPayload)
	if err := json.Unmarshal([]byte(m["rooms"]), rooms); err != nil {
		return checkpoint{}, false, fmt.Errorf("redisbroker: the checkpoint at %s: rooms: %w", id, err)
	}
	if rooms.Rooms == nil {
		rooms.Rooms = []event.RoomState{}
	}
	return checkpoint{id: id, pos: event.Position{Epoch: m["epoch"], Seq: seq}, rooms: rooms, discord: m["discord"]}, true, nil
}
