package voice

// Event is something the voice connection reports through Config.OnEvent: one of
// *SpeakingEvent, *ClientsConnectEvent, *ClientDisconnectEvent, *VideoEvent or *StateEvent.
type Event interface {
	voiceEvent()
}

// SpeakingEvent is op 5 about another user: which SSRC carries their audio, and whether they
// are speaking now.
type SpeakingEvent struct {
	UserID   string
	SSRC     uint32
	Speaking SpeakingFlags
}

// ClientsConnectEvent is op 11: users who joined the call (or were there when the bot joined).
type ClientsConnectEvent struct {
	UserIDs []string
}

// ClientDisconnectEvent is op 13: a user left the call.
type ClientDisconnectEvent struct {
	UserID string
}

// VideoEvent is op 12 from the server: the SSRCs another user sends audio and video with
// (VideoSSRC 0 when their video stopped).
type VideoEvent struct {
	UserID    string
	AudioSSRC uint32
	VideoSSRC uint32
}

// State is the connection's lifecycle state.
type State int

// Connection states.
const (
	// StateReady: the session is established and media flows.
	StateReady State = iota
	// StateResumed: the WebSocket was replaced and the session resumed; media continued.
	StateResumed
	// StateReconnecting: the WebSocket closed; a resume or a new session is under way.
	StateReconnecting
	// StateClosed: the connection ended for good; Err says why.
	StateClosed
)

// String names the state.
func (s State) String() string {
	switch s {
	case StateReady:
		return "ready"
	case StateResumed:
		return "resumed"
	case StateReconnecting:
		return "reconnecting"
	case StateClosed:
		return "closed"
	}
	return "unknown"
}

// StateEvent reports a change of the connection's state. Err is the cause of reconnecting or
// closing (a *CloseError for the voice gateway's close codes); nil after Close.
type StateEvent struct {
	State State
	Err   error
}

func (*SpeakingEvent) voiceEvent()         {}
func (*ClientsConnectEvent) voiceEvent()   {}
func (*ClientDisconnectEvent) voiceEvent() {}
func (*VideoEvent) voiceEvent()            {}
func (*StateEvent) voiceEvent()            {}

// MediaKind says whether a frame is audio or video.
type MediaKind int

// Media kinds.
const (
	MediaAudio MediaKind = iota
	// MediaVideo is VP8 video.
	MediaVideo
	// MediaVideoH264 is H.264 video (Annex B access units).
	MediaVideoH264
)

// AudioFrame is one Opus packet received from another user, in sequence order. Opus is valid
// only during the HandleAudio call.
type AudioFrame struct {
	UserID    string // "" while the SSRC is not yet mapped to a user
	SSRC      uint32
	Sequence  uint16
	Timestamp uint32
	Opus      []byte
	// LostBefore is how many packets were lost just before this one.
	LostBefore int
}

// VideoFrame is one reassembled video frame from another user: a VP8 frame, or an H.264 access
// unit (Annex B, 4-byte start codes). Frame is valid only during the HandleVideo call.
type VideoFrame struct {
	UserID    string
	SSRC      uint32
	Codec     VideoCodec
	Timestamp uint32 // 90 kHz
	Keyframe  bool
	Frame     []byte
}

// MediaHandler receives other users' media. Calls come from one goroutine, in order per
// sender; they must not block for long (packets queue in the socket meanwhile).
type MediaHandler interface {
	HandleAudio(*AudioFrame)
	HandleVideo(*VideoFrame)
}

// FrameEncryptor transforms an encoded frame before it is packetized: the place of DAVE's
// frame encryption. It appends the result to dst and returns it. Opus silence frames are
// passed through without calling it.
type FrameEncryptor interface {
	EncryptFrame(kind MediaKind, dst, frame []byte) ([]byte, error)
}

// FrameDecryptor undoes a sender's FrameEncryptor on a received frame, appending to dst.
type FrameDecryptor interface {
	DecryptFrame(kind MediaKind, userID string, dst, frame []byte) ([]byte, error)
}
