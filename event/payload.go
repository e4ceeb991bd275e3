package event

// Room is a voice channel under the configured category, as the edge and browsers see it.
type Room struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	UserLimit int    `json:"user_limit"`
	Position  int    `json:"position"`
	// OwnerID is the Discord user id of the member who created the room through the rooms API, if any.
	OwnerID string `json:"owner_id,omitempty"`
	// TableView is set while the room's owner lets the bot relay its members' cameras and voices
	// to the page (docs/table.md).
	TableView bool `json:"table_view,omitempty"`
}

// Member is a user in a room's voice channel and the state of their microphone, camera and stream.
type Member struct {
	UserID     string `json:"user_id"`
	Username   string `json:"username"`
	GlobalName string `json:"global_name"`
	Avatar     string `json:"avatar"`
	SelfMute   bool   `json:"self_mute"`
	SelfDeaf   bool   `json:"self_deaf"`
	Mute       bool   `json:"mute"`
	Deaf       bool   `json:"deaf"`
	SelfVideo  bool   `json:"self_video"`
	SelfStream bool   `json:"self_stream"`
	// Bot is set for bot accounts (the relaying bot among them); absent for people.
	Bot bool `json:"bot,omitempty"`
}

// RoomState is a room with the members currently in it, as carried by snapshots.
type RoomState struct {
	Room
	Members []Member `json:"members"`
}

// RoomPayload is the data of room.created and room.updated.
type RoomPayload struct {
	Room Room `json:"room"`
}

// RoomDeletedPayload is the data of room.deleted.
type RoomDeletedPayload struct {
	RoomID string `json:"room_id"`
}

// VoiceMemberPayload is the data of voice.joined and voice.updated.
type VoiceMemberPayload struct {
	RoomID string `json:"room_id"`
	Member Member `json:"member"`
}

// VoiceLeftPayload is the data of voice.left.
type VoiceLeftPayload struct {
	RoomID string `json:"room_id"`
	UserID string `json:"user_id"`
}

// SnapshotPayload is the data of snapshot: every room with its members, replacing all prior state.
type SnapshotPayload struct {
	Rooms []RoomState `json:"rooms"`
}

// Discord link states carried by system.status.
const (
	DiscordUp           = "up"
	DiscordReconnecting = "reconnecting"
	DiscordDown         = "down"
)

// SystemStatusPayload is the data of system.status.
type SystemStatusPayload struct {
	Discord string `json:"discord"`
}
