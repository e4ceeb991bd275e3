package discordtest

import (
	"fmt"
	"time"
)

// This file renders the world as Discord's JSON objects: every key Discord sends, with null where
// Discord sends null, IDs and permission sets as strings, timestamps in RFC 3339 with microseconds.

// discordTime formats a timestamp the way Discord does: "2024-01-02T03:04:05.678000+00:00".
func discordTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000+00:00")
}

// nullable renders "" as JSON null.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func wireUser(u *User) map[string]any {
	m := map[string]any{
		"id":                     u.ID,
		"username":               u.Username,
		"global_name":            nullable(u.GlobalName),
		"avatar":                 nullable(u.Avatar),
		"discriminator":          "0",
		"public_flags":           0,
		"flags":                  0,
		"banner":                 nil,
		"accent_color":           nil,
		"avatar_decoration_data": nil,
		"primary_guild":          nil,
	}
	if u.Bot {
		m["bot"] = true
		// Bot accounts were left out of the move to unique usernames: they keep a four-digit
		// discriminator, which is never 0000.
		m["discriminator"] = botDiscriminator(u.ID)
	}
	return m
}

// botDiscriminator is the bot's four-digit discriminator, 0001 to 9999, the same for an ID in
// every run.
func botDiscriminator(id string) string {
	var sum uint64
	for _, c := range id {
		sum = sum*31 + uint64(c)
	}
	return fmt.Sprintf("%04d", sum%9999+1)
}

// wireSelfUser is the bot's own user as GET /users/@me and READY show it.
func wireSelfUser(u *User) map[string]any {
	m := wireUser(u)
	m["verified"] = true
	m["mfa_enabled"] = false
	m["email"] = nil
	m["locale"] = "en-US"
	m["premium_type"] = 0
	return m
}

func wireMember(g *guild, u *User, joined time.Time) map[string]any {
	return map[string]any{
		"user":                         wireUser(u),
		"nick":                         nil,
		"avatar":                       nil,
		"banner":                       nil,
		"roles":                        append([]string{}, g.memberRoles[u.ID]...),
		"joined_at":                    discordTime(joined),
		"premium_since":                nil,
		"deaf":                         g.voiceFlag(u.ID, func(v *VoiceState) bool { return v.Deaf }),
		"mute":                         g.voiceFlag(u.ID, func(v *VoiceState) bool { return v.Mute }),
		"flags":                        0,
		"pending":                      false,
		"communication_disabled_until": nil,
	}
}

func (g *guild) voiceFlag(userID string, flag func(*VoiceState) bool) bool {
	vs, ok := g.voice[userID]
	return ok && flag(vs)
}

func wireOverwrites(list []PermissionOverwrite) []PermissionOverwrite {
	if list == nil {
		return []PermissionOverwrite{}
	}
	return list
}

// wireChannel renders a guild channel with the keys Discord sends for its type.
func wireChannel(c *Channel) map[string]any {
	m := map[string]any{
		"id":                    c.ID,
		"type":                  c.Type,
		"guild_id":              c.GuildID,
		"name":                  c.Name,
		"position":              c.Position,
		"flags":                 0,
		"parent_id":             nullable(c.ParentID),
		"permission_overwrites": wireOverwrites(c.PermissionOverwrites),
	}
	switch c.Type {
	case ChannelTypeGuildText:
		m["last_message_id"] = nil
		m["topic"] = nullable(c.Topic)
		m["nsfw"] = c.NSFW
		m["rate_limit_per_user"] = c.RateLimitPerUser
	case ChannelTypeGuildVoice:
		m["last_message_id"] = nil
		m["nsfw"] = c.NSFW
		m["rate_limit_per_user"] = c.RateLimitPerUser
		m["bitrate"] = c.Bitrate
		m["user_limit"] = c.UserLimit
		m["rtc_region"] = nullable(c.RTCRegion)
		if c.VideoQualityMode != 0 {
			m["video_quality_mode"] = c.VideoQualityMode
		}
	}
	return m
}

// wireVoiceState renders a voice state; GUILD_CREATE's partial voice states leave out guild_id.
func wireVoiceState(vs *VoiceState, withGuild bool) map[string]any {
	m := map[string]any{
		"channel_id":                 nullable(vs.ChannelID),
		"user_id":                    vs.UserID,
		"session_id":                 vs.SessionID,
		"deaf":                       vs.Deaf,
		"mute":                       vs.Mute,
		"self_deaf":                  vs.SelfDeaf,
		"self_mute":                  vs.SelfMute,
		"self_video":                 vs.SelfVideo,
		"suppress":                   vs.Suppress,
		"request_to_speak_timestamp": nil,
	}
	// Discord sends self_stream only while the user streams.
	if vs.SelfStream {
		m["self_stream"] = true
	}
	if withGuild {
		m["guild_id"] = vs.GuildID
	}
	return m
}

