package discordtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// User is a Discord user: the bot or an emulated person.
type User struct {
	ID         string `json:"id"`
	Username   string `json:"username"`
	GlobalName string `json:"global_name,omitempty"`
	// Avatar is the avatar hash; empty means the default avatar (null on the wire).
	Avatar string `json:"avatar,omitempty"`
	Bot    bool   `json:"bot,omitempty"`
}

// ChannelType is Discord's channel type number.
type ChannelType int

// The channel types the emulator models.
const (
	ChannelTypeGuildText     ChannelType = 0
	ChannelTypeGuildVoice    ChannelType = 2
	ChannelTypeGuildCategory ChannelType = 4
)

// OverwriteType says whether a permission overwrite targets a role (0) or a member (1).
type OverwriteType int

// The permission overwrite types.
const (
	OverwriteTypeRole   OverwriteType = 0
	OverwriteTypeMember OverwriteType = 1
)

// Permissions is a permission bit set. On the wire it is a decimal string, as Discord sends it
// since API v8; a JSON number is accepted on input as well.
type Permissions uint64

// MarshalJSON writes the bit set as a decimal string.
func (p Permissions) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatUint(uint64(p), 10) + `"`), nil
}

// UnmarshalJSON reads a decimal string or a JSON number.
func (p *Permissions) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("permissions %s: not a decimal bit set", b)
	}
	*p = Permissions(v)
	return nil
}

// PermissionOverwrite grants or denies permissions on a channel to a role or a member.
type PermissionOverwrite struct {
	ID    string        `json:"id"`
	Type  OverwriteType `json:"type"`
	Allow Permissions   `json:"allow"`
	Deny  Permissions   `json:"deny"`
}

// Channel is a guild channel. Fields that do not apply to a channel's type are zero.
type Channel struct {
	ID       string      `json:"id"`
	GuildID  string      `json:"guild_id"`
	Type     ChannelType `json:"type"`
	Name     string      `json:"name"`
	Position int         `json:"position"`
	// ParentID is the category holding the channel; empty for top-level channels.
	ParentID             string                `json:"parent_id,omitempty"`
	Topic                string                `json:"topic,omitempty"`
	NSFW                 bool                  `json:"nsfw,omitempty"`
	RateLimitPerUser     int                   `json:"rate_limit_per_user,omitempty"`
	Bitrate              int                   `json:"bitrate,omitempty"`
	UserLimit            int                   `json:"user_limit,omitempty"`
	RTCRegion            string                `json:"rtc_region,omitempty"`
	VideoQualityMode     int                   `json:"video_quality_mode,omitempty"`
	PermissionOverwrites []PermissionOverwrite `json:"permission_overwrites"`
}

// VoiceState is one user's presence in a guild's voice channel.
type VoiceState struct {
	GuildID   string `json:"guild_id"`
	ChannelID string `json:"channel_id"`
	UserID    string `json:"user_id"`
	// SessionID is the user's gateway session: the bot's gateway session ID for the bot.
	SessionID  string `json:"session_id"`
	Mute       bool   `json:"mute"`
	Deaf       bool   `json:"deaf"`
	SelfMute   bool   `json:"self_mute"`
	SelfDeaf   bool   `json:"self_deaf"`
	SelfVideo  bool   `json:"self_video"`
	SelfStream bool   `json:"self_stream"`
	Suppress   bool   `json:"suppress"`
}

// VoiceFlags changes some flags of a voice state; nil fields stay as they are.
type VoiceFlags struct {
	Mute       *bool `json:"mute,omitempty"`
	Deaf       *bool `json:"deaf,omitempty"`
	SelfMute   *bool `json:"self_mute,omitempty"`
	SelfDeaf   *bool `json:"self_deaf,omitempty"`
	SelfVideo  *bool `json:"self_video,omitempty"`
	SelfStream *bool `json:"self_stream,omitempty"`
}

// Role is a guild role. A guild has its @everyone role (whose ID is the guild's) and the bot's
// own role, managed by its integration as Discord creates it when the bot is invited.
type Role struct {
	ID          string      `json:"id"`
	Name        string      `json:"name"`
	Permissions Permissions `json:"permissions"`
	Position    int         `json:"position"`
	// Managed marks the bot's role: no one but the integration may assign it.
	Managed bool `json:"managed"`
	// botID is the bot a managed role belongs to (its tags.bot_id).
	botID string
}

// Guild is a guild the bot is in.
type Guild struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// OwnerID is the guild's owner: a person, not the bot, who holds every permission. The
	// emulator knows them as a user (GET /users/{id}) but does not list them among the members.
	OwnerID string `json:"owner_id"`
	// BotRoleID is the bot's own role, which holds the permissions SetBotPermissions sets.
	BotRoleID string `json:"bot_role_id"`
	// VoiceBotRoleIDs are the voice bots' own roles, in the order of Config.VoiceBots.
	VoiceBotRoleIDs []string `json:"voice_bot_role_ids,omitempty"`
	// RoomsCategoryID is the seeded category that holds rooms.
	RoomsCategoryID string `json:"rooms_category_id"`
}

// GuildState is the emulator's truth about one guild, for tests to compare with what a client saw.
type GuildState struct {
	Guild
	Roles       []Role       `json:"roles"`
	Channels    []Channel    `json:"channels"`
	VoiceStates []VoiceState `json:"voice_states"`
	Members     []User       `json:"members"`
}

// State is the emulator's whole world.
type State struct {
	Bot User `json:"bot"`
	// VoiceBots are the voice bots (Config.VoiceBots); Users holds neither them nor the bot.
	VoiceBots []User       `json:"voice_bots,omitempty"`
	Guilds    []GuildState `json:"guilds"`
	Users     []User       `json:"users"`
}

// Intents is a gateway intents bit set.
type Intents uint64

// The gateway intents the emulator acts on, and the privileged ones it checks.
const (
	IntentGuilds           Intents = 1 << 0
	IntentGuildMembers     Intents = 1 << 1
	IntentGuildVoiceStates Intents = 1 << 7
	IntentGuildPresences   Intents = 1 << 8
	IntentMessageContent   Intents = 1 << 15
)

// privilegedIntents need enabling for the bot (GatewayConfig.PrivilegedIntents).
const privilegedIntents = IntentGuildMembers | IntentGuildPresences | IntentMessageContent

// knownIntents are the intent bits Discord defines; any other bit closes the gateway with 4013.
const knownIntents Intents = 1<<17 - 1 | 1<<20 | 1<<21 | 1<<24 | 1<<25

// Interface guards
var (
	_ json.Marshaler   = Permissions(0)
	_ json.Unmarshaler = (*Permissions)(nil)
)
