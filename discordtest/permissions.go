package discordtest

import (
	"net/http"
	"slices"
)

// The permission bits the emulator computes and checks, as Discord numbers them.
const (
	PermissionCreateInstantInvite Permissions = 1 << 0
	PermissionAdministrator       Permissions = 1 << 3
	PermissionManageChannels      Permissions = 1 << 4
	PermissionPrioritySpeaker     Permissions = 1 << 8
	PermissionStream              Permissions = 1 << 9
	PermissionViewChannel         Permissions = 1 << 10
	PermissionConnect             Permissions = 1 << 20
	PermissionSpeak               Permissions = 1 << 21
	PermissionMuteMembers         Permissions = 1 << 22
	PermissionDeafenMembers       Permissions = 1 << 23
	PermissionMoveMembers         Permissions = 1 << 24
	PermissionManageRoles         Permissions = 1 << 28
)

// allPermissions is every permission Discord defines (bits 0 to 50), what ADMINISTRATOR and
// ownership grant.
const allPermissions Permissions = 1<<51 - 1

// everyonePermissions is what a new guild's @everyone role allows: Discord's default set (View
// Channel, Send Messages, Connect, Speak, Video, ... but no moderation or management).
const everyonePermissions Permissions = 2248473465835073

// DefaultBotPermissions is what the bot's own role allows in a seeded guild: what the invite link
// documented in docs/rooms.md asks for. Manage Channels and Manage Roles (called Manage
// Permissions on a channel) to create, edit and delete rooms with their owner's overwrite, and
// every permission of that overwrite, since a bot may only grant permissions it holds.
const DefaultBotPermissions = PermissionManageChannels | PermissionManageRoles | PermissionViewChannel |
	PermissionConnect | PermissionSpeak | PermissionStream | PermissionPrioritySpeaker |
	PermissionMuteMembers | PermissionDeafenMembers | PermissionMoveMembers

// DefaultVoiceBotPermissions is what a voice bot's own role allows in a seeded guild: View
// Channel, Connect, Speak and Video, what joining a room's call and receiving its media needs.
const DefaultVoiceBotPermissions = PermissionViewChannel | PermissionConnect | PermissionSpeak | PermissionStream

// voicePermissions are the permissions a voice channel's Connect denial takes away with it.
const voicePermissions = PermissionConnect | PermissionSpeak | PermissionStream | PermissionPrioritySpeaker |
	PermissionMuteMembers | PermissionDeafenMembers | PermissionMoveMembers | 1<<25 /* USE_VAD */

// basePermissions computes a member's guild-wide permissions as Discord does: the owner holds every
// permission; otherwise @everyone's permissions, or-ed with those of the member's roles, and
// ADMINISTRATOR grants everything.
func (g *guild) basePermissions(userID string) Permissions {
	if userID == g.OwnerID {
		return allPermissions
	}
	p := g.everyone().Permissions
	for _, id := range g.memberRoles[userID] {
		if r := g.role(id); r != nil {
			p |= r.Permissions
		}
	}
	if p&PermissionAdministrator != 0 {
		return allPermissions
	}
	return p
}

// channelPermissions computes a member's permissions in a channel as Discord does: the base
// permissions, then the channel's @everyone overwrite, then the overwrites of the member's roles
// together (denials first, then grants), then the member's own overwrite. Without View Channel a
// member holds nothing in the channel, and without Connect nothing voice-related in a voice channel.
func (g *guild) channelPermissions(userID string, ch *Channel) Permissions {
	p := g.basePermissions(userID)
	if p&PermissionAdministrator != 0 {
		return allPermissions
	}
	p = applyOverwrites(p, ch.PermissionOverwrites, g.ID, g.memberRoles[userID], userID)
	if p&PermissionViewChannel == 0 {
		return 0
	}
	if ch.Type == ChannelTypeGuildVoice && p&PermissionConnect == 0 {
		p &^= voicePermissions
	}
	return p
}

