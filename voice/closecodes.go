package voice

import (
	"errors"
	"fmt"

	"github.com/coder/websocket"
)

// Voice gateway close codes (docs/voice.md, "Lifecycle and close codes", and Discord's documentation).
const (
	CloseUnknownOpcode         = 4001
	CloseFailedToDecode        = 4002
	CloseNotAuthenticated      = 4003
	CloseAuthenticationFailed  = 4004
	CloseAlreadyAuthenticated  = 4005
	CloseSessionNoLongerValid  = 4006
	CloseSessionTimeout        = 4009
	CloseServerNotFound        = 4011
	CloseUnknownProtocol       = 4012
	CloseDisconnected          = 4014
	CloseVoiceServerCrashed    = 4015
	CloseUnknownEncryptionMode = 4016
	CloseDAVERequired          = 4017
	CloseBadRequest            = 4020
	CloseRateLimited           = 4021
	CloseCallTerminated        = 4022
)

// CloseAction is what the client does after the voice gateway closes.
type CloseAction int

const (
	// ActionResume reconnects and resumes the session (op 7), keeping the UDP transport and
	// key, and receives the messages it missed.
	ActionResume CloseAction = iota
	// ActionReconnect starts a new session on the same grant: identify, UDP and key anew.
	ActionReconnect
	// ActionStop gives up: Discord said not to come back, or retrying cannot help.
	ActionStop
)

// String names the action.
func (a CloseAction) String() string {
	switch a {
	case ActionResume:
		return "resume"
	case ActionReconnect:
		return "reconnect"
	case ActionStop:
		return "stop"
	}
	return fmt.Sprintf("CloseAction(%d)", int(a))
}

// ActionForClose says what to do after the voice gateway closed with code:
//
//   - resume: 4015 (voice server crashed), and anything below 4000 except a normal closure
//     (1000), which includes a dropped connection (1006) and going away (1001): the session
//     is intact on the server;
//   - reconnect from scratch: 4006 (session no longer valid) and 4009 (session timed out);
//   - stop: 1000, 4001-4005 (the client sent something wrong, or its token was refused),
//     4011, 4012, 4014 (disconnected: kicked, channel deleted, moved, or the main session
//     ended), 4016 (unknown encryption mode), 4017 (DAVE required), 4020, 4021 (rate
//     limited), 4022 (call terminated), and any other 4xxx code, unknown and so not safe to
//     retry in a loop.
func ActionForClose(code int) CloseAction {
	switch {
	case code == int(websocket.StatusNormalClosure):
		return ActionStop
	case code < 4000:
		return ActionResume
	case code == CloseVoiceServerCrashed:
		return ActionResume
	case code == CloseSessionNoLongerValid, code == CloseSessionTimeout:
		return ActionReconnect
	}
	return ActionStop
}

// CloseError is the voice gateway's close frame (or, with Code 1006, a connection that ended
// without one).
type CloseError struct {
	Code   int
	Reason string
}

// Error names the code, as Discord documents it, with the server's reason.
func (e *CloseError) Error() string {
	name := closeCodeNames[e.Code]
	if name == "" {
		name = "closed"
	}
	if e.Reason != "" {
		return fmt.Sprintf("voice gateway: %s (%d): %s", name, e.Code, e.Reason)
	}
	return fmt.Sprintf("voice gateway: %s (%d)", name, e.Code)
}

// Action is ActionForClose(e.Code).
func (e *CloseError) Action() CloseAction { return ActionForClose(e.Code) }

var closeCodeNames = map[int]string{
	1000:                       "normal closure",
	1001:                       "going away",
	1006:                       "connection lost",
	CloseUnknownOpcode:         "unknown opcode",
	CloseFailedToDecode:        "failed to decode payload",
	CloseNotAuthenticated:      "not authenticated",
	CloseAuthenticationFailed:  "authentication failed",
	CloseAlreadyAuthenticated:  "already authenticated",
	CloseSessionNoLongerValid:  "session no longer valid",
	CloseSessionTimeout:        "session timeout",
	CloseServerNotFound:        "server not found",
	CloseUnknownProtocol:       "unknown protocol",
	CloseDisconnected:          "disconnected",
	CloseVoiceServerCrashed:    "voice server crashed",
	CloseUnknownEncryptionMode: "unknown encryption mode",
	CloseDAVERequired:          "E2EE/DAVE protocol required",
	CloseBadRequest:            "bad request",
	CloseRateLimited:           "rate limited",
	CloseCallTerminated:        "call terminated",
}

// asCloseError turns a WebSocket read error into a CloseError: the server's close frame, or
// 1006 when the connection ended without one.
func asCloseError(err error) *CloseError {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return &CloseError{Code: int(ce.Code), Reason: ce.Reason}
	}
	var own *CloseError
	if errors.As(err, &own) {
		return own
	}
	return &CloseError{Code: int(websocket.StatusAbnormalClosure), Reason: err.Error()}
}
