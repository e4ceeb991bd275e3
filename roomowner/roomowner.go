// Package roomowner is the rule that records what a room's owner decides in Discord itself (who
// owns the room, and whether its table view is on): the rooms API writes
// it on the channel it creates, and the worker reads it from every channel it sees, so owners survive
// restarts of both processes without a store of their own (docs/protocol.md, "Room owners"). It is
// the contract between the two, so both import it and neither imports the other.
package roomowner

import "github.com/spellcoven/gateway/event"

// Discord permission bits of Permissions.
const (
	PrioritySpeaker uint64 = 1 << 8
	Stream          uint64 = 1 << 9 // "Video": camera and screen share
	ViewChannel     uint64 = 1 << 10
	Connect         uint64 = 1 << 20
	Speak           uint64 = 1 << 21
	MuteMembers     uint64 = 1 << 22
	DeafenMembers   uint64 = 1 << 23
	MoveMembers     uint64 = 1 << 24
)

// Permissions is the allow set of the member permission overwrite that marks a room's owner: View
// Channel, Connect, Speak, Video, Priority Speaker, Mute Members, Deafen Members and Move Members
// (decimal 32507648). It makes the owner the host of their table, and it is distinctive: a member
// overwrite allowing all eight is what the rooms API writes, not what people set by hand.
const Permissions = ViewChannel | Connect | Speak | Stream | PrioritySpeaker | MuteMembers | DeafenMembers | MoveMembers

// TypeMember is the overwrite type of a member (0 is a role).
const TypeMember = 1

// Overwrite is a channel permission overwrite as Discord sends it.
type Overwrite struct {
	ID          string
	Type        int
	Allow, Deny uint64
}

// Marks reports whether o carries the whole owner mark: a member overwrite allowing every bit of
// Permissions and denying none.
func Marks(o Overwrite) bool {
	return o.Type == TypeMember && o.Allow&Permissions == Permissions && o.Deny&Permissions == 0
}

// ID returns the Discord user id of a room's owner as recorded in its permission overwrites, or ""
// when it has none:
//
//   - a candidate is a member overwrite whose id is a snowflake and that carries the whole mark;
//   - the owner is the candidate if there is exactly one; with none, or several, the room has no
//     owner (only administrators may delete it).
func ID(overwrites []Overwrite) string {
	owner := ""
	for _, o := range overwrites {
		if !Marks(o) || !event.ValidSnowflake(o.ID) {
			continue
		}
		if owner != "" && owner != o.ID {
			return ""
		}
		owner = o.ID
	}
	return owner
}

// TablePermissions is the allow set of the member permission overwrite that turns a room's table
// view on: an overwrite for the bot itself allowing View Channel, Connect and Video. The room's
// owner lets the bot in to relay the table; deleting the overwrite turns table view off.
const TablePermissions = ViewChannel | Connect | Stream

// TableOn reports whether overwrites turn table view on for the bot botID: a member overwrite
// for it that allows every bit of TablePermissions and denies none.
func TableOn(overwrites []Overwrite, botID string) bool {
	if !event.ValidSnowflake(botID) {
		return false
	}
	for _, o := range overwrites {
		if o.ID == botID && o.Type == TypeMember && o.Allow&TablePermissions == TablePermissions && o.Deny&TablePermissions == 0 {
			return true
		}
	}
	return false
}
