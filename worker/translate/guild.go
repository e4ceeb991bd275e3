package translate

import (
	"cmp"
	"errors"
	"slices"

	"github.com/bwmarrin/discordgo"

	"github.com/spellcoven/gateway/event"
)

// Change is one contract v1 event without its position and time: the type and its payload, one of
// event.RoomPayload, event.RoomDeletedPayload, event.VoiceMemberPayload, event.VoiceLeftPayload or
// event.SnapshotPayload.
type Change struct {
	Type    event.Type
	Payload any
}

// OwnerFunc returns the Discord user id of a room's owner, or "" when the room has none. The rooms
// API records who created a room; this is where the worker reads it back from the channel.
type OwnerFunc func(c *discordgo.Channel) string

// Config says which guild and which category hold the rooms.
type Config struct {
	// GuildID is the guild whose dispatches count; dispatches about other guilds are ignored.
	GuildID string
	// CategoryID is the category whose voice channels are rooms.
	CategoryID string
	// Owner reads a room's owner from its channel. Nil leaves owner_id empty.
	Owner OwnerFunc
	// TableView reads from a room's channel whether its table view is on. Nil leaves it off.
	TableView func(c *discordgo.Channel) bool
}

// voiceEntry is one user's voice state as far as contract v1 cares: where they are and how.
type voiceEntry struct {
	channelID string
	member    event.Member
}

// Guild mirrors the rooms and voice states of one guild. It is not safe for concurrent use: the
// worker feeds it from the gateway session's single reading goroutine, under the lock that also
// orders the outbox.
type Guild struct {
	cfg Config
	// rooms holds the channels that are rooms now, by id.
	rooms map[string]event.Room
	// voice holds every user in any voice channel of the guild, rooms or not, so that a channel
	// moved into the category brings its members with it.
	voice map[string]voiceEntry
}

// New returns an empty mirror for cfg. It holds nothing until Load.
func New(cfg Config) *Guild {
	return &Guild{cfg: cfg, rooms: map[string]event.Room{}, voice: map[string]voiceEntry{}}
}

// Load replaces the mirror with the guild as GUILD_CREATE describes it and returns its snapshot.
// Voice states in GUILD_CREATE are partial (no member); their identities come from the guild's
// member list. It reports false, changing nothing, for another guild.
func (g *Guild) Load(guild *discordgo.Guild) (event.SnapshotPayload, bool) {
	if guild == nil || guild.ID != g.cfg.GuildID {
		return event.SnapshotPayload{}, false
	}
	identities := make(map[string]*discordgo.Member, len(guild.Members))
	for _, m := range guild.Members {
		if m != nil && m.User != nil {
			identities[m.User.ID] = m
		}
	}
	g.rooms = make(map[string]event.Room)
	for _, c := range guild.Channels {
		if g.isRoom(c) {
			g.rooms[c.ID] = g.room(c)
		}
	}
	g.voice = make(map[string]voiceEntry)
	for _, vs := range guild.VoiceStates {
		if vs == nil || vs.ChannelID == "" || !event.ValidSnowflake(vs.UserID) {
			continue
		}
		member := vs.Member
		if member == nil {
			member = identities[vs.UserID]
		}
		g.voice[vs.UserID] = voiceEntry{channelID: vs.ChannelID, member: newMember(vs, member)}
	}
	return g.Snapshot(), true
}

// Snapshot returns every room with its members, rooms by position then id, members by user id.
func (g *Guild) Snapshot() event.SnapshotPayload {
	byRoom := make(map[string][]event.Member, len(g.rooms))
	for _, v := range g.voice {
		if _, ok := g.rooms[v.channelID]; ok {
			byRoom[v.channelID] = append(byRoom[v.channelID], v.member)
		}
	}
	rooms := make([]event.RoomState, 0, len(g.rooms))
	for id, r := range g.rooms {
		members := byRoom[id]
		if members == nil {
			members = []event.Member{}
		}
		slices.SortFunc(members, func(a, b event.Member) int { return compareSnowflakes(a.UserID, b.UserID) })
		if len(members) > event.MaxRoomMembers {
			members = members[:event.MaxRoomMembers]
		}
		rooms = append(rooms, event.RoomState{Room: r, Members: members})
	}
	slices.SortFunc(rooms, func(a, b event.RoomState) int {
		return cmp.Or(cmp.Compare(a.Position, b.Position), compareSnowflakes(a.ID, b.ID))
	})
	if len(rooms) > event.MaxRooms {
		rooms = rooms[:event.MaxRooms]
	}
	return event.SnapshotPayload{Rooms: rooms}
}

