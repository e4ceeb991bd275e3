package covenmedia

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/spellcoven/gateway/caddymodules/internal/claims"
	"github.com/spellcoven/gateway/caddymodules/internal/jsonerror"
	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/worker/control"
)

// Published cameras: a player publishes a camera from the page with WHIP (RFC 9725, the ingest
// twin of WHEP) into a room, and the room's viewers play it with WHEP like a member's camera.
//
//	GET    {base}/{room}                             the room's published sources (JSON)
//	POST   {base}/{room}/board                       WHIP: the caller publishes their board camera
//	DELETE {base}/{room}/board/{session}             the publisher ends it
//	POST   {base}/{room}/{member}/board              WHEP: play member's board camera
//	DELETE {base}/{room}/{member}/board/{session}    the viewer ends it
//
// A source is named by its kind after the member it belongs to, since it is that member's
// camera: a member id is a snowflake (digits), so a kind never reads as one, and the page knows
// whose board a track is from the URL it asked. The publisher is the caller: the WHIP URL names
// no member, so no one publishes in another's name.

// kinds are the source kinds of the URLs.
var kinds = []string{control.SourceBoard}

func isKind(s string) bool { return slices.Contains(kinds, s) }

// servePublished serves the URLs of published sources; it returns false for the others.
func (h *Handler) servePublished(w http.ResponseWriter, r *http.Request, parts []string, verified claims.Source) bool {
	if len(parts) == 0 || !event.ValidSnowflake(parts[0]) {
		return false
	}
	roomID := parts[0]
	caller := claims.DiscordID(verified, h.UserIDClaim)
	admin := claims.Holds(verified, h.AdminClaim, h.AdminValue)
	switch {
	case len(parts) == 1:
		h.sources(w, r, roomID, caller, admin)
	case len(parts) == 2 && isKind(parts[1]):
		h.publish(w, r, roomID, parts[1], caller)
	case len(parts) == 3 && isKind(parts[1]):
		h.publishSession(w, r, parts[2], caller)
	case len(parts) == 3 && event.ValidSnowflake(parts[1]) && isKind(parts[2]):
		h.watchSource(w, r, roomID, parts[1], parts[2], caller, admin)
	case len(parts) == 4 && event.ValidSnowflake(parts[1]) && isKind(parts[2]):
		h.session(w, r, parts[3], caller)
	default:
		return false
	}
	return true
}

// methodNot answers a method the URL does not take.
func methodNot(w http.ResponseWriter, allow, msg string) {
	w.Header().Set("Allow", allow)
	jsonerror.Write(w, http.StatusMethodNotAllowed, "method_not_allowed", msg)
}

// mayPublish checks, before any SDP is read, that the room exists with its table view on and
// that the caller is in its voice channel; it returns 0 when so. Administrators and spectators
// publish only from the room, like everyone.
func (h *Handler) mayPublish(roomID, caller string) (int, string, string) {
	if caller == "" {
		return http.StatusForbidden, "no_discord_id", "your token carries no Discord user id (claim " + h.UserIDClaim + "): publishing needs one"
	}
	room, ok := h.dir.Room(roomID)
	if !ok {
		return http.StatusNotFound, "unknown_room", "no room " + roomID
	}
	if !room.TableView {
		return http.StatusForbidden, "table_view_off", "the room's owner has not turned table view on"
	}
	if !slices.ContainsFunc(room.Members, func(m event.Member) bool { return m.UserID == caller }) {
		return http.StatusForbidden, "not_a_member", "only the room's members may publish a camera into it: join its voice channel first"
	}
	return 0, "", ""
}

// publish answers a WHIP offer: 201 with the answer and the session's Location.
func (h *Handler) publish(w http.ResponseWriter, r *http.Request, roomID, kind, caller string) {
	if r.Method != http.MethodPost {
		methodNot(w, http.MethodPost, "a WHIP endpoint takes POST with an SDP offer")
		return
	}
	if status, code, msg := h.mayPublish(roomID, caller); status != 0 {
		jsonerror.Write(w, status, code, msg)
		return
	}
	offer, status, code, msg := h.readOffer(r)
	if status != 0 {
		jsonerror.Write(w, status, code, msg)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(h.RequestTimeout))
	defer cancel()
	a, err := h.client.Publish(ctx, control.PublishRequest{RoomID: roomID, MemberID: caller, Kind: kind, Offer: offer})
	if err != nil {
		h.workerError(w, err, "publish")
		return
	}
	writeAnswer(w, h.BasePath+"/"+roomID+"/"+kind+"/"+a.SessionID, a.Answer)
}

