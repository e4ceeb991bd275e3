package rooms

import (
	"github.com/spellcoven/gateway/roomowner"
	"github.com/spellcoven/gateway/rooms/discordrest"
)

// Permission bits of the owner mark, as discordrest.Permissions.
const (
	permPrioritySpeaker = discordrest.Permissions(roomowner.PrioritySpeaker)
	permViewChannel     = discordrest.Permissions(roomowner.ViewChannel)
	permConnect         = discordrest.Permissions(roomowner.Connect)
	permSpeak           = discordrest.Permissions(roomowner.Speak)
	permMoveMembers     = discordrest.Permissions(roomowner.MoveMembers)
)

// OwnerPermissions is the owner mark (roomowner.Permissions) as discordrest.Permissions.
const OwnerPermissions = discordrest.Permissions(roomowner.Permissions)

// OwnerID returns the owner recorded in a channel's overwrites (roomowner.ID).
func OwnerID(overwrites []discordrest.Overwrite) string {
	ows := make([]roomowner.Overwrite, len(overwrites))
	for i, o := range overwrites {
		ows[i] = roomowner.Overwrite{ID: o.ID, Type: o.Type, Allow: uint64(o.Allow), Deny: uint64(o.Deny)}
	}
	return roomowner.ID(ows)
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
		case roomowner.Marks(roomowner.Overwrite{ID: o.ID, Type: o.Type, Allow: uint64(o.Allow), Deny: uint64(o.Deny)}):
			o.Allow &^= permPrioritySpeaker
		}
		out = append(out, o)
	}
	if !merged {
		out = append(out, discordrest.Overwrite{ID: ownerID, Type: discordrest.OverwriteMember, Allow: OwnerPermissions})
	}
	return out
}
