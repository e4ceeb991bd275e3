package rooms

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/spellcoven/gateway/event"
)

// Response is the answer to one request, for the HTTP layer to write: Error's JSON error body when
// Error is set, else Body as JSON (none for 204).
type Response struct {
	Status int
	// Header holds headers to set (Location, Retry-After, Allow, Idempotent-Replayed).
	Header http.Header
	Body   any
	Error  *Error
	// Route is the matched route, e.g. "POST /api/rooms", or "unmatched": a label for metrics.
	Route string
}

// Error is an error answer: {"error":{"code","message"}} with Status. Codes are stable identifiers
// for programs; messages are for people.
type Error struct {
	Status  int
	Code    string
	Message string
	// RetryAfter, when positive, is sent as Retry-After (whole seconds, rounded up).
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorResponse(e *Error) Response {
	r := Response{Status: e.Status, Error: e}
	if e.RetryAfter > 0 {
		r.Header = http.Header{"Retry-After": {retryAfterSeconds(e.RetryAfter)}}
	}
	return r
}

// retryAfterSeconds formats a wait as whole seconds, rounded up, at least 1.
func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// Room is a room as the API shows it.
type Room struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	UserLimit int    `json:"user_limit"`
	Position  int    `json:"position"`
	// OwnerID is the Discord user id of the room's owner, when it has one.
	OwnerID string `json:"owner_id,omitempty"`
	// TableView is set while the room's table view is on.
	TableView   bool `json:"table_view,omitempty"`
	MemberCount int  `json:"member_count"`
}

// RoomDetail is a room with the members in it, in join order.
type RoomDetail struct {
	Room
	Members []event.Member `json:"members"`
}

// RoomList is the answer of GET /api/rooms: every room in Discord's display order, and the position of
// the last event the list reflects (the WebSocket stream continues from it).
type RoomList struct {
	Rooms []Room         `json:"rooms"`
	AsOf  event.Position `json:"as_of"`
}

func roomOf(rs event.RoomState) Room {
	return Room{ID: rs.ID, Name: rs.Name, UserLimit: rs.UserLimit, Position: rs.Position, OwnerID: rs.OwnerID, TableView: rs.TableView, MemberCount: len(rs.Members)}
}
