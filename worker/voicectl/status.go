package voicectl

import "time"

// States of the Controller, in Status.State.
const (
	// StateIdle: in no room.
	StateIdle = "idle"
	// StateJoining: op 4 sent; waiting for Discord, or connecting to the voice server.
	StateJoining = "joining"
	// StateConnected: in the call; media flows.
	StateConnected = "connected"
	// StateReconnecting: the voice connection dropped and is being resumed or renewed.
	StateReconnecting = "reconnecting"
)

// Reasons a call ended, in CallEnd.Reason.
const (
	// EndLeft: the bot left on request.
	EndLeft = "left"
	// EndDisconnected: Discord took the bot out of the room (its voice state became null, or
	// the voice server closed with 4014): kicked, or the call ended.
	EndDisconnected = "disconnected"
	// EndMoved: the bot's voice state moved to another channel; the bot then leaves voice.
	EndMoved = "moved"
	// EndRoomDeleted: the room was deleted.
	EndRoomDeleted = "room_deleted"
	// EndVoiceClosed: the voice server closed the connection with a code that means stop
	// (CloseCode), or the connection could not be recovered.
	EndVoiceClosed = "voice_closed"
	// EndShutdown: the worker stopped.
	EndShutdown = "shutdown"
	// EndIdle: the bot joined for viewers (table view), and no one watched for
	// TableIdleTimeout.
	EndIdle = "idle"
	// EndTableOff: the bot joined for viewers, and the room's table view was turned off.
	EndTableOff = "table_view_off"
)

// Status is the state of the bot's voice: what GET /voice answers, and every control
// operation on success.
type Status struct {
	// BotID is the bot's user id.
	BotID string `json:"bot_id,omitempty"`
	// State is idle, joining, connected or reconnecting.
	State string `json:"state"`
	// RoomID and RoomName are the room joined or being joined.
	RoomID   string `json:"room_id,omitempty"`
	RoomName string `json:"room_name,omitempty"`
	// Since is when the call was established.
	Since time.Time `json:"since,omitzero"`
	// Mode is the transport encryption mode and SSRC the bot's audio SSRC.
	Mode string `json:"mode,omitempty"`
	SSRC uint32 `json:"ssrc,omitempty"`
	// E2EE is the call's end-to-end encryption (DAVE); absent in transport-only mode.
	E2EE *E2EE `json:"e2ee,omitempty"`
	// Playing is the file being played; LastPlayback the last one that ended.
	Playing      *Playback `json:"playing,omitempty"`
	LastPlayback *Playback `json:"last_playback,omitempty"`
	// Recording is the recording running; LastRecording the last one that ended.
	Recording     *Recording `json:"recording,omitempty"`
	LastRecording *Recording `json:"last_recording,omitempty"`
	// Members are the other users in the call, and whoever sent media during it, by user id.
	Members []Member `json:"members"`
	// Stats are the call's packet counters.
	Stats CallStats `json:"stats"`
	// LastEnd says how the last call ended.
	LastEnd *CallEnd `json:"last_end,omitempty"`
	// Table is table view's state (absent when it is off).
	Table *TableStatus `json:"table,omitempty"`
	// Bots is the status of every voice bot, the main bot (the fields above) first; absent
	// when the main bot is the only one.
	Bots []Status `json:"bots,omitempty"`
}

// E2EE is the state of a call's end-to-end encryption (DAVE).
type E2EE struct {
	// ProtocolVersion is the DAVE version in effect: 0 until the voice server enabled it (or
	// after it downgraded the call), 1 with DAVE.
	ProtocolVersion int `json:"protocol_version"`
	// Active reports whether media is end-to-end encrypted now (the group's first transition
	// executed).
	Active bool `json:"active"`
	// Epoch is the MLS epoch of the call's group; it changes as members join and leave.
	Epoch uint64 `json:"epoch"`
	// PrivacyCode is the call's 30-digit code, the same for every member of the group while
	// Active (Discord clients show it to compare out of band).
	PrivacyCode string `json:"privacy_code,omitempty"`
}

