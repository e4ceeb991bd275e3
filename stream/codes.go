package stream

import (
	"github.com/coder/websocket"

	"github.com/spellcoven/gateway/hub"
)

// Close codes of the stream (docs/protocol.md, "Errors and close codes"). The hub's own codes are
// defined in package hub, which closes connections with them.
const (
	// CloseUnauthorized: a bad token, or a re-auth for another subject. Get a new token, reconnect.
	CloseUnauthorized websocket.StatusCode = 4001
	// CloseNoAuth: no auth message within AuthTimeout.
	CloseNoAuth websocket.StatusCode = 4002
	// CloseTokenExpired: the token expired without a re-auth. Refresh it, reconnect with resume.
	CloseTokenExpired websocket.StatusCode = 4003
	// CloseTooManyStreams: the token's subject holds MaxPerSubject streams already. Close one, then
	// reconnect (with backoff).
	CloseTooManyStreams websocket.StatusCode = 4005
	// CloseRateLimited: the client sent messages faster than MessageRate, or its subject opened streams
	// faster than StreamRate. Reconnect with backoff.
	CloseRateLimited websocket.StatusCode = 4029
	// CloseTooSlow: the client's queue filled up or a write stalled (closed by the hub).
	CloseTooSlow websocket.StatusCode = hub.CloseTooSlow
	// CloseRestarting: a configuration change, shutdown or restored state (closed by the hub).
	CloseRestarting websocket.StatusCode = hub.CloseRestarting
	// ClosePolicyViolation: a malformed or unknown client message.
	ClosePolicyViolation = websocket.StatusPolicyViolation
	// CloseUnsupportedData: a binary message.
	CloseUnsupportedData = websocket.StatusUnsupportedData
	// CloseMessageTooBig: a client message over ReadLimit.
	CloseMessageTooBig = websocket.StatusMessageTooBig
	// CloseTryAgainLater: the identity provider or the event stream is unavailable.
	CloseTryAgainLater = websocket.StatusTryAgainLater
)
