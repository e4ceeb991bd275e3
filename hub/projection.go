package hub

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/spellcoven/gateway/event"
)

// projection is the state the events describe: rooms with their members in join order, and the
// worker's Discord link state. Events that do not fit it (a member joining a room it does not know, a
// room created twice) are applied as sensibly as possible and reported, never refused: the worker's
// next snapshot corrects whatever drifted from Discord.
type projection struct {
	rooms   map[string]*roomState
	userIn  map[string]string // user id -> id of the room the user is in; a user is in one room at most
	discord string
}

type roomState struct {
	room    event.Room
	members []event.Member
}

func newProjection() projection {
	return projection{rooms: make(map[string]*roomState), userIn: make(map[string]string)}
}

// apply applies r and returns a description of what did not fit, or "" when everything did.
func (p *projection) apply(r *Record) (mismatch string) {
	switch d := r.payload.(type) {
	case *event.RoomPayload:
		rs, known := p.rooms[d.Room.ID]
		if !known {
			rs = &roomState{members: []event.Member{}}
			p.rooms[d.Room.ID] = rs
		}
		rs.room = d.Room
		switch {
		case r.typ == event.RoomCreated && known:
			return "room.created for a room already held; updated it"
		case r.typ == event.RoomUpdated && !known:
			return "room.updated for an unknown room; created it"
		}
	case *event.RoomDeletedPayload:
		rs, known := p.rooms[d.RoomID]
		if !known {
			return "room.deleted for an unknown room; nothing to delete"
		}
		for _, m := range rs.members {
			delete(p.userIn, m.UserID)
		}
		delete(p.rooms, d.RoomID)
	case *event.VoiceMemberPayload:
		return p.putMember(r.typ, d.RoomID, d.Member)
	case *event.VoiceLeftPayload:
		if p.userIn[d.UserID] != d.RoomID {
			return "voice.left for a member not in that room; nothing to remove"
		}
		p.removeMember(d.RoomID, d.UserID)
	case *event.SnapshotPayload:
		p.replace(d)
	case *event.SystemStatusPayload:
		p.discord = d.Discord
	default:
		return fmt.Sprintf("no payload for %s; ignored", r.typ)
	}
	return ""
}

// putMember handles voice.joined and voice.updated the same way, as "member m is now in room": a
// member already in another room moves, since Discord keeps a user in one voice channel at a time.
func (p *projection) putMember(typ event.Type, roomID string, m event.Member) (mismatch string) {
	if prev, in := p.userIn[m.UserID]; in && prev != roomID {
		p.removeMember(prev, m.UserID)
		mismatch = fmt.Sprintf("%s moved a member still listed in room %s", typ, prev)
	}
	rs, known := p.rooms[roomID]
	if !known {
		return fmt.Sprintf("%s for an unknown room; member not listed", typ)
	}
	p.userIn[m.UserID] = roomID
	if i := memberIndex(rs.members, m.UserID); i >= 0 {
		rs.members[i] = m
		if typ == event.VoiceJoined && mismatch == "" {
			mismatch = "voice.joined for a member already in the room; updated it"
		}
		return mismatch
	}
	rs.members = append(rs.members, m)
	if typ == event.VoiceUpdated && mismatch == "" {
		mismatch = "voice.updated for a member not in the room; added it"
	}
	return mismatch
}

func (p *projection) removeMember(roomID, userID string) {
	delete(p.userIn, userID)
	if rs, ok := p.rooms[roomID]; ok {
		if i := memberIndex(rs.members, userID); i >= 0 {
			rs.members = slices.Delete(rs.members, i, i+1)
		}
	}
}

func memberIndex(ms []event.Member, userID string) int {
	for i := range ms {
		if ms[i].UserID == userID {
			return i
		}
	}
	return -1
}

// replace makes the projection hold exactly the rooms of snap, copied so that the projection never
// shares memory with a payload that the history keeps.
func (p *projection) replace(snap *event.SnapshotPayload) {
	clear(p.rooms)
	clear(p.userIn)
	if snap == nil {
		return
	}
	for i := range snap.Rooms {
		rs := &snap.Rooms[i]
		p.rooms[rs.ID] = &roomState{room: rs.Room, members: append([]event.Member{}, rs.Members...)}
		for _, m := range rs.Members {
			p.userIn[m.UserID] = rs.ID
		}
	}
}

// snapshot returns a copy of the rooms in Discord's display order (position, then id).
func (p *projection) snapshot() *event.SnapshotPayload {
	out := &event.SnapshotPayload{Rooms: make([]event.RoomState, 0, len(p.rooms))}
	for _, rs := range p.rooms {
		out.Rooms = append(out.Rooms, rs.state())
	}
	slices.SortFunc(out.Rooms, func(a, b event.RoomState) int {
		if c := cmp.Compare(a.Position, b.Position); c != 0 {
			return c
		}
		return compareSnowflakes(a.ID, b.ID)
	})
	return out
}

func (rs *roomState) state() event.RoomState {
	return event.RoomState{Room: rs.room, Members: append([]event.Member{}, rs.members...)}
}

// compareSnowflakes orders decimal ids numerically: a shorter id is a smaller number.
func compareSnowflakes(a, b string) int {
	if c := cmp.Compare(len(a), len(b)); c != 0 {
		return c
	}
	return cmp.Compare(a, b)
}
