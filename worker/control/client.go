package control

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

// Client calls the control endpoint of a running worker, signing every request.
type Client struct {
	base   *url.URL
	signer *webhook.Signer
	http   *http.Client
}

// NewClient returns a client of the worker at addr ("host:port", the worker's -listen, or an
// http:// or https:// URL), signing with signer. A nil hc means a client with a 60 s timeout,
// above the longest operation (a join: JoinTimeout plus the voice handshake).
func NewClient(addr string, signer *webhook.Signer, hc *http.Client) (*Client, error) {
	if signer == nil {
		return nil, errors.New("control: a signer is required")
	}
	raw := addr
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("control: worker address %q: want host:port or an http(s) URL without path", addr)
	}
	u.Path = ""
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	return &Client{base: u, signer: signer, http: hc}, nil
}

// CloseIdleConnections closes the client's idle connections.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// Host is the worker's host:port.
func (c *Client) Host() string { return c.base.Host }

// Call sends one signed request with in as its JSON body (nil: none) and decodes the answer
// into out (nil: ignored). An answer other than 200 is returned as *Error.
func (c *Client) Call(ctx context.Context, method, path string, in, out any) error {
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
		return fmt.Errorf("control: signing the request: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("control: cannot reach the worker at %s: %w", c.base.Host, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return fmt.Errorf("control: reading the worker's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
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
		return fmt.Errorf("control: decoding the worker's answer: %w", err)
	}
	return nil
}