// applyOverwrites applies a channel's overwrites to base permissions, in Discord's order.
func applyOverwrites(p Permissions, list []PermissionOverwrite, everyoneID string, roles []string, userID string) Permissions {
	for _, o := range list {
		if o.Type == OverwriteTypeRole && o.ID == everyoneID {
			p = p&^o.Deny | o.Allow
		}
	}
	var allow, deny Permissions
	for _, o := range list {
		if o.Type != OverwriteTypeRole || o.ID == everyoneID {
			continue
		}
		for _, r := range roles {
			if o.ID == r {
				allow |= o.Allow
				deny |= o.Deny
			}
		}
	}
	p = p&^deny | allow
	for _, o := range list {
		if o.Type == OverwriteTypeMember && o.ID == userID {
			p = p&^o.Deny | o.Allow
		}
	}
	return p
}

// botCan checks that the bot holds want in the channel (or guild-wide when ch is nil), answering
// as Discord does: 50001 Missing Access for a channel it cannot see, 50013 Missing Permissions
// otherwise.
func (w *world) botCan(g *guild, ch *Channel, want Permissions) *APIError {
	return w.userCan(g, ch, w.bot.ID, want)
}

// userCan is botCan for any bot user: the main bot or a voice bot.
func (w *world) userCan(g *guild, ch *Channel, userID string, want Permissions) *APIError {
	if ch == nil {
		if g.basePermissions(userID)&want != want {
			return errMissingPermissions()
		}
		return nil
	}
	p := g.channelPermissions(userID, ch)
	if p&PermissionViewChannel == 0 {
		return errMissingAccess()
	}
	if p&want != want {
		return errMissingPermissions()
	}
	return nil
}

// botMayGrant checks that the bot may set overwrites allowing or denying bits on ch (nil for a
// channel being created under parentID): it needs Manage Roles there, and may only allow or deny
// permissions it holds in the guild, or in the parent category, unless it is an administrator or
// an overwrite of ch grants it Manage Roles.
func (w *world) botMayGrant(g *guild, ch *Channel, parentID string, bits Permissions) *APIError {
	bot := w.bot.ID
	held := g.basePermissions(bot)
	if parent, ok := g.channels[parentID]; ok {
		held = g.channelPermissions(bot, parent)
	}
	if held&PermissionAdministrator != 0 {
		return nil
	}
	if ch != nil {
		if apiErr := w.botCan(g, ch, PermissionManageRoles); apiErr != nil {
			return apiErr
		}
		if applyOverwrites(0, ch.PermissionOverwrites, g.ID, g.memberRoles[bot], bot)&PermissionManageRoles != 0 {
			return nil
		}
	} else if held&PermissionManageRoles == 0 {
		return errMissingPermissions()
	}
	if bits&^held != 0 {
		return errMissingPermissions()
	}
	return nil
}

// botSees reports whether the bot may view a channel; the ones it may not reach it obfuscated
// over the gateway and are left out of GET /guilds/{id}/channels.
func (w *world) botSees(g *guild, ch *Channel) bool {
	return g.channelPermissions(w.bot.ID, ch)&PermissionViewChannel != 0
}

func errMissingAccess() *APIError {
	return &APIError{Status: http.StatusForbidden, Code: 50001, Message: "Missing Access"}
}

// setRolePermissions changes a role's permissions and tells sessions: GUILD_ROLE_UPDATE, then a
// CHANNEL_UPDATE for every channel the bot gained or lost sight of.
func (w *world) setRolePermissions(g *guild, roleID string, p Permissions) ([]event, *APIError) {
	r := g.role(roleID)
	if r == nil {
		return nil, errUnknownRole()
	}
	if p&^allPermissions != 0 {
		return nil, &APIError{Status: http.StatusBadRequest, Code: 50035, Message: "Invalid Form Body",
			Errors: formErrors{"permissions": formErrors{"_errors": []fieldError{{Code: "NUMBER_TYPE_MAX", Message: "Unknown permission bits."}}}}}
	}
	before := w.visibility(g)
	r.Permissions = p
	events := []event{{name: "GUILD_ROLE_UPDATE", guildID: g.ID, intent: IntentGuilds,
		data: map[string]any{"guild_id": g.ID, "role": wireRole(r)}}}
	return append(events, w.visibilityEvents(g, before, "")...), nil
}

