package voicectl

import (
	"context"
	"net/http"

	"github.com/spellcoven/gateway/webhook"
	"github.com/spellcoven/gateway/worker/control"
)

// Client calls the voice operations of a running worker's control endpoint, signing every
// request. It is what `coven-worker voice` uses.
type Client struct {
	*control.Client
}

// NewClient returns a client of the worker at addr ("host:port", the worker's -listen, or an
// http:// or https:// URL), signing with signer. A nil hc means a client with a 60 s timeout,
// above the longest join (JoinTimeout plus the voice handshake).
func NewClient(addr string, signer *webhook.Signer, hc *http.Client) (*Client, error) {
	c, err := control.NewClient(addr, signer, hc)
	if err != nil {
		return nil, err
	}
	return &Client{c}, nil
}

// Status returns the bot's voice state.
func (c *Client) Status(ctx context.Context) (Status, error) {
	return c.do(ctx, http.MethodGet, "/voice", nil)
}

// Join puts the bot in a room.
func (c *Client) Join(ctx context.Context, roomID string) (Status, error) {
	return c.do(ctx, http.MethodPost, "/voice/join", JoinRequest{RoomID: roomID})
}

// Leave takes the bot out of its room.
func (c *Client) Leave(ctx context.Context) (Status, error) {
	return c.do(ctx, http.MethodPost, "/voice/leave", nil)
}

// LeaveRoom takes the voice bot that is in roomID out of it.
func (c *Client) LeaveRoom(ctx context.Context, roomID string) (Status, error) {
	return c.do(ctx, http.MethodPost, "/voice/leave", LeaveRequest{RoomID: roomID})
}

// Play starts playing file, a path under the worker's media directory.
func (c *Client) Play(ctx context.Context, file string) (Status, error) {
	return c.do(ctx, http.MethodPost, "/voice/play", PlayRequest{Action: ActionStart, File: file})
}

// StopPlayback stops the file playing.
func (c *Client) StopPlayback(ctx context.Context) (Status, error) {
	return c.do(ctx, http.MethodPost, "/voice/play", PlayRequest{Action: ActionStop})
}

// StartRecording starts recording into dir under the worker's recordings directory (empty:
// a name from the room and the time).
func (c *Client) StartRecording(ctx context.Context, dir string) (Status, error) {
	return c.do(ctx, http.MethodPost, "/voice/record", RecordRequest{Action: ActionStart, Dir: dir})
}

// StopRecording stops the recording and finishes its files.
func (c *Client) StopRecording(ctx context.Context) (Status, error) {
	return c.do(ctx, http.MethodPost, "/voice/record", RecordRequest{Action: ActionStop})
}

// do sends one signed request and returns the status it answers.
func (c *Client) do(ctx context.Context, method, path string, in any) (Status, error) {
	var st Status
	if err := c.Call(ctx, method, path, in, &st); err != nil {
		return Status{}, err
	}
	return st, nil
}
