package rooms

import (
	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/rooms/discordrest"
)

// Discord permission bits of OwnerPermissions.
const (
	permPrioritySpeaker = 1 << 8
	permStream          = 1 << 9 // "Video": camera and screen share
	permViewChannel     = 1 << 10
	permConnect         = 1 << 20
	permSpeak           = 1 << 21
	permMuteMembers     = 1 << 22
	permDeafenMembers   = 1 << 23
	permMoveMembers     = 1 << 24
)

// OwnerPermissions is the allow set of the member permission overwrite that marks a room's owner:
// View Channel, Connect, Speak, Video, Priority Speaker, Mute Members, Deafen Members and Move
// Members (decimal 32507648). It makes the owner the host of their table, and it is distinctive: a
// member overwrite allowing all eight is what the rooms API writes, not what people set by hand.
const OwnerPermissions discordrest.Permissions = permViewChannel | permConnect | permSpeak | permStream |
	permPrioritySpeaker | permMuteMembers | permDeafenMembers | permMoveMembers

// OwnerID returns the Discord user id of a room's owner as recorded in its permission overwrites, or ""
// when it has none. The rule, which the worker applies too (docs/protocol.md):
//
//   - a candidate is an overwrite of type 1 (member) whose id is a snowflake, whose allow contains
//     every bit of OwnerPermissions and whose deny contains none of them;
//   - the owner is the candidate if there is exactly one; with none, or several, the room has no
//     owner (only administrators may delete it).
func OwnerID(overwrites []discordrest.Overwrite) string {
	owner := ""
	for _, o := range overwrites {
		if o.Type != discordrest.OverwriteMember || !event.ValidSnowflake(o.ID) ||
			o.Allow&OwnerPermissions != OwnerPermissions || o.Deny&OwnerPermissions != 0 {
			continue
		}
		if owner != "" && owner != o.ID {
			return ""
		}
		owner = o.ID
	}
	return owner
}

// withOwner returns the overwrites of a new room: the category's (so that the room keeps the
// category's visibility, as a channel created without overwrites would) with the owner's added, or
// merged into the owner's own overwrite when the category has one. Another member whose category
// overwrite carries the whole owner mark (a moderator, say) keeps all of it in the room but Priority
// Speaker, so that the room has exactly one owner.
func withOwner(category []discordrest.Overwrite, ownerID string) []discordrest.Overwrite {
	out := make([]discordrest.Overwrite, 0, len(category)+1)
	merged := false
	for _, o := range category {
		switch {
		case o.Type != discordrest.OverwriteMember:
		case o.ID == ownerID:
			o.Allow |= OwnerPermissions
			o.Deny &^= OwnerPermissions
			merged = true
		case o.Allow&OwnerPermissions == OwnerPermissions && o.Deny&OwnerPermissions == 0:
			o.Allow &^= permPrioritySpeaker
		}
		out = append(out, o)
	}
	if !merged {
		out = append(out, discordrest.Overwrite{ID: ownerID, Type: discordrest.OverwriteMember, Allow: OwnerPermissions})
	}
	return out
}
