package stream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spellcoven/gateway/event"
)

// Client message types.
const (
	msgAuth = "auth"
	msgPing = "ping"
)

// clientMessage is what a browser sends: {"type":"auth","token":"...","resume":{"epoch":"...","seq":N}}
// or {"type":"ping"}.
type clientMessage struct {
	Type   string          `json:"type"`
	Token  string          `json:"token,omitempty"`
	Resume *event.Position `json:"resume,omitempty"`
}

// decodeClientMessage parses one client message strictly: unknown types and fields are errors, so a
// client bug shows up at once instead of being silently ignored.
func decodeClientMessage(data []byte) (clientMessage, error) {
	var m clientMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return clientMessage{}, fmt.Errorf("invalid JSON message: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return clientMessage{}, errors.New("one JSON object per message")
	}
	switch m.Type {
	case msgAuth:
		if m.Resume != nil && (m.Resume.Epoch == "" || len(m.Resume.Epoch) > event.MaxEpochLength) {
			return clientMessage{}, errors.New("resume needs the epoch and seq of the last event received")
		}
	case msgPing:
		if m.Token != "" || m.Resume != nil {
			return clientMessage{}, errors.New("ping takes no fields")
		}
	case "":
		return clientMessage{}, errors.New(`message without "type"`)
	default:
		return clientMessage{}, fmt.Errorf("unknown message type %q", m.Type)
	}
	return m, nil
}

// serverError is the error message sent before a close: {"type":"error","code":"...","message":"..."}.
func serverError(code, message string) []byte {
	b, _ := json.Marshal(struct {
		Type    string `json:"type"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}{"error", code, message})
	return b
}

var pongFrame = []byte(`{"type":"pong"}`)
