package voicectl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spellcoven/gateway/webhook"
)

// maxAnswerBytes bounds an answer of the control endpoint read by the Client.
const maxAnswerBytes = 1 << 20

// Client calls the control endpoint of a running worker, signing every request. It is what
// `coven-worker voice` uses.
type Client struct {
	base   *url.URL
	signer *webhook.Signer
	http   *http.Client
}

// NewClient returns a client of the worker at addr ("host:port", the worker's -listen, or an
// http:// or https:// URL), signing with signer. A nil hc means a client with a 60 s timeout,
// above the longest join (JoinTimeout plus the voice handshake).
func NewClient(addr string, signer *webhook.Signer, hc *http.Client) (*Client, error) {
	if signer == nil {
		return nil, errors.New("voicectl: a signer is required")
	}
	raw := addr
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("voicectl: worker address %q: want host:port or an http(s) URL without path", addr)
	}
	u.Path = ""
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	return &Client{base: u, signer: signer, http: hc}, nil
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

// Watch asks for a viewing session (table view); the edge calls it for a browser's WHEP offer.
func (c *Client) Watch(ctx context.Context, req WatchRequest) (WatchAnswer, error) {
	var a WatchAnswer
	err := c.call(ctx, http.MethodPost, "/voice/watch", req, &a)
	return a, err
}

// Unwatch ends a viewing session.
func (c *Client) Unwatch(ctx context.Context, req UnwatchRequest) error {
	return c.call(ctx, http.MethodPost, "/voice/unwatch", req, nil)
}

// do sends one signed request and returns the status it answers.
func (c *Client) do(ctx context.Context, method, path string, in any) (Status, error) {
	var st Status
	if err := c.call(ctx, method, path, in, &st); err != nil {
		return Status{}, err
	}
	return st, nil
}

// call sends one signed request and decodes the answer into out (nil: ignored). An answer
// other than 200 is returned as *Error.
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	u := *c.base
	u.Path = path
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := SignRequest(req, body, c.signer, time.Now()); err != nil {
		return fmt.Errorf("voicectl: signing the request: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("voicectl: cannot reach the worker at %s: %w", c.base.Host, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return fmt.Errorf("voicectl: reading the worker's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var eb struct {
			Error *Error `json:"error"`
		}
		if json.Unmarshal(raw, &eb) != nil || eb.Error == nil || eb.Error.Code == "" {
			return &Error{Status: resp.StatusCode, Code: fmt.Sprintf("http_%d", resp.StatusCode),
				Message: fmt.Sprintf("unexpected answer from %s: %s", c.base.Host, resp.Status)}
		}
		eb.Error.Status = resp.StatusCode
		return eb.Error
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("voicectl: decoding the worker's answer: %w", err)
	}
	return nil
}
