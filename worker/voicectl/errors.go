package voicectl

import (
	"net/http"

	"github.com/spellcoven/gateway/worker/control"
)

// Error is why a control operation failed (package control's).
type Error = control.Error

// Error codes, stable identifiers of the failures.
const (
	// CodeBadRequest: the request is malformed (JSON, a missing or invalid field).
	CodeBadRequest = control.CodeBadRequest
	// CodeBadPath: a file or directory name is absolute, leaves its directory, or is not a
	// plain relative path.
	CodeBadPath = "bad_path"
	// CodeUnauthorized: the request is unsigned, stale, or signed with another secret.
	CodeUnauthorized = control.CodeUnauthorized
	// CodeReplayed: the request id was used already; every request is signed afresh.
	CodeReplayed = control.CodeReplayed
	// CodeTooLarge: the body exceeds the handler's limit.
	CodeTooLarge = control.CodeTooLarge
	// CodeTooManyRequests: more signed requests arrived within the signature tolerance than
	// the handler remembers.
	CodeTooManyRequests = control.CodeTooManyRequests
	// CodeNotConfigured: playing or recording asked for, but its directory is not configured.
	CodeNotConfigured = "not_configured"
	// CodeNotReady: the gateway is not connected or the guild's state not known yet.
	CodeNotReady = "not_ready"
	// CodeNotARoom: the channel is not a room (not a voice channel under the category, or gone).
	CodeNotARoom = "not_a_room"
	// CodeJoinInProgress: another join is under way (a join waits for a leave under way).
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
	// CodeNoFreeVoiceBot: every voice bot is in another room (table view, or a join with voice bots).
	CodeNoFreeVoiceBot = control.CodeNoFreeVoiceBot
	// CodeBadOffer: the SDP offer is malformed.
	CodeBadOffer = control.CodeBadOffer
	// CodeNothingToReceive: the offer receives neither VP8 or H.264 video nor Opus audio.
	CodeNothingToReceive = control.CodeNothingToReceive
	// CodeTooManySessions: the viewer holds the most viewing sessions allowed.
	CodeTooManySessions = control.CodeTooManySessions
	// CodeRelayFull: the relay holds the most viewing sessions allowed (or is stopping).
	CodeRelayFull = control.CodeRelayFull
	// CodeNoSession: no such viewing session.
	CodeNoSession = control.CodeNoSession
	// CodeTableViewOff: the room's owner has not turned table view on.
	CodeTableViewOff = control.CodeTableViewOff
	// CodeNotYours: the viewing session belongs to another viewer.
	CodeNotYours = control.CodeNotYours
	// CodeNotFound: no such control path.
	CodeNotFound = control.CodeNotFound
	// CodeInternal: an unexpected failure, given in the message.
	CodeInternal = control.CodeInternal
)

func newError(status int, code, format string, args ...any) *Error {
	return control.NewError(status, code, format, args...)
}

func badRequest(format string, args ...any) *Error {
	return newError(http.StatusBadRequest, CodeBadRequest, format, args...)
}

func conflict(code, format string, args ...any) *Error {
	return newError(http.StatusConflict, code, format, args...)
}
