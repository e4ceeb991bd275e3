package control

import (
	"context"
	"net/http"
)

// Table view: the edge asks the worker for a viewing session of a member of a room, for a
// browser's WHEP offer, and ends it.

// Paths of table view's operations.
const (
	PathWatch   = "/voice/watch"
	PathUnwatch = "/voice/unwatch"
)

// WatchRequest asks for one viewing session: ViewerID (a Discord user id the edge has checked
// may watch) receives MemberID's camera and voice in RoomID, answering Offer (SDP).
type WatchRequest struct {
	RoomID   string `json:"room_id"`
	MemberID string `json:"member_id"`
	ViewerID string `json:"viewer_id"`
	Offer    string `json:"offer"`
	// Source, when set, is the kind of MemberID's published source to receive (SourceBoard)
	// instead of their Discord camera and voice.
	Source string `json:"source,omitempty"`
}

// WatchAnswer is a viewing session: its id (for Unwatch) and the SDP answer.
type WatchAnswer struct {
	SessionID string `json:"session_id"`
	Answer    string `json:"answer"`
}

// UnwatchRequest ends a viewing session of ViewerID.
type UnwatchRequest struct {
	SessionID string `json:"session_id"`
	ViewerID  string `json:"viewer_id"`
}

// Codes of table view's failures.
const (
	// CodeNoFreeVoiceBot: every voice bot is in another room.
	CodeNoFreeVoiceBot = "no_free_voice_bot"
	// CodeBadOffer: the SDP offer is malformed.
	CodeBadOffer = "bad_offer"
	// CodeNothingToReceive: the offer receives neither VP8 or H.264 video nor Opus audio.
	CodeNothingToReceive = "nothing_to_receive"
	// CodeTooManySessions: the viewer holds the most viewing sessions allowed.
	CodeTooManySessions = "too_many_sessions"
	// CodeRelayFull: the relay holds the most viewing sessions allowed (or is stopping).
	CodeRelayFull = "relay_full"
	// CodeTableViewOff: the room's owner has not turned table view on.
	CodeTableViewOff = "table_view_off"
	// CodeNoSession: no such viewing session.
	CodeNoSession = "no_session"
	// CodeNotYours: the viewing session belongs to another viewer.
	CodeNotYours = "not_yours"
)

// Watch asks for a viewing session.
func (c *Client) Watch(ctx context.Context, req WatchRequest) (WatchAnswer, error) {
	var a WatchAnswer
	err := c.Call(ctx, http.MethodPost, PathWatch, req, &a)
	return a, err
}

// Unwatch ends a viewing session.
func (c *Client) Unwatch(ctx context.Context, req UnwatchRequest) error {
	return c.Call(ctx, http.MethodPost, PathUnwatch, req, nil)
}
