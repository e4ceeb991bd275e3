package discordtest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// event is one gateway dispatch produced by a change of the world.
type event struct {
	name    string
	guildID string
	// intent is the intent a session needs to receive the event; 0 means every session.
	intent Intents
	data   any
	// target, when set, limits the event to one session (VOICE_SERVER_UPDATE).
	target *session
	// voice is the voice state a VOICE_STATE_UPDATE carries, for Config.OnVoiceState.
	voice *VoiceState
}

// world is the emulator's model of Discord: the bot, users, guilds, channels and voice states.
// Every method is called with Server.mu held.
type world struct {
	ids *snowflakes
	bot User
	// voiceBots are the further bot users of Config.VoiceBots.
	voiceBots []User
	// owner owns every guild; a user, but no guild's listed member.
	owner     User
	users     map[string]*User
	userOrder []string
	guilds    map[string]*guild
	order     []string
	// channelGuild maps every channel ID to its guild.
	channelGuild map[string]*guild
}

// guild is one guild's state.
type guild struct {
	Guild
	maxChannels int
	maxBitrate  int
	joinedAt    time.Time
	// roles are ordered by position, @everyone first.
	roles []*Role
	// memberRoles maps member user IDs to the IDs of their roles (other than @everyone).
	memberRoles map[string][]string
	channels    map[string]*Channel
	// members maps member user IDs to when they joined.
	members map[string]time.Time
	// voice maps user IDs to their voice state, for users in a voice channel.
	voice map[string]*VoiceState
}

func newWorld(cfg Config, ids *snowflakes) (*world, error) {
	w := &world{
		ids:          ids,
		users:        make(map[string]*User),
		guilds:       make(map[string]*guild),
		channelGuild: make(map[string]*guild),
	}
	if cfg.Bot.ID != "" && !isSnowflake(cfg.Bot.ID) {
		return nil, fmt.Errorf("discordtest: bot ID %q is not a snowflake", cfg.Bot.ID)
	}
	bot := cfg.Bot
	if bot.ID == "" {
		bot.ID = ids.next()
	}
	ids.observe(bot.ID)
	if bot.Username == "" {
		bot.Username = "Spell Coven"
	}
	bot.Bot = true
	w.bot = bot
	w.users[bot.ID] = &bot
	w.userOrder = append(w.userOrder, bot.ID)
	for i, vb := range cfg.VoiceBots {
		u := vb.User
		if u.ID != "" && (!isSnowflake(u.ID) || w.users[u.ID] != nil) {
			return nil, fmt.Errorf("discordtest: voice bot %d's ID %q is not a fresh snowflake", i, u.ID)
		}
		if u.ID == "" {
			u.ID = ids.next()
		}
		ids.observe(u.ID)
		if u.Username == "" {
			u.Username = fmt.Sprintf("Spell Coven Voice %d", i+1)
		}
		u.Bot = true
		w.voiceBots = append(w.voiceBots, u)
		w.users[u.ID] = &w.voiceBots[len(w.voiceBots)-1]
		w.userOrder = append(w.userOrder, u.ID)
	}
	w.owner = User{ID: ids.next(), Username: "guild.owner", GlobalName: "Guild Owner"}
	w.users[w.owner.ID] = &w.owner

	seeds := cfg.Guilds
	if len(seeds) == 0 {
		seeds = []GuildConfig{{}}
	}
	for i, gc := range seeds {
		if err := w.seedGuild(gc); err != nil {
			return nil, fmt.Errorf("discordtest: guild %d: %w", i, err)
		}
	}
	for _, u := range cfg.Users {
		if _, _, err := w.addUser(u); err != nil {
			return nil, fmt.Errorf("discordtest: seed user %q: %w", u.Username, err)
		}
	}
	return w, nil
}

