// Package stream is the edge's WebSocket event stream to browsers (docs/protocol.md, "Event stream"):
// first-message authentication, re-authentication, token expiry, pings, client messages, error frames
// and every close code. It knows nothing of Caddy: the coven_ws handler checks the origin, upgrades
// the request and hands the connection to a Server.
//
// A client connects, then authenticates with its first message,
// {"type":"auth","token":"<JWT>","resume":{"epoch":"...","seq":N}} ("resume" optional; with an
// "Authorization: Bearer" header on the upgrade the token may be omitted, but the first message is still
// expected, carrying "resume" if any). The server answers one hello, then events in order, each once.
// A client re-sends an auth message before its token expires to extend the session; otherwise the
// stream closes with 4003 at expiry. {"type":"ping"} is answered {"type":"pong"}; the server also sends
// WebSocket pings and drops a client that does not answer one within PingTimeout.
//
// Frames come from the hub already serialized. When a client has several queued they arrive as one
// WebSocket message, joined by '\n'; a client splits each message on '\n'.
//
// Every session ends the same way, whatever ends it (the client, a bad message, a limit, a timer, the
// hub): the subscription is removed, the timers stopped, the connection closed, and every goroutine of
// the session gone.
package stream