// publishSession serves a publishing session's URL: DELETE by its publisher ends it.
func (h *Handler) publishSession(w http.ResponseWriter, r *http.Request, id, caller string) {
	switch r.Method {
	case http.MethodDelete:
	case http.MethodPatch:
		methodNot(w, http.MethodDelete, "trickle ICE is not supported: the answer carries every candidate")
		return
	default:
		methodNot(w, http.MethodDelete, "a WHIP session's URL takes DELETE")
		return
	}
	if caller == "" {
		jsonerror.Write(w, http.StatusForbidden, "no_discord_id", "your token carries no Discord user id (claim "+h.UserIDClaim+")")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(h.RequestTimeout))
	defer cancel()
	if err := h.client.Unpublish(ctx, control.UnpublishRequest{SessionID: id, MemberID: caller}); err != nil {
		h.workerError(w, err, "unpublish")
		return
	}
	w.WriteHeader(http.StatusOK)
}

// watchSource answers a WHEP offer for a member's published source.
func (h *Handler) watchSource(w http.ResponseWriter, r *http.Request, roomID, memberID, kind, viewer string, admin bool) {
	if r.Method != http.MethodPost {
		methodNot(w, http.MethodPost, "a WHEP endpoint takes POST with an SDP offer")
		return
	}
	if status, code, msg := h.mayWatch(roomID, memberID, viewer, admin); status != 0 {
		jsonerror.Write(w, status, code, msg)
		return
	}
	offer, status, code, msg := h.readOffer(r)
	if status != 0 {
		jsonerror.Write(w, status, code, msg)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(h.RequestTimeout))
	defer cancel()
	a, err := h.client.Watch(ctx, control.WatchRequest{RoomID: roomID, MemberID: memberID, ViewerID: viewer, Source: kind, Offer: offer})
	if err != nil {
		h.workerError(w, err, "watch")
		return
	}
	writeAnswer(w, h.BasePath+"/"+roomID+"/"+memberID+"/"+kind+"/"+a.SessionID, a.Answer)
}

// sources lists the room's published sources to who may watch it.
func (h *Handler) sources(w http.ResponseWriter, r *http.Request, roomID, viewer string, admin bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNot(w, "GET, HEAD", "a room's sources are read with GET")
		return
	}
	if status, code, msg := h.mayView(roomID, viewer, admin); status != 0 {
		jsonerror.Write(w, status, code, msg)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(h.RequestTimeout))
	defer cancel()
	a, err := h.client.Sources(ctx, control.SourcesRequest{RoomID: roomID})
	if err != nil {
		h.workerError(w, err, "sources")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(a)
}

// mayView checks that the caller may watch the room (as mayWatch, whoever is watched); it
// returns 0 when so.
func (h *Handler) mayView(roomID, viewer string, admin bool) (int, string, string) {
	if viewer == "" {
		return http.StatusForbidden, "no_discord_id", "your token carries no Discord user id (claim " + h.UserIDClaim + "): table view needs one"
	}
	room, ok := h.dir.Room(roomID)
	switch {
	case !ok:
		return http.StatusNotFound, "unknown_room", "no room " + roomID
	case !room.TableView:
		return http.StatusForbidden, "table_view_off", "the room's owner has not turned table view on"
	case !admin && !h.Spectators && !slices.ContainsFunc(room.Members, func(m event.Member) bool { return m.UserID == viewer }):
		return http.StatusForbidden, "not_a_member", "only the room's members (and administrators) may watch it: join its voice channel first"
	}
	return 0, "", ""
}

// writeAnswer writes a 201 with the SDP answer and the session's URL.
func writeAnswer(w http.ResponseWriter, location, answer string) {
	w.Header().Set("Location", location)
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

var _ caddyhttp.MiddlewareHandler = (*Handler)(nil)