// Rooms returns how many rooms the mirror holds.
func (g *Guild) Rooms() int { return len(g.rooms) }

// Room returns the room whose channel id is id, and false when that channel is not a room.
func (g *Guild) Room(id string) (event.Room, bool) {
	r, ok := g.rooms[id]
	return r, ok
}

// ChannelCreate handles CHANNEL_CREATE.
func (g *Guild) ChannelCreate(c *discordgo.Channel) []Change { return g.channelChanged(c, false) }

// ChannelUpdate handles CHANNEL_UPDATE.
func (g *Guild) ChannelUpdate(c *discordgo.Channel) []Change { return g.channelChanged(c, false) }

// ChannelDelete handles CHANNEL_DELETE.
func (g *Guild) ChannelDelete(c *discordgo.Channel) []Change { return g.channelChanged(c, true) }

// channelChanged compares what the channel was (a room or not) with what it is now.
func (g *Guild) channelChanged(c *discordgo.Channel, deleted bool) []Change {
	if c == nil || c.GuildID != g.cfg.GuildID || !event.ValidSnowflake(c.ID) {
		return nil
	}
	old, wasRoom := g.rooms[c.ID]
	isRoom := !deleted && g.isRoom(c)
	switch {
	case wasRoom && !isRoom:
		delete(g.rooms, c.ID)
		return []Change{{Type: event.RoomDeleted, Payload: event.RoomDeletedPayload{RoomID: c.ID}}}
	case !wasRoom && isRoom:
		r := g.room(c)
		g.rooms[c.ID] = r
		changes := []Change{{Type: event.RoomCreated, Payload: event.RoomPayload{Room: r}}}
		for _, m := range g.membersIn(c.ID) {
			changes = append(changes, Change{Type: event.VoiceJoined, Payload: event.VoiceMemberPayload{RoomID: c.ID, Member: m}})
		}
		return changes
	case wasRoom && isRoom:
		r := g.room(c)
		if r == old {
			return nil
		}
		g.rooms[c.ID] = r
		return []Change{{Type: event.RoomUpdated, Payload: event.RoomPayload{Room: r}}}
	}
	return nil
}

// VoiceStateUpdate handles VOICE_STATE_UPDATE.
func (g *Guild) VoiceStateUpdate(vs *discordgo.VoiceState) []Change {
	if vs == nil || vs.GuildID != g.cfg.GuildID || !event.ValidSnowflake(vs.UserID) {
		return nil
	}
	old, wasInVoice := g.voice[vs.UserID]
	var next voiceEntry
	if vs.ChannelID != "" {
		member := vs.Member
		if member == nil && wasInVoice {
			// Keep the identity already known rather than blank it.
			member = &discordgo.Member{User: &discordgo.User{
				ID: vs.UserID, Username: old.member.Username, GlobalName: old.member.GlobalName, Avatar: old.member.Avatar,
			}}
		}
		next = voiceEntry{channelID: vs.ChannelID, member: newMember(vs, member)}
		g.voice[vs.UserID] = next
	} else {
		delete(g.voice, vs.UserID)
	}
	_, wasInRoom := g.rooms[old.channelID]
	wasInRoom = wasInVoice && wasInRoom
	_, isInRoom := g.rooms[next.channelID]
	isInRoom = vs.ChannelID != "" && isInRoom

	var changes []Change
	switch {
	case wasInRoom && isInRoom && old.channelID == next.channelID:
		if old.member != next.member {
			changes = append(changes, Change{Type: event.VoiceUpdated, Payload: event.VoiceMemberPayload{RoomID: next.channelID, Member: next.member}})
		}
		return changes
	case wasInRoom:
		changes = append(changes, Change{Type: event.VoiceLeft, Payload: event.VoiceLeftPayload{RoomID: old.channelID, UserID: vs.UserID}})
	}
	if isInRoom {
		changes = append(changes, Change{Type: event.VoiceJoined, Payload: event.VoiceMemberPayload{RoomID: next.channelID, Member: next.member}})
	}
	return changes
}

