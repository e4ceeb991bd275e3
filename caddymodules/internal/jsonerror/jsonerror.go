// Package jsonerror writes the JSON error body that every Spell Coven HTTP endpoint answers with:
// {"error":{"code":"...","message":"..."}}. Codes are stable identifiers for programs; messages are
// for people and may change.
package jsonerror

import (
	"encoding/json"
	"net/http"
)

// Body is the shape of every error response.
type Body struct {
	Error Detail `json:"error"`
}

// Detail is the error itself. Reason, when set, refines Code for programs (the 401's token reason:
// expired, bad_audience, bad_signature, unknown_kid, missing, ...).
type Detail struct {
	Code    string `json:"code"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message"`
}

// Write answers with status and the error body. extra fields, if any, are added beside "error"
// (the webhook's 409 carries "expected").
func Write(w http.ResponseWriter, status int, code, message string, extra ...Field) {
	body := map[string]any{"error": Detail{Code: code, Message: message}}
	for _, f := range extra {
		body[f.Key] = f.Value
	}
	WriteJSON(w, status, body)
}

// WriteReason is Write with a reason beside the code.
func WriteReason(w http.ResponseWriter, status int, code, reason, message string) {
	WriteJSON(w, status, Body{Error: Detail{Code: code, Reason: reason, Message: message}})
}

// Field is an extra top-level member of an error body.
type Field struct {
	Key   string
	Value any
}

// WriteJSON answers with status and v encoded as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"encoding the response failed"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
