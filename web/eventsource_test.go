package web

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/spellcoven/gateway/event"
)

const guildID = "1100000000000000001"

// eventSource makes random but valid events, as a worker would produce them and worse: over a few
// rooms and users, so that members often move, join rooms that were deleted, leave rooms they are not
// in, and rooms are created twice. Whatever it makes, the hub applies, and the client must follow.
type eventSource struct {
	rng   *rand.Rand
	epoch int
	seq   uint64
	rooms []string
	users []string
}

func newEventSource(seed uint64) *eventSource {
	s := &eventSource{rng: rand.New(rand.NewPCG(seed, seed)), epoch: 1}
	for i := range 6 {
		s.rooms = append(s.rooms, fmt.Sprintf("120000000000000000%d", i+1))
	}
	for i := range 10 {
		s.users = append(s.users, fmt.Sprintf("13000000000000000%02d", i+1))
	}
	return s
}

// newEpoch starts a new outbox epoch, as after the worker lost its outbox; its first event must be a
// snapshot.
func (s *eventSource) newEpoch() {
	s.epoch++
	s.seq = 0
}

func (s *eventSource) epochName() string { return fmt.Sprintf("epoch-%d", s.epoch) }

func (s *eventSource) batch(events ...event.Event) *event.Batch {
	return &event.Batch{Epoch: s.epochName(), Events: events}
}

func (s *eventSource) next(typ event.Type, payload any) event.Event {
	s.seq++
	e, err := event.New(event.Position{Epoch: s.epochName(), Seq: s.seq}, guildID, time.Now(), typ, payload)
	if err != nil {
		panic(fmt.Sprintf("eventSource made an invalid %s: %v", typ, err))
	}
	return e
}

func (s *eventSource) pick(ids []string) string { return ids[s.rng.IntN(len(ids))] }

func (s *eventSource) room() event.Room {
	return event.Room{
		ID: s.pick(s.rooms), Name: fmt.Sprintf("Table %d", s.rng.IntN(100)),
		UserLimit: s.rng.IntN(10), Position: s.rng.IntN(4),
	}
}

func (s *eventSource) member(userID string) event.Member {
	return event.Member{
		UserID: userID, Username: "user" + userID[len(userID)-2:], GlobalName: "User " + userID[len(userID)-2:],
		SelfMute: s.rng.IntN(2) == 0, SelfDeaf: s.rng.IntN(4) == 0, Mute: s.rng.IntN(8) == 0,
		Deaf: s.rng.IntN(8) == 0, SelfVideo: s.rng.IntN(2) == 0, SelfStream: s.rng.IntN(4) == 0,
	}
}

// snapshot makes a snapshot event: some of the rooms, each user in at most one of them.
func (s *eventSource) snapshot() event.Event {
	var rooms []event.RoomState
	for i, id := range s.rooms {
		if s.rng.IntN(3) == 0 {
			continue
		}
		rooms = append(rooms, event.RoomState{
			Room:    event.Room{ID: id, Name: fmt.Sprintf("Table %d", i), Position: s.rng.IntN(4)},
			Members: []event.Member{},
		})
	}
	if len(rooms) > 0 {
		for _, u := range s.users {
			if s.rng.IntN(2) == 0 {
				r := &rooms[s.rng.IntN(len(rooms))]
				r.Members = append(r.Members, s.member(u))
			}
		}
	}
	if rooms == nil {
		rooms = []event.RoomState{}
	}
	return s.next(event.Snapshot, &event.SnapshotPayload{Rooms: rooms})
}

// random makes one event of a random type, snapshots being rare.
func (s *eventSource) random() event.Event {
	switch n := s.rng.IntN(100); {
	case n < 12:
		return s.next(event.RoomCreated, &event.RoomPayload{Room: s.room()})
	case n < 20:
		return s.next(event.RoomUpdated, &event.RoomPayload{Room: s.room()})
	case n < 28:
		return s.next(event.RoomDeleted, &event.RoomDeletedPayload{RoomID: s.pick(s.rooms)})
	case n < 55:
		return s.next(event.VoiceJoined, &event.VoiceMemberPayload{RoomID: s.pick(s.rooms), Member: s.member(s.pick(s.users))})
	case n < 75:
		return s.next(event.VoiceUpdated, &event.VoiceMemberPayload{RoomID: s.pick(s.rooms), Member: s.member(s.pick(s.users))})
	case n < 93:
		return s.next(event.VoiceLeft, &event.VoiceLeftPayload{RoomID: s.pick(s.rooms), UserID: s.pick(s.users)})
	case n < 98:
		states := []string{event.DiscordUp, event.DiscordReconnecting, event.DiscordDown}
		return s.next(event.SystemStatus, &event.SystemStatusPayload{Discord: s.pick(states)})
	default:
		return s.snapshot()
	}
}