func (w *world) seedGuild(gc GuildConfig) error {
	for _, id := range []string{gc.ID, gc.RoomsCategoryID} {
		if id != "" && !isSnowflake(id) {
			return fmt.Errorf("ID %q is not a snowflake", id)
		}
		w.ids.observe(id)
	}
	if gc.MaxChannels < 0 || gc.MaxBitrate < 0 {
		return fmt.Errorf("MaxChannels and MaxBitrate must not be negative")
	}
	g := &guild{
		Guild:       Guild{ID: gc.ID, Name: gc.Name, OwnerID: w.owner.ID, RoomsCategoryID: gc.RoomsCategoryID},
		maxChannels: gc.MaxChannels,
		maxBitrate:  gc.MaxBitrate,
		joinedAt:    time.Now().UTC(),
		memberRoles: make(map[string][]string),
		channels:    make(map[string]*Channel),
		members:     make(map[string]time.Time),
		voice:       make(map[string]*VoiceState),
	}
	if g.ID == "" {
		g.ID = w.ids.next()
	}
	// The bot joined through an invite asking for DefaultBotPermissions: Discord gave it a managed
	// role holding them.
	g.BotRoleID = w.ids.next()
	g.roles = []*Role{
		{ID: g.ID, Name: "@everyone", Permissions: everyonePermissions},
		{ID: g.BotRoleID, Name: w.bot.Username, Permissions: DefaultBotPermissions, Position: 1, Managed: true, botID: w.bot.ID},
	}
	g.memberRoles[w.bot.ID] = []string{g.BotRoleID}
	for i, vb := range w.voiceBots {
		// Each voice bot joined through its own invite, asking for DefaultVoiceBotPermissions.
		id := w.ids.next()
		g.VoiceBotRoleIDs = append(g.VoiceBotRoleIDs, id)
		g.roles = append(g.roles, &Role{ID: id, Name: vb.Username, Permissions: DefaultVoiceBotPermissions, Position: 2 + i, Managed: true, botID: vb.ID})
		g.memberRoles[vb.ID] = []string{id}
	}
	if _, dup := w.guilds[g.ID]; dup {
		return fmt.Errorf("guild ID %s used twice", g.ID)
	}
	if g.Name == "" {
		g.Name = "Spell Coven"
	}
	if g.maxChannels == 0 {
		g.maxChannels = 500
	}
	if g.maxBitrate == 0 {
		g.maxBitrate = 96000
	}
	if g.RoomsCategoryID == "" {
		g.RoomsCategoryID = w.ids.next()
	}
	if w.channelGuild[g.RoomsCategoryID] != nil {
		return fmt.Errorf("rooms category ID %s used twice", g.RoomsCategoryID)
	}
	w.guilds[g.ID] = g
	w.order = append(w.order, g.ID)
	for _, uid := range w.userOrder {
		g.members[uid] = g.joinedAt
	}

	categoryName := gc.RoomsCategoryName
	if categoryName == "" {
		categoryName = "Rooms"
	}
	w.putChannel(g, &Channel{ID: g.RoomsCategoryID, Type: ChannelTypeGuildCategory, Name: categoryName})
	seedChannels := gc.Channels
	if seedChannels == nil {
		seedChannels = []Channel{
			{Type: ChannelTypeGuildText, Name: "general"},
			{Type: ChannelTypeGuildVoice, Name: "Lobby", ParentID: g.RoomsCategoryID},
		}
	}
	for _, c := range seedChannels {
		p := paramsFromChannel(c)
		if c.ID != "" {
			if !isSnowflake(c.ID) || w.channelGuild[c.ID] != nil {
				return fmt.Errorf("channel ID %q is not a fresh snowflake", c.ID)
			}
			w.ids.observe(c.ID)
		}
		ch, apiErr := w.validateChannel(g, nil, p)
		if apiErr != nil {
			return fmt.Errorf("channel %q: %w", c.Name, apiErr)
		}
		ch.ID = c.ID
		w.putChannel(g, ch)
	}
	return nil
}

// putChannel stores a validated channel, giving it an ID when it has none.
func (w *world) putChannel(g *guild, ch *Channel) {
	if ch.ID == "" {
		ch.ID = w.ids.next()
	}
	ch.GuildID = g.ID
	if ch.PermissionOverwrites == nil {
		ch.PermissionOverwrites = []PermissionOverwrite{}
	}
	g.channels[ch.ID] = ch
	w.channelGuild[ch.ID] = g
}

