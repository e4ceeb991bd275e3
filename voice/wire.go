package voice

import (
	"encoding/json"
)

// Voice gateway opcodes (docs/voice.md, "Lifecycle and close codes", and Discord's documentation).
const (
	opIdentify           = 0
	opSelectProtocol     = 1
	opReady              = 2
	opHeartbeat          = 3
	opSessionDescription = 4
	opSpeaking           = 5
	opHeartbeatAck       = 6
	opResume             = 7
	opHello              = 8
	opResumed            = 9
	opClientsConnect     = 11
	opVideo              = 12
	opClientDisconnect   = 13
	opMediaSinkWants     = 15
)

// gatewayVersion is the voice gateway version: v8 adds buffered resume (seq / seq_ack).
const gatewayVersion = 8

// envelope is every voice gateway message: op, d, and (v8, server to client) seq.
type envelope struct {
	Op  int             `json:"op"`
	D   json.RawMessage `json:"d"`
	Seq *int64          `json:"seq,omitempty"`
}

type outEnvelope struct {
	Op int `json:"op"`
	D  any `json:"d"`
}

type identifyData struct {
	ServerID               string `json:"server_id"`
	UserID                 string `json:"user_id"`
	SessionID              string `json:"session_id"`
	Token                  string `json:"token"`
	MaxDAVEProtocolVersion int    `json:"max_dave_protocol_version"`
}

type resumeData struct {
	ServerID  string `json:"server_id"`
	SessionID string `json:"session_id"`
	Token     string `json:"token"`
	SeqAck    int64  `json:"seq_ack"`
}

type heartbeatData struct {
	T      int64 `json:"t"`
	SeqAck int64 `json:"seq_ack"`
}

type heartbeatAckData struct {
	T json.Number `json:"t"`
}

type helloData struct {
	HeartbeatInterval float64 `json:"heartbeat_interval"`
}

type readyStream struct {
	Type    string `json:"type"`
	SSRC    uint32 `json:"ssrc"`
	RTXSSRC uint32 `json:"rtx_ssrc"`
	RID     string `json:"rid"`
	Quality int    `json:"quality"`
	Active  bool   `json:"active"`
}

type readyData struct {
	SSRC    uint32        `json:"ssrc"`
	IP      string        `json:"ip"`
	Port    int           `json:"port"`
	Modes   []string      `json:"modes"`
	Streams []readyStream `json:"streams"`
}

type codecDesc struct {
	Name           string `json:"name"`
	Type           string `json:"type"`
	Priority       int    `json:"priority"`
	PayloadType    int    `json:"payload_type"`
	RTXPayloadType int    `json:"rtx_payload_type,omitempty"`
	Encode         *bool  `json:"encode,omitempty"`
	Decode         *bool  `json:"decode,omitempty"`
}

type selectProtocolData struct {
	Protocol string `json:"protocol"`
	Data     struct {
		Address string `json:"address"`
		Port    int    `json:"port"`
		Mode    Mode   `json:"mode"`
	} `json:"data"`
	Codecs []codecDesc `json:"codecs,omitempty"`
}

type sessionDescriptionData struct {
	Mode                Mode  `json:"mode"`
	SecretKey           []int `json:"secret_key"`
	DAVEProtocolVersion int   `json:"dave_protocol_version"`
	// AudioCodec and VideoCodec are the codecs the voice server picked for the call, e.g.
	// "opus" and "VP8".
	AudioCodec string `json:"audio_codec,omitempty"`
	VideoCodec string `json:"video_codec,omitempty"`
}

// speakingOut is op 5 from the client.
type speakingOut struct {
	Speaking SpeakingFlags `json:"speaking"`
	Delay    int           `json:"delay"`
	SSRC     uint32        `json:"ssrc"`
}

// speakingIn is op 5 from the server, about another user.
type speakingIn struct {
	UserID   string        `json:"user_id"`
	SSRC     uint32        `json:"ssrc"`
	Speaking SpeakingFlags `json:"speaking"`
}

type clientsConnectData struct {
	UserIDs []string `json:"user_ids"`
}

type clientDisconnectData struct {
	UserID string `json:"user_id"`
}

// videoStream describes one simulcast layer in op 12.
type videoStream struct {
	Type          string         `json:"type"`
	RID           string         `json:"rid"`
	SSRC          uint32         `json:"ssrc"`
	RTXSSRC       uint32         `json:"rtx_ssrc"`
	Active        bool           `json:"active"`
	Quality       int            `json:"quality"`
	MaxBitrate    int            `json:"max_bitrate,omitempty"`
	MaxFramerate  int            `json:"max_framerate,omitempty"`
	MaxResolution *maxResolution `json:"max_resolution,omitempty"`
}

type maxResolution struct {
	Type   string `json:"type"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

// videoData is op 12: from the client it announces its video; from the server it tells which
// SSRCs another user's audio and video use.
type videoData struct {
	UserID     string        `json:"user_id,omitempty"`
	AudioSSRC  uint32        `json:"audio_ssrc"`
	VideoSSRC  uint32        `json:"video_ssrc"`
	RTXSSRC    uint32        `json:"rtx_ssrc"`
	Streams    []videoStream `json:"streams"`
	MediaFlags int           `json:"media_session_flags,omitempty"`
}

// SpeakingFlags is the speaking bit set of op 5.
type SpeakingFlags int

// Speaking flags.
const (
	SpeakingMicrophone SpeakingFlags = 1 << 0
	SpeakingSoundshare SpeakingFlags = 1 << 1
	SpeakingPriority   SpeakingFlags = 1 << 2
)