// Member is another user of the call and what the bot received from them.
type Member struct {
	// UserID is the user's id, or "ssrc-<n>" for media whose sender was not known.
	UserID string `json:"user_id"`
	// InCall reports whether the user is in the call now.
	InCall bool `json:"in_call"`
	// Speaking and Video are the user's last speaking and video announcements.
	Speaking bool `json:"speaking"`
	Video    bool `json:"video"`
	// AudioPackets counts Opus packets received, AudioLost those lost on the way, VideoFrames
	// the video frames (VP8 or H.264) received.
	AudioPackets uint64 `json:"audio_packets"`
	AudioLost    uint64 `json:"audio_lost"`
	VideoFrames  uint64 `json:"video_frames"`
}

// CallStats are a call's packet counters.
type CallStats struct {
	// PacketsSent counts RTP packets sent; SendDropped those not sent while reconnecting.
	PacketsSent uint64 `json:"packets_sent"`
	SendDropped uint64 `json:"send_dropped"`
	// PacketsReceived counts packets received and decrypted; PacketsLost the audio packets
	// their sequence numbers showed missing; Undecryptable those that failed authentication.
	PacketsReceived uint64 `json:"packets_received"`
	PacketsLost     uint64 `json:"packets_lost"`
	Undecryptable   uint64 `json:"undecryptable"`
	// Resumes and Reconnects count recoveries of the voice connection.
	Resumes    uint64 `json:"resumes"`
	Reconnects uint64 `json:"reconnects"`
}

// Playback is a file played into the call.
type Playback struct {
	// File is the path under the media directory.
	File      string    `json:"file"`
	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
	// Frames counts the Opus frames sent so far (final once ended); Dropped those lost to a
	// reconnection.
	Frames  int `json:"frames"`
	Dropped int `json:"dropped"`
	// Stopped reports a playback stopped on request or by the end of the call.
	Stopped bool `json:"stopped,omitempty"`
	// Error is why the playback failed, if it did.
	Error string `json:"error,omitempty"`
}

// Recording is a recording of the call's members.
type Recording struct {
	// Dir is the recording's directory, under the recordings directory.
	Dir       string    `json:"dir"`
	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
	// Bytes counts the media bytes recorded.
	Bytes int64 `json:"bytes"`
	// Truncated reports that the recording reached its size limit: media after it was not
	// recorded.
	Truncated bool `json:"truncated,omitempty"`
	// Members lists what was recorded of each member so far.
	Members []RecordedMember `json:"members"`
	// Error is the first error writing the files, if any.
	Error string `json:"error,omitempty"`
}

// RecordedMember is what a recording holds of one member.
type RecordedMember struct {
	UserID string `json:"user_id"`
	// AudioFile (Ogg Opus) and VideoFile (IVF) are paths under the recordings directory;
	// empty when none was written.
	AudioFile string `json:"audio_file,omitempty"`
	VideoFile string `json:"video_file,omitempty"`
	// AudioPackets and VideoFrames count what was recorded.
	AudioPackets uint64 `json:"audio_packets"`
	VideoFrames  uint64 `json:"video_frames"`
}

// CallEnd says how a call ended.
type CallEnd struct {
	RoomID string    `json:"room_id"`
	At     time.Time `json:"at"`
	// Reason is one of the End constants.
	Reason string `json:"reason"`
	// Message explains it.
	Message string `json:"message"`
	// CloseCode is the voice gateway's close code, when one ended the call.
	CloseCode int `json:"close_code,omitempty"`
}

// Requests of the control endpoint.

// JoinRequest is the body of POST /voice/join.
type JoinRequest struct {
	RoomID string `json:"room_id"`
}

// LeaveRequest is the body of POST /voice/leave: without RoomID the main bot leaves its room;
// with it, the voice bot in that room leaves.
type LeaveRequest struct {
	RoomID string `json:"room_id,omitempty"`
}

// Actions of PlayRequest and RecordRequest.
const (
	ActionStart = "start"
	ActionStop  = "stop"
)

// PlayRequest is the body of POST /voice/play: start playing File (a path under the media
// directory), or stop the playback.
type PlayRequest struct {
	// Action is "start" (the default) or "stop".
	Action string `json:"action,omitempty"`
	File   string `json:"file,omitempty"`
}

// RecordRequest is the body of POST /voice/record: start recording into Dir (a new directory
// under the recordings directory; empty picks "<room id>-<UTC time>"), or stop.
type RecordRequest struct {
	// Action is "start" or "stop".
	Action string `json:"action"`
	Dir    string `json:"dir,omitempty"`
}