// nextPosition is where Discord puts a new channel: after its siblings of the same kind.
func (g *guild) nextPosition(t ChannelType) int {
	pos := 0
	for _, c := range g.channels {
		if sortClass(c.Type) == sortClass(t) && c.Position+1 > pos {
			pos = c.Position + 1
		}
	}
	return pos
}

// sortClass groups channel types the way Discord's client orders them.
func sortClass(t ChannelType) int {
	switch t {
	case ChannelTypeGuildCategory:
		return 2
	case ChannelTypeGuildVoice:
		return 1
	default:
		return 0
	}
}

// sortedChannels returns the guild's channels ordered by position, then ID.
func (g *guild) sortedChannels() []*Channel {
	out := make([]*Channel, 0, len(g.channels))
	for _, c := range g.channels {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *Channel) int {
		if a.Position != b.Position {
			return a.Position - b.Position
		}
		return compareSnowflakes(a.ID, b.ID)
	})
	return out
}

// sortedVoice returns the guild's voice states ordered by user ID.
func (g *guild) sortedVoice() []*VoiceState {
	out := make([]*VoiceState, 0, len(g.voice))
	for _, vs := range g.voice {
		out = append(out, vs)
	}
	slices.SortFunc(out, func(a, b *VoiceState) int { return compareSnowflakes(a.UserID, b.UserID) })
	return out
}

