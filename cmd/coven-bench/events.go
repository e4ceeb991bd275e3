package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/internal/edgeproc"
)

// The bench's world: one room whose members keep toggling their microphones. Every measured event is
// a voice.updated of one of these members, with a payload of a chosen size. The ids are short valid
// snowflakes so that the payload's fixed part stays under the default size of 200 bytes.
const (
	benchEpoch   = "bench-1"
	benchRoomID  = "12000001"
	benchMembers = 8
	firstUserID  = 13000001
)

// Payload sizes a bench event's data can take: the member's names are padded to reach the size.
const (
	DefaultPayloadBytes = 200
	maxPadding          = 3*event.MaxNameLength - 2 // a username holds "u<i>" besides its padding
)

// batchEncoder writes webhook bodies by hand: the measured events differ only in seq, time and which
// member toggles, so their bytes are assembled from pre-encoded payloads instead of going through
// encoding/json, which keeps the publisher's CPU off the two cores the edge is measured on. A test
// checks the result against event.DecodeBatch.
type batchEncoder struct {
	prefix   []byte   // {"epoch":"...","events":[
	envelope []byte   // {"v":1,"epoch":"...","seq":
	payloads [][]byte // the data of each variant, all of the same length
}

// newBatchEncoder prepares payloads of exactly payloadBytes bytes, or explains which sizes are possible.
func newBatchEncoder(payloadBytes int) (*batchEncoder, error) {
	smallest := len(memberPayload(0, false, 0))
	if payloadBytes < smallest || payloadBytes > smallest+maxPadding {
		return nil, fmt.Errorf("payload size %d bytes is out of range: a voice.updated payload takes %d to %d bytes",
			payloadBytes, smallest, smallest+maxPadding)
	}
	e := &batchEncoder{
		prefix:   []byte(`{"epoch":"` + benchEpoch + `","events":[`),
		envelope: []byte(`{"v":1,"epoch":"` + benchEpoch + `","seq":`),
	}
	for i := range 2 * benchMembers {
		e.payloads = append(e.payloads, memberPayload(i%benchMembers, i >= benchMembers, payloadBytes-smallest))
	}
	return e, nil
}

// member returns bench member i, its avatar, global name and username padded (in that order) with
// padding bytes in all.
func member(i int, muted bool, padding int) event.Member {
	username := "u" + strconv.Itoa(i)
	take := func(limit int) string {
		n := min(padding, limit)
		padding -= n
		return strings.Repeat("x", n)
	}
	avatar := take(event.MaxNameLength)
	globalName := take(event.MaxNameLength)
	username += take(event.MaxNameLength - len(username))
	return event.Member{
		UserID:     strconv.FormatUint(firstUserID+uint64(i), 10),
		Username:   username,
		GlobalName: globalName,
		Avatar:     avatar,
		// Muting deafens too, so that every variant's JSON has the same length.
		SelfMute: muted,
		SelfDeaf: !muted,
	}
}

func memberPayload(i int, muted bool, padding int) []byte {
	b, _ := json.Marshal(event.VoiceMemberPayload{RoomID: benchRoomID, Member: member(i, muted, padding)})
	return b
}

// snapshotBody returns the first batch: a snapshot event at seq 1 holding the room and its members,
// which every later voice.updated refers to.
func snapshotBody(payloadBytes int, now time.Time) ([]byte, error) {
	smallest := len(memberPayload(0, false, 0))
	room := event.RoomState{
		Room:    event.Room{ID: benchRoomID, Name: "Bench table", UserLimit: 0, Position: 0},
		Members: []event.Member{},
	}
	for i := range benchMembers {
		room.Members = append(room.Members, member(i, false, payloadBytes-smallest))
	}
	ev, err := event.New(event.Position{Epoch: benchEpoch, Seq: 1}, edgeproc.GuildID, now, event.Snapshot,
		event.SnapshotPayload{Rooms: []event.RoomState{room}})
	if err != nil {
		return nil, err
	}
	return json.Marshal(event.Batch{Epoch: benchEpoch, Events: []event.Event{ev}})
}

// appendBatch appends the body of n voice.updated events from seq first on, stamped now.
func (e *batchEncoder) appendBatch(b []byte, first uint64, n int, now time.Time) []byte {
	b = append(b, e.prefix...)
	for seq := first; seq < first+uint64(n); seq++ {
		if seq != first {
			b = append(b, ',')
		}
		b = append(b, e.envelope...)
		b = strconv.AppendUint(b, seq, 10)
		b = append(b, `,"type":"voice.updated","ts":"`...)
		b = now.UTC().Truncate(time.Millisecond).AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","guild_id":"`+edgeproc.GuildID+`","data":`...)
		b = append(b, e.payloads[seq%uint64(len(e.payloads))]...)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}
