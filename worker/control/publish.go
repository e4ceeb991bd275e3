package control

import (
	"context"
	"net/http"
)

// Published sources: a player publishes a camera from the page (WHIP) into a room; the edge
// asks the worker for a publishing session, ends it, and lists a room's sources for the pages
// that watch. A source's viewers ask with Watch, Source naming its kind.

// Paths of the publishing operations.
const (
	PathPublish   = "/voice/publish"
	PathUnpublish = "/voice/unpublish"
	PathSources   = "/voice/sources"
)

// SourceBoard is the kind of a camera pointed at the player's board.
const SourceBoard = "board"

// PublishRequest asks for one publishing session: MemberID (a Discord user id the edge has
// checked is in the room's voice channel) publishes the source of Kind in RoomID with Offer (SDP).
type PublishRequest struct {
	RoomID   string `json:"room_id"`
	MemberID string `json:"member_id"`
	Kind     string `json:"kind"`
	Offer    string `json:"offer"`
}

// PublishAnswer is a publishing session: its id (for Unpublish) and the SDP answer.
type PublishAnswer struct {
	SessionID string `json:"session_id"`
	Answer    string `json:"answer"`
}

// UnpublishRequest ends a publishing session of MemberID.
type UnpublishRequest struct {
	SessionID string `json:"session_id"`
	MemberID  string `json:"member_id"`
}

// SourcesRequest asks for a room's published sources.
type SourcesRequest struct {
	RoomID string `json:"room_id"`
}

// Source is one published source of a room: whose, and which kind.
type Source struct {
	UserID string `json:"user_id"`
	Kind   string `json:"kind"`
}

// SourcesAnswer lists a room's published sources.
type SourcesAnswer struct {
	Sources []Source `json:"sources"`
}

// Codes of the publishing failures.
const (
	// CodeNoVideo: the WHIP offer sends no video track.
	CodeNoVideo = "no_video"
	// CodeNoVP8: the WHIP offer's video does not offer VP8.
	CodeNoVP8 = "no_vp8"
	// CodeTooManyPublishers: the relay or the room holds the most publishers allowed.
	CodeTooManyPublishers = "too_many_publishers"
	// CodeNoSource: no one publishes the source asked for.
	CodeNoSource = "no_source"
)

// Publish asks for a publishing session.
func (c *Client) Publish(ctx context.Context, req PublishRequest) (PublishAnswer, error) {
	var a PublishAnswer
	err := c.Call(ctx, http.MethodPost, PathPublish, req, &a)
	return a, err
}

// Unpublish ends a publishing session.
func (c *Client) Unpublish(ctx context.Context, req UnpublishRequest) error {
	return c.Call(ctx, http.MethodPost, PathUnpublish, req, nil)
}

// Sources lists a room's published sources.
func (c *Client) Sources(ctx context.Context, req SourcesRequest) (SourcesAnswer, error) {
	var a SourcesAnswer
	err := c.Call(ctx, http.MethodPost, PathSources, req, &a)
	return a, err
}
