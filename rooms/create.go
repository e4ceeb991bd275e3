package rooms

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/spellcoven/gateway/event"
)

// CreateRequest is the body of POST /api/rooms.
type CreateRequest struct {
	// Name is the room's name: 1-100 characters once trimmed of surrounding white space, without
	// control characters.
	Name string `json:"name"`
	// UserLimit is the most members the room admits, 0-99; 0 (the default) means no limit.
	UserLimit int `json:"user_limit"`
}

// fingerprint identifies the request's effect, for Idempotency-Key replays: two bodies that decode
// to the same request are the same request.
func (c CreateRequest) fingerprint() [32]byte {
	return sha256.Sum256([]byte(c.Name + "\x00" + strconv.Itoa(c.UserLimit)))
}

// DecodeCreateRequest reads and validates a POST /api/rooms body of at most maxBytes bytes. It
// accepts only application/json, exactly one object, and no unknown fields; the name is trimmed.
func DecodeCreateRequest(r *http.Request, maxBytes int64) (CreateRequest, *Error) {
	var req CreateRequest
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return req, &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Message: "send the room as application/json"}
	}
	tooLarge := &Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large",
		Message: fmt.Sprintf("the body must be at most %d bytes", maxBytes)}
	if r.ContentLength > maxBytes {
		return req, tooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBytes+1))
	if err != nil {
		return req, &Error{Status: http.StatusBadRequest, Code: "invalid_body", Message: "the body could not be read"}
	}
	if int64(len(body)) > maxBytes {
		return req, tooLarge
	}
	if e := decodeStrict(body, &req); e != nil {
		return req, e
	}
	req.Name = strings.TrimSpace(req.Name)
	if err := event.ValidateRoomName(req.Name); err != nil {
		msg := err.Error()
		var ee *event.Error
		if errors.As(err, &ee) {
			msg = ee.Msg
		}
		return req, invalid("name: " + msg)
	}
	if req.UserLimit < 0 || req.UserLimit > event.MaxUserLimit {
		return req, invalid(fmt.Sprintf("user_limit: must be 0-%d", event.MaxUserLimit))
	}
	return req, nil
}

// decodeStrict decodes one JSON object into v, refusing unknown fields, null, and trailing data, with
// an error naming the field at fault.
func decodeStrict(body []byte, v *CreateRequest) *Error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return invalid("the body must be a JSON object")
	}
	if _, ok := fields["name"]; !ok {
		return invalid("name: required")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr):
			return invalid(fmt.Sprintf("%s: must be a %s", typeErr.Field, jsonKind(typeErr.Field)))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return invalid(strings.TrimPrefix(err.Error(), "json: ") + " (the known fields are name and user_limit)")
		default:
			return invalid("the body must be a JSON object")
		}
	}
	if bytes.Equal(bytes.TrimSpace(fields["name"]), []byte("null")) {
		return invalid("name: must be a string")
	}
	return nil
}

func jsonKind(field string) string {
	if field == "user_limit" {
		return "whole number"
	}
	return "string"
}

func invalid(msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Message: msg}
}