func wireRole(r *Role) map[string]any {
	m := map[string]any{
		"id":            r.ID,
		"name":          r.Name,
		"description":   nil,
		"permissions":   r.Permissions,
		"position":      r.Position,
		"color":         0,
		"colors":        map[string]any{"primary_color": 0, "secondary_color": nil, "tertiary_color": nil},
		"hoist":         false,
		"managed":       r.Managed,
		"mentionable":   false,
		"icon":          nil,
		"unicode_emoji": nil,
		"flags":         0,
	}
	if r.Managed {
		m["tags"] = map[string]any{"bot_id": r.botID}
	}
	return m
}

func wireRoles(g *guild) []map[string]any {
	out := make([]map[string]any, 0, len(g.roles))
	for _, r := range g.roles {
		out = append(out, wireRole(r))
	}
	return out
}

// channelObfuscated is the CHANNEL_OBFUSCATED channel flag.
const channelObfuscated = 1 << 17

// wireChannelSeen renders a channel as the bot receives it over the gateway: whole when it may
// view it, else obfuscated as Discord does (name "___hidden___", the CHANNEL_OBFUSCATED flag,
// topic and other settings nulled, one overwrite denying View Channel to @everyone).
func (w *world) wireChannelSeen(g *guild, c *Channel) map[string]any {
	m := wireChannel(c)
	if w.botSees(g, c) {
		return m
	}
	m["name"] = "___hidden___"
	m["flags"] = channelObfuscated
	m["permission_overwrites"] = []PermissionOverwrite{{ID: g.ID, Type: OverwriteTypeRole, Deny: PermissionViewChannel}}
	for _, k := range []string{"topic", "rtc_region", "last_message_id"} {
		if _, ok := m[k]; ok {
			m[k] = nil
		}
	}
	return m
}

// wireGuildCreate renders the GUILD_CREATE payload a session receives. Voice states come only with
// GUILD_VOICE_STATES. Members are the bot and the users in voice; every member only with the
// GUILD_PRESENCES intent in a guild not above large_threshold, as on Discord (GUILD_MEMBERS alone
// does not fill the list: a bot fetches members with op 8).
func (w *world) wireGuildCreate(g *guild, intents Intents, largeThreshold int) map[string]any {
	channels := []map[string]any{}
	for _, c := range g.sortedChannels() {
		ch := w.wireChannelSeen(g, c)
		// Channels inside GUILD_CREATE carry no guild_id on Discord.
		delete(ch, "guild_id")
		channels = append(channels, ch)
	}
	voiceStates := []map[string]any{}
	if intents&IntentGuildVoiceStates != 0 {
		for _, vs := range g.sortedVoice() {
			voiceStates = append(voiceStates, wireVoiceState(vs, false))
		}
	}
	large := len(g.members) > largeThreshold
	members := []map[string]any{}
	for _, uid := range w.userOrder {
		joined, ok := g.members[uid]
		if !ok {
			continue
		}
		_, inVoice := g.voice[uid]
		if uid == w.bot.ID || inVoice || (intents&IntentGuildPresences != 0 && !large) {
			members = append(members, wireMember(g, w.users[uid], joined))
		}
	}
	return map[string]any{
		"id":                            g.ID,
		"name":                          g.Name,
		"icon":                          nil,
		"splash":                        nil,
		"discovery_splash":              nil,
		"banner":                        nil,
		"description":                   nil,
		"owner_id":                      g.OwnerID,
		"afk_channel_id":                nil,
		"afk_timeout":                   300,
		"verification_level":            0,
		"default_message_notifications": 0,
		"explicit_content_filter":       0,
		"mfa_level":                     0,
		"nsfw_level":                    0,
		"premium_tier":                  0,
		"premium_subscription_count":    0,
		"preferred_locale":              "en-US",
		"system_channel_id":             nil,
		"system_channel_flags":          0,
		"rules_channel_id":              nil,
		"public_updates_channel_id":     nil,
		"safety_alerts_channel_id":      nil,
		"vanity_url_code":               nil,
		"application_id":                nil,
		"max_members":                   500000,
		"max_video_channel_users":       25,
		"features":                      []string{},
		"roles":                         wireRoles(g),
		"emojis":                        []any{},
		"stickers":                      []any{},
		"joined_at":                     discordTime(g.joinedAt),
		"large":                         large,
		"unavailable":                   false,
		"member_count":                  len(g.members),
		"lazy":                          true,
		"channels":                      channels,
		"threads":                       []any{},
		"members":                       members,
		"voice_states":                  voiceStates,
		"presences":                     []any{},
		"stage_instances":               []any{},
		"guild_scheduled_events":        []any{},
		"soundboard_sounds":             []any{},
	}
}