// compareSnowflakes orders decimal IDs numerically.
func compareSnowflakes(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

func (w *world) guild(id string) (*guild, *APIError) {
	g, ok := w.guilds[id]
	if !ok {
		return nil, errUnknownGuild()
	}
	return g, nil
}

func (w *world) channel(id string) (*guild, *Channel, *APIError) {
	g, ok := w.channelGuild[id]
	if !ok {
		return nil, nil, errUnknownChannel()
	}
	return g, g.channels[id], nil
}

// everyone is the guild's @everyone role.
func (g *guild) everyone() *Role { return g.roles[0] }

// role finds a role of the guild, or nil.
func (g *guild) role(id string) *Role {
	for _, r := range g.roles {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// channelEvent is a CHANNEL_* dispatch of ch as the bot sees it (obfuscated when it may not view it).
func (w *world) channelEvent(g *guild, name string, ch *Channel) event {
	return event{name: name, guildID: g.ID, intent: IntentGuilds, data: w.wireChannelSeen(g, ch)}
}

// visibility records which channels the bot may view, to tell after a change of permissions
// which ones appeared or disappeared.
func (w *world) visibility(g *guild) map[string]bool {
	seen := make(map[string]bool, len(g.channels))
	for id, ch := range g.channels {
		seen[id] = w.botSees(g, ch)
	}
	return seen
}

// visibilityEvents is one CHANNEL_UPDATE per channel whose visibility to the bot changed since
// before: Discord sends the full channel to a bot that gains access, and the obfuscated one to a
// bot that loses it. skip names a channel whose own update is sent anyway.
func (w *world) visibilityEvents(g *guild, before map[string]bool, skip string) []event {
	var events []event
	for _, ch := range g.sortedChannels() {
		if ch.ID != skip && before[ch.ID] != w.botSees(g, ch) {
			events = append(events, w.channelEvent(g, "CHANNEL_UPDATE", ch))
		}
	}
	return events
}

// overwriteBits is the union of the bits allowed or denied by the overwrites of next that are not
// already in cur: those the bot must hold to set them.
func overwriteBits(cur, next []PermissionOverwrite) Permissions {
	var bits Permissions
	for _, o := range next {
		if !slices.Contains(cur, o) {
			bits |= o.Allow | o.Deny
		}
	}
	return bits
}

// createChannel validates p and adds the channel to the guild, as POST /guilds/{id}/channels.
// byBot says the bot asks (over REST), so its permissions apply; a guild admin (the control API)
// needs none.
func (w *world) createChannel(guildID string, p channelParams, byBot bool) (Channel, []event, *APIError) {
	g, apiErr := w.guild(guildID)
	if apiErr != nil {
		return Channel{}, nil, apiErr
	}
	if byBot {
		// In a category, the category's overwrites decide; elsewhere the guild-wide permissions.
		var parent *Channel
		if p.parentID != nil {
			parent = g.channels[*p.parentID]
		}
		if apiErr := w.botCan(g, parent, PermissionManageChannels); apiErr != nil {
			return Channel{}, nil, apiErr
		}
	}
	if len(g.channels) >= g.maxChannels {
		return Channel{}, nil, errMaxChannels(g.maxChannels)
	}
	ch, apiErr := w.validateChannel(g, nil, p)
	if apiErr != nil {
		return Channel{}, nil, apiErr
	}
	if byBot && len(ch.PermissionOverwrites) > 0 {
		if apiErr := w.botMayGrant(g, nil, ch.ParentID, overwriteBits(nil, ch.PermissionOverwrites)); apiErr != nil {
			return Channel{}, nil, apiErr
		}
	}
	w.putChannel(g, ch)
	return cloneChannel(ch), []event{w.channelEvent(g, "CHANNEL_CREATE", ch)}, nil
}

// updateChannel validates p against the channel and applies it, as PATCH /channels/{id}.
func (w *world) updateChannel(channelID string, p channelParams, byBot bool) (Channel, []event, *APIError) {
	g, cur, apiErr := w.channel(channelID)
	if apiErr != nil {
		return Channel{}, nil, apiErr
	}
	if byBot {
		if apiErr := w.botCan(g, cur, PermissionManageChannels); apiErr != nil {
			return Channel{}, nil, apiErr
		}
	}
	ch, apiErr := w.validateChannel(g, cur, p)
	if apiErr != nil {
		return Channel{}, nil, apiErr
	}
	if bits := overwriteBits(cur.PermissionOverwrites, ch.PermissionOverwrites); byBot && (bits != 0 || len(ch.PermissionOverwrites) != len(cur.PermissionOverwrites)) {
		if apiErr := w.botMayGrant(g, cur, cur.ParentID, bits); apiErr != nil {
			return Channel{}, nil, apiErr
		}
	}
	*cur = *ch
	return cloneChannel(cur), []event{w.channelEvent(g, "CHANNEL_UPDATE", cur)}, nil
}

// deleteChannel removes a channel, as DELETE /channels/{id}: users in a deleted voice channel are
// disconnected and the children of a deleted category move to the top level, as on Discord.
func (w *world) deleteChannel(channelID string, byBot bool) (Channel, []event, *APIError) {
	g, ch, apiErr := w.channel(channelID)
	if apiErr != nil {
		return Channel{}, nil, apiErr
	}
	if byBot {
		if apiErr := w.botCan(g, ch, PermissionManageChannels); apiErr != nil {
			return Channel{}, nil, apiErr
		}
	}
	var events []event
	for _, vs := range g.sortedVoice() {
		if vs.ChannelID == channelID {
			events = append(events, w.leaveVoice(g, vs.UserID)...)
		}
	}
	delete(g.channels, channelID)
	delete(w.channelGuild, channelID)
	events = append(events, w.channelEvent(g, "CHANNEL_DELETE", ch))
	if ch.Type == ChannelTypeGuildCategory {
		for _, child := range g.sortedChannels() {
			if child.ParentID == channelID {
				child.ParentID = ""
				events = append(events, w.channelEvent(g, "CHANNEL_UPDATE", child))
			}
		}
	}
	return cloneChannel(ch), events, nil
}

// reorderChannels moves channels, as PATCH /guilds/{id}/channels: every change is checked before
// any applies, and each channel that moved gets a CHANNEL_UPDATE.
func (w *world) reorderChannels(guildID string, changes []positionChange, byBot bool) ([]event, *APIError) {
	g, apiErr := w.guild(guildID)
	if apiErr != nil {
		return nil, apiErr
	}
	if byBot {
		if apiErr := w.botCan(g, nil, PermissionManageChannels); apiErr != nil {
			return nil, apiErr
		}
	}
	errs := formErrors{}
	for i, pc := range changes {
		at := strconv.Itoa(i)
		ch, ok := g.channels[pc.id]
		if !ok {
			return nil, errUnknownChannel()
		}
		if pc.position != nil && *pc.position < 0 {
			errs.add([]string{at, "position"}, "NUMBER_TYPE_MIN", "int value should be greater than or equal to 0.")
		}
		if pc.parentID != nil && *pc.parentID != "" {
			parent, ok := g.channels[*pc.parentID]
			switch {
			case ch.Type == ChannelTypeGuildCategory:
				errs.add([]string{at, "parent_id"}, "CHANNEL_PARENT_INVALID_TYPE", "Categories cannot have subcategories")
			case !ok || parent.Type != ChannelTypeGuildCategory:
				errs.add([]string{at, "parent_id"}, "CHANNEL_PARENT_INVALID", "Category does not exist")
			}
		}
	}
	if apiErr := errs.apiError(); apiErr != nil {
		return nil, apiErr
	}
	changed := map[string]bool{}
	for _, pc := range changes {
		ch := g.channels[pc.id]
		if pc.position != nil && *pc.position != ch.Position {
			ch.Position = *pc.position
			changed[ch.ID] = true
		}
		if pc.parentID != nil && *pc.parentID != ch.ParentID {
			ch.ParentID = *pc.parentID
			changed[ch.ID] = true
		}
	}
	var events []event
	for _, ch := range g.sortedChannels() {
		if changed[ch.ID] {
			events = append(events, w.channelEvent(g, "CHANNEL_UPDATE", ch))
		}
	}
	return events, nil
}

// addUser adds an emulated user to every guild.
func (w *world) addUser(u User) (User, []event, error) {
	if u.ID == "" {
		u.ID = w.ids.next()
	} else if !isSnowflake(u.ID) {
		return User{}, nil, fmt.Errorf("user ID %q is not a snowflake", u.ID)
	}
	if _, dup := w.users[u.ID]; dup {
		return User{}, nil, fmt.Errorf("user %s already exists", u.ID)
	}
	if n := len([]rune(u.Username)); n < 2 || n > 32 {
		return User{}, nil, fmt.Errorf("username must be 2 to 32 characters long")
	}
	if n := len([]rune(u.GlobalName)); n > 32 {
		return User{}, nil, fmt.Errorf("global name must be at most 32 characters long")
	}
	w.ids.observe(u.ID)
	u.Bot = false
	w.users[u.ID] = &u
	w.userOrder = append(w.userOrder, u.ID)
	now := time.Now().UTC()
	var events []event
	for _, gid := range w.order {
		g := w.guilds[gid]
		g.members[u.ID] = now
		add := wireMember(g, &u, now)
		add["guild_id"] = g.ID
		events = append(events, event{name: "GUILD_MEMBER_ADD", guildID: g.ID, intent: IntentGuildMembers, data: add})
	}
	return u, events, nil
}

// joinVoice puts a member into a voice channel of g, or moves them there, then applies flags (if
// any); one VOICE_STATE_UPDATE tells the result. sessionID is the user's gateway session, or empty
// for an emulated user, who gets a random one.
func (w *world) joinVoice(g *guild, userID, channelID, sessionID string, flags *VoiceFlags) ([]event, *APIError) {
	u, ok := w.users[userID]
	if !ok || !g.isMember(userID) {
		return nil, errUnknownMember()
	}
	ch, ok := g.channels[channelID]
	if !ok {
		return nil, errUnknownChannel()
	}
	if ch.Type != ChannelTypeGuildVoice {
		return nil, &APIError{Status: 400, Code: 50024, Message: "Cannot execute action on this channel type"}
	}
	vs, inVoice := g.voice[userID]
	moving := !inVoice || vs.ChannelID != channelID
	if moving && ch.UserLimit > 0 && !u.Bot && g.voiceCount(channelID) >= ch.UserLimit {
		return nil, &APIError{Status: 400, Code: 0, Message: "Voice channel is full"}
	}
	if !inVoice {
		vs = &VoiceState{GuildID: g.ID, UserID: userID, SessionID: randomHex(16)}
		g.voice[userID] = vs
	}
	if sessionID != "" {
		vs.SessionID = sessionID
	}
	vs.ChannelID = channelID
	if flags != nil {
		vs.apply(*flags)
	}
	return []event{w.voiceEvent(g, vs, u)}, nil
}

// leaveVoice disconnects a user from voice in g; it does nothing for a user not in voice.
func (w *world) leaveVoice(g *guild, userID string) []event {
	vs, ok := g.voice[userID]
	if !ok {
		return nil
	}
	delete(g.voice, userID)
	left := *vs
	left.ChannelID = ""
	return []event{w.voiceEvent(g, &left, w.users[userID])}
}

// setVoiceFlags changes the flags of a user who is in voice.
func (w *world) setVoiceFlags(g *guild, userID string, f VoiceFlags) ([]event, *APIError) {
	vs, ok := g.voice[userID]
	if !ok {
		return nil, &APIError{Status: 400, Code: 40032, Message: "Target user is not connected to voice."}
	}
	vs.apply(f)
	return []event{w.voiceEvent(g, vs, w.users[userID])}, nil
}

// apply sets the flags f carries.
func (vs *VoiceState) apply(f VoiceFlags) {
	for _, c := range []struct {
		from *bool
		to   *bool
	}{
		{f.Mute, &vs.Mute}, {f.Deaf, &vs.Deaf}, {f.SelfMute, &vs.SelfMute}, {f.SelfDeaf, &vs.SelfDeaf},
		{f.SelfVideo, &vs.SelfVideo}, {f.SelfStream, &vs.SelfStream},
	} {
		if c.from != nil {
			*c.to = *c.from
		}
	}
}

// inChannel reports whether a user is in the given voice channel.
func (g *guild) inChannel(userID, channelID string) bool {
	vs, ok := g.voice[userID]
	return ok && vs.ChannelID == channelID
}

func (g *guild) isMember(userID string) bool {
	_, ok := g.members[userID]
	return ok
}

func (g *guild) voiceCount(channelID string) int {
	n := 0
	for _, vs := range g.voice {
		if vs.ChannelID == channelID {
			n++
		}
	}
	return n
}

func (w *world) voiceEvent(g *guild, vs *VoiceState, u *User) event {
	data := wireVoiceState(vs, true)
	data["member"] = wireMember(g, u, g.members[u.ID])
	state := *vs
	return event{name: "VOICE_STATE_UPDATE", guildID: g.ID, intent: IntentGuildVoiceStates, data: data, voice: &state}
}

// state copies the world for the control API.
func (w *world) state() State {
	st := State{Bot: w.bot, VoiceBots: append([]User(nil), w.voiceBots...)}
	for _, uid := range w.userOrder {
		if uid != w.bot.ID && !slices.ContainsFunc(w.voiceBots, func(u User) bool { return u.ID == uid }) {
			st.Users = append(st.Users, *w.users[uid])
		}
	}
	for _, gid := range w.order {
		st.Guilds = append(st.Guilds, w.guildState(w.guilds[gid]))
	}
	return st
}

func (w *world) guildState(g *guild) GuildState {
	gs := GuildState{Guild: g.Guild, Roles: []Role{}, Channels: []Channel{}, VoiceStates: []VoiceState{}}
	for _, r := range g.roles {
		gs.Roles = append(gs.Roles, *r)
	}
	for _, c := range g.sortedChannels() {
		gs.Channels = append(gs.Channels, cloneChannel(c))
	}
	for _, vs := range g.sortedVoice() {
		gs.VoiceStates = append(gs.VoiceStates, *vs)
	}
	for _, uid := range w.userOrder {
		if _, ok := g.members[uid]; ok {
			gs.Members = append(gs.Members, *w.users[uid])
		}
	}
	return gs
}

func cloneChannel(c *Channel) Channel {
	out := *c
	out.PermissionOverwrites = slices.Clone(c.PermissionOverwrites)
	if out.PermissionOverwrites == nil {
		out.PermissionOverwrites = []PermissionOverwrite{}
	}
	return out
}