// setOverwrite creates or replaces a channel's overwrite for o.ID, as PUT
// /channels/{id}/permissions/{overwrite}. byBot applies the bot's permissions, as for channels.
func (w *world) setOverwrite(channelID string, o PermissionOverwrite, byBot bool) (Channel, []event, *APIError) {
	g, ch, apiErr := w.channel(channelID)
	if apiErr != nil {
		return Channel{}, nil, apiErr
	}
	switch o.Type {
	case OverwriteTypeRole:
		if g.role(o.ID) == nil {
			return Channel{}, nil, errUnknownRole()
		}
	case OverwriteTypeMember:
		if _, known := w.users[o.ID]; !known {
			return Channel{}, nil, errUnknownUser()
		}
		if !g.isMember(o.ID) {
			return Channel{}, nil, errUnknownMember()
		}
	default:
		return Channel{}, nil, &APIError{Status: http.StatusBadRequest, Code: 50035, Message: "Invalid Form Body",
			Errors: formErrors{"type": formErrors{"_errors": []fieldError{{Code: "BASE_TYPE_CHOICES", Message: "Value must be one of {0, 1}."}}}}}
	}
	if o.Allow&^allPermissions != 0 || o.Deny&^allPermissions != 0 {
		return Channel{}, nil, &APIError{Status: http.StatusBadRequest, Code: 50035, Message: "Invalid Form Body",
			Errors: formErrors{"allow": formErrors{"_errors": []fieldError{{Code: "NUMBER_TYPE_MAX", Message: "Unknown permission bits."}}}}}
	}
	if byBot {
		if apiErr := w.botMayGrant(g, ch, ch.ParentID, o.Allow|o.Deny); apiErr != nil {
			return Channel{}, nil, apiErr
		}
	}
	before := w.visibility(g)
	i := slices.IndexFunc(ch.PermissionOverwrites, func(cur PermissionOverwrite) bool { return cur.ID == o.ID })
	if i >= 0 {
		ch.PermissionOverwrites[i] = o
	} else {
		ch.PermissionOverwrites = append(ch.PermissionOverwrites, o)
	}
	events := append([]event{w.channelEvent(g, "CHANNEL_UPDATE", ch)}, w.visibilityEvents(g, before, ch.ID)...)
	return cloneChannel(ch), events, nil
}

// deleteOverwrite removes a channel's overwrite, as DELETE /channels/{id}/permissions/{overwrite}.
func (w *world) deleteOverwrite(channelID, overwriteID string, byBot bool) (Channel, []event, *APIError) {
	g, ch, apiErr := w.channel(channelID)
	if apiErr != nil {
		return Channel{}, nil, apiErr
	}
	if byBot {
		if apiErr := w.botMayGrant(g, ch, ch.ParentID, 0); apiErr != nil {
			return Channel{}, nil, apiErr
		}
	}
	i := slices.IndexFunc(ch.PermissionOverwrites, func(cur PermissionOverwrite) bool { return cur.ID == overwriteID })
	if i < 0 {
		return Channel{}, nil, &APIError{Status: http.StatusNotFound, Code: 10009, Message: "Unknown Overwrite"}
	}
	before := w.visibility(g)
	ch.PermissionOverwrites = slices.Delete(ch.PermissionOverwrites, i, i+1)
	events := append([]event{w.channelEvent(g, "CHANNEL_UPDATE", ch)}, w.visibilityEvents(g, before, ch.ID)...)
	return cloneChannel(ch), events, nil
}

func errUnknownRole() *APIError {
	return &APIError{Status: http.StatusNotFound, Code: 10011, Message: "Unknown Role"}
}
