package voicectl

import (
	"fmt"
	"net/http"
)

// Error is why a control operation failed: an HTTP status, a stable code for programs and a
// message for people. The control endpoint answers it as {"error":{"code":..,"message":..}},
// and the Client returns one for such an answer. Messages never hold a secret.
type Error struct {
	// Status is the HTTP status the endpoint answers with.
	Status int `json:"-"`
	// Code is one of the Code constants.
	Code string `json:"code"`
	// Message explains the failure.
	Message string `json:"message"`
}

// Error returns the code and the message.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Error codes, stable identifiers of the failures.
const (
	// CodeBadRequest: the request is malformed (JSON, a missing or invalid field).
	CodeBadRequest = "bad_request"
	// CodeBadPath: a file or directory name is absolute, leaves its directory, or is not a
	// plain relative path.
	CodeBadPath = "bad_path"
	// CodeUnauthorized: the request is unsigned, stale, or signed with another secret.
	CodeUnauthorized = "unauthorized"
	// CodeReplayed: the request id was used already; every request is signed afresh.
	CodeReplayed = "replayed"
	// CodeTooLarge: the body exceeds the handler's limit.
	CodeTooLarge = "too_large"
	// CodeTooManyRequests: more signed requests arrived within the signature tolerance than
	// the handler remembers.
	CodeTooManyRequests = "too_many_requests"
	// CodeNotConfigured: playing or recording asked for, but its directory is not configured.
	CodeNotConfigured = "not_configured"
	// CodeNotReady: the gateway is not connected or the guild's state not known yet.
	CodeNotReady = "not_ready"
	// CodeNotARoom: the channel is not a room (not a voice channel under the category, or gone).
	CodeNotARoom = "not_a_room"
	// CodeJoinInProgress: another join, or a leave, is under way.
	CodeJoinInProgress = "join_in_progress"
	// CodeAlreadyConnected: the bot is in another room; leave it first.
	CodeAlreadyConnected = "already_connected"
	// CodeNotConnected: the operation needs a call and there is none.
	CodeNotConnected = "not_connected"
	// CodeJoinTimeout: Discord did not send the voice session and server in time.
	CodeJoinTimeout = "join_timeout"
	// CodeJoinCancelled: a leave, a shutdown, or Discord taking the bot out of the room
	// interrupted the join.
	CodeJoinCancelled = "join_cancelled"
	// CodeEncryptionRefused: the voice server and the worker share no transport encryption
	// mode (or the server refused the one chosen, close code 4016).
	CodeEncryptionRefused = "encryption_refused"
	// CodeDAVERequired: the voice server requires end-to-end encryption (close code 4017).
	CodeDAVERequired = "dave_required"
	// CodeVoiceRefused: the voice connection failed for another reason, given in the message.
	CodeVoiceRefused = "voice_refused"
	// CodeFileNotFound: the file to play does not exist under the media directory.
	CodeFileNotFound = "file_not_found"
	// CodeBadMedia: the file to play is not an Ogg Opus file.
	CodeBadMedia = "bad_media"
	// CodeAlreadyPlaying: a file is playing; stop it first.
	CodeAlreadyPlaying = "already_playing"
	// CodeAlreadyRecording: a recording is running; stop it first.
	CodeAlreadyRecording = "already_recording"
	// CodeNotPlaying: a stop asked for, and nothing plays.
	CodeNotPlaying = "not_playing"
	// CodeNotRecording: a stop asked for, and nothing is recorded.
	CodeNotRecording = "not_recording"
	// CodeRecordingExists: the recording directory exists already; recordings never overwrite.
	CodeRecordingExists = "recording_exists"
	// CodeNoFreeVoiceBot: table view asked for a room while the voice bot is in another.
	CodeNoFreeVoiceBot = "no_free_voice_bot"
	// CodeBadOffer: the SDP offer is malformed.
	CodeBadOffer = "bad_offer"
	// CodeNothingToReceive: the offer receives neither VP8 video nor Opus audio.
	CodeNothingToReceive = "nothing_to_receive"
	// CodeTooManySessions: the viewer holds the most viewing sessions allowed.
	CodeTooManySessions = "too_many_sessions"
	// CodeRelayFull: the relay holds the most viewing sessions allowed (or is stopping).
	CodeRelayFull = "relay_full"
	// CodeNoSession: no such viewing session.
	CodeNoSession = "no_session"
	// CodeNotYours: the viewing session belongs to another viewer.
	CodeNotYours = "not_yours"
	// CodeNotFound: no such control path.
	CodeNotFound = "not_found"
	// CodeInternal: an unexpected failure, given in the message.
	CodeInternal = "internal"
)

func newError(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *Error {
	return newError(http.StatusBadRequest, CodeBadRequest, format, args...)
}

func conflict(code, format string, args ...any) *Error {
	return newError(http.StatusConflict, code, format, args...)
}
