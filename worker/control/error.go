package control

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Error is why a control operation failed: an HTTP status, a stable code for programs and a
// message for people. The endpoint answers it as {"error":{"code":..,"message":..}}, and the
// Client returns one for such an answer. Messages never hold a secret.
type Error struct {
	// Status is the HTTP status the endpoint answers with.
	Status int `json:"-"`
	// Code is a stable identifier of the failure.
	Code string `json:"code"`
	// Message explains the failure.
	Message string `json:"message"`
}

// Error returns the code and the message.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// NewError returns an Error.
func NewError(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Codes of the protocol itself; each operation adds its own.
const (
	// CodeBadRequest: the request is malformed (JSON, a missing or invalid field).
	CodeBadRequest = "bad_request"
	// CodeUnauthorized: the request is unsigned, stale, or signed with another secret.
	CodeUnauthorized = "unauthorized"
	// CodeReplayed: the request id was used already; every request is signed afresh.
	CodeReplayed = "replayed"
	// CodeTooManyRequests: more signed requests arrived within the signature tolerance than
	// the endpoint remembers.
	CodeTooManyRequests = "too_many_requests"
	// CodeTooLarge: the body exceeds the endpoint's limit.
	CodeTooLarge = "too_large"
	// CodeNotFound: no such control path.
	CodeNotFound = "not_found"
	// CodeInternal: an unexpected failure, given in the message.
	CodeInternal = "internal"
)

// errorBody is the shape of every error answer.
type errorBody struct {
	Error *Error `json:"error"`
}

// WriteError answers e.
func WriteError(w http.ResponseWriter, e *Error) { WriteJSON(w, e.Status, errorBody{e}) }

// WriteJSON answers v as JSON with status, never cached.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"encoding the answer failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