// isRoom reports whether c is a voice channel under the rooms category.
func (g *Guild) isRoom(c *discordgo.Channel) bool {
	return c != nil && c.Type == discordgo.ChannelTypeGuildVoice && c.ParentID == g.cfg.CategoryID &&
		g.cfg.CategoryID != "" && event.ValidSnowflake(c.ID)
}

// room builds the contract's room from a channel that is one.
func (g *Guild) room(c *discordgo.Channel) event.Room {
	r := event.Room{
		ID:        c.ID,
		Name:      roomName(c.Name, c.ID),
		UserLimit: min(max(c.UserLimit, 0), event.MaxUserLimit),
		Position:  max(c.Position, 0),
	}
	if g.cfg.TableView != nil {
		r.TableView = g.cfg.TableView(c)
	}
	if g.cfg.Owner != nil {
		if owner := g.cfg.Owner(c); event.ValidSnowflake(owner) {
			r.OwnerID = owner
		}
	}
	return r
}

// membersIn lists the members in a channel, by user id.
func (g *Guild) membersIn(channelID string) []event.Member {
	var out []event.Member
	for _, v := range g.voice {
		if v.channelID == channelID {
			out = append(out, v.member)
		}
	}
	slices.SortFunc(out, func(a, b event.Member) int { return compareSnowflakes(a.UserID, b.UserID) })
	return out
}

// newMember builds the contract's member from a voice state and the member it names, if known.
func newMember(vs *discordgo.VoiceState, m *discordgo.Member) event.Member {
	out := event.Member{
		UserID:     vs.UserID,
		SelfMute:   vs.SelfMute,
		SelfDeaf:   vs.SelfDeaf,
		Mute:       vs.Mute,
		Deaf:       vs.Deaf,
		SelfVideo:  vs.SelfVideo,
		SelfStream: vs.SelfStream,
	}
	if m != nil && m.User != nil {
		out.Username = shortText(m.User.Username)
		out.GlobalName = shortText(m.User.GlobalName)
		out.Avatar = shortText(m.User.Avatar)
		out.Bot = m.User.Bot
	}
	return out
}

// compareSnowflakes orders snowflakes numerically: shorter is smaller, then by digits.
func compareSnowflakes(a, b string) int {
	return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b))
}

// State is the mirror in a form that can be saved and restored: the rooms, and every user in a
// voice channel of the guild (rooms or not).
type State struct {
	Rooms []event.Room  `json:"rooms"`
	Voice []VoiceMember `json:"voice"`
}

// VoiceMember is one user in a voice channel.
type VoiceMember struct {
	ChannelID string       `json:"channel_id"`
	Member    event.Member `json:"member"`
}

// State returns the mirror's state, rooms and members in id order.
func (g *Guild) State() State {
	st := State{Rooms: make([]event.Room, 0, len(g.rooms)), Voice: make([]VoiceMember, 0, len(g.voice))}
	for _, r := range g.rooms {
		st.Rooms = append(st.Rooms, r)
	}
	slices.SortFunc(st.Rooms, func(a, b event.Room) int { return compareSnowflakes(a.ID, b.ID) })
	for _, v := range g.voice {
		st.Voice = append(st.Voice, VoiceMember{ChannelID: v.channelID, Member: v.member})
	}
	slices.SortFunc(st.Voice, func(a, b VoiceMember) int { return compareSnowflakes(a.Member.UserID, b.Member.UserID) })
	return st
}

// Restore replaces the mirror with st, as State returned it. It refuses, changing nothing, a
// state whose ids are not snowflakes.
func (g *Guild) Restore(st State) error {
	rooms := make(map[string]event.Room, len(st.Rooms))
	for _, r := range st.Rooms {
		if !event.ValidSnowflake(r.ID) {
			return errors.New("translate: a saved room's id is not a snowflake")
		}
		rooms[r.ID] = r
	}
	voice := make(map[string]voiceEntry, len(st.Voice))
	for _, v := range st.Voice {
		if !event.ValidSnowflake(v.ChannelID) || !event.ValidSnowflake(v.Member.UserID) {
			return errors.New("translate: a saved voice state's ids are not snowflakes")
		}
		voice[v.Member.UserID] = voiceEntry{channelID: v.ChannelID, member: v.Member}
	}
	g.rooms, g.voice = rooms, voice
	return nil
}
