package discordtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// APIError is an error answer of Discord's REST API: the HTTP status and the JSON body
// {"message", "code", "errors"?}. Control methods return it too, so a test sees the same error a
// REST client would.
type APIError struct {
	Status  int    `json:"-"`
	Code    int    `json:"code"`
	Message string `json:"message"`
	// Errors is the nested field-error object of a 50035 Invalid Form Body answer.
	Errors formErrors `json:"errors,omitempty"`
}

// Error describes the error without any request data.
func (e *APIError) Error() string {
	if len(e.Errors) > 0 {
		b, _ := json.Marshal(e.Errors)
		return fmt.Sprintf("discord API error %d (HTTP %d): %s: %s", e.Code, e.Status, e.Message, b)
	}
	return fmt.Sprintf("discord API error %d (HTTP %d): %s", e.Code, e.Status, e.Message)
}

func (e *APIError) write(w http.ResponseWriter) {
	writeJSON(w, e.Status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"message":"500: Internal Server Error","code":0}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func errUnauthorized() *APIError {
	return &APIError{Status: http.StatusUnauthorized, Code: 0, Message: "401: Unauthorized"}
}

func errNotFound() *APIError {
	return &APIError{Status: http.StatusNotFound, Code: 0, Message: "404: Not Found"}
}

func errMethodNotAllowed() *APIError {
	return &APIError{Status: http.StatusMethodNotAllowed, Code: 0, Message: "405: Method Not Allowed"}
}

func errInvalidAPIVersion() *APIError {
	return &APIError{Status: http.StatusBadRequest, Code: 50041, Message: "Invalid API version"}
}

func errUnknownChannel() *APIError {
	return &APIError{Status: http.StatusNotFound, Code: 10003, Message: "Unknown Channel"}
}

func errUnknownGuild() *APIError {
	return &APIError{Status: http.StatusNotFound, Code: 10004, Message: "Unknown Guild"}
}

func errUnknownUser() *APIError {
	return &APIError{Status: http.StatusNotFound, Code: 10013, Message: "Unknown User"}
}

func errUnknownMember() *APIError {
	return &APIError{Status: http.StatusNotFound, Code: 10007, Message: "Unknown Member"}
}

func errMissingPermissions() *APIError {
	return &APIError{Status: http.StatusForbidden, Code: 50013, Message: "Missing Permissions"}
}

func errMaxChannels(limit int) *APIError {
	return &APIError{Status: http.StatusBadRequest, Code: 30013,
		Message: fmt.Sprintf("Maximum number of guild channels reached (%d)", limit)}
}

func errInvalidJSON() *APIError {
	return &APIError{Status: http.StatusBadRequest, Code: 50109, Message: "The request body contains invalid JSON."}
}

func errBodyTooLarge() *APIError {
	return &APIError{Status: http.StatusRequestEntityTooLarge, Code: 40005, Message: "Request entity too large"}
}

// formErrors is the nested "errors" object of an Invalid Form Body answer: keys are field names
// (array indexes as strings) and leaves are {"_errors": [{"code", "message"}]}.
type formErrors map[string]any

// fieldError is one leaf error of a formErrors tree.
type fieldError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// add records an error at path, e.g. add([]string{"permission_overwrites", "0", "id"}, ...).
func (f formErrors) add(path []string, code, message string) {
	node := f
	for _, key := range path {
		next, ok := node[key].(formErrors)
		if !ok {
			next = formErrors{}
			node[key] = next
		}
		node = next
	}
	list, _ := node["_errors"].([]fieldError)
	node["_errors"] = append(list, fieldError{Code: code, Message: message})
}

// apiError turns the collected errors into a 50035 answer, or nil when there are none.
func (f formErrors) apiError() *APIError {
	if len(f) == 0 {
		return nil
	}
	return &APIError{Status: http.StatusBadRequest, Code: 50035, Message: "Invalid Form Body", Errors: f}
}

// Interface guards
var _ error = (*APIError)(nil)
