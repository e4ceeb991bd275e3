// Package covenmedia is the Caddy HTTP handler `coven_media`: table view's WHEP endpoints, by
// which a browser plays a room member's camera and voice, relayed from the Discord call by the
// worker (package relay), and its WHIP endpoint, by which a player publishes a board camera
// from the page (whip.go).
//
//	POST   {base}/{room}/{member}             application/sdp offer -> 201, the answer, Location
//	DELETE {base}/{room}/{member}/{session}   ends the session -> 200
//	PATCH  {base}/{room}/{member}/{session}   405: the answer carries every candidate (no trickle)
//
// It runs after coven_jwt. A caller may watch when the claim named by user_id_claim is their
// Discord user id and they are in the room's voice channel, or are an administrator, or when
// spectators is on, any signed-in player with a Discord id; anyone else gets 403 before the offer
// is read. The member watched must be in the room. The handler then asks the worker, signed with
// the webhook secret (package control), for a viewing session; the media flows between the
// browser and the worker's media port, never through Caddy.
package covenmedia

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/spellcoven/gateway/caddymodules/covenapp"
	"github.com/spellcoven/gateway/caddymodules/covenjwt"
	"github.com/spellcoven/gateway/caddymodules/internal/claims"
	"github.com/spellcoven/gateway/caddymodules/internal/jsonerror"
	"github.com/spellcoven/gateway/caddymodules/internal/placeholder"
	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/webhook"
	"github.com/spellcoven/gateway/worker/control"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Defaults of Handler.
const (
	DefaultBasePath       = "/api/table"
	DefaultMaxOffer       = 64 << 10
	DefaultRequestTimeout = 30 * time.Second
)

// Handler serves table view's WHEP endpoints.
type Handler struct {
	// BasePath is where the endpoints live (default /api/table).
	BasePath string `json:"base_path,omitempty"`
	// Worker is the worker's control address: host:port (its -listen) or an http(s) URL.
	// Required.
	Worker string `json:"worker,omitempty"`
	// Secret, or the file SecretFile names, is the webhook secret the worker verifies control
	// requests with; Scheme its webhook scheme (coven, the default, or standard).
	Secret     string `json:"secret,omitempty"`
	SecretFile string `json:"secret_file,omitempty"`
	Scheme     string `json:"scheme,omitempty"`
	// Spectators lets every signed-in player with a Discord id watch, not only the room's
	// members and administrators.
	Spectators bool `json:"spectators,omitempty"`
	// UserIDClaim, AdminClaim and AdminValue say who the caller is, as for coven_rooms.
	UserIDClaim string `json:"user_id_claim,omitempty"`
	AdminClaim  string `json:"admin_claim,omitempty"`
	AdminValue  string `json:"admin_value,omitempty"`
	// MaxOffer bounds an SDP offer (default 64KiB).
	MaxOffer int64 `json:"max_offer,omitempty"`
	// RequestTimeout bounds a WHEP request, the bot joining the room included (default 30s).
	RequestTimeout caddy.Duration `json:"request_timeout,omitempty"`

	client *control.Client
	dir    roomDirectory
	logger *zap.Logger
}

// roomDirectory is where the handler reads who is in a room; *hub.Hub provides it.
type roomDirectory interface {
	Room(id string) (event.RoomState, bool)
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.coven_media",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision resolves the secret and the worker's address and finds the coven app's rooms.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	app, err := covenapp.FromContext(ctx)
	if err != nil {
		return fmt.Errorf("coven_media: %w", err)
	}
	h.dir = app.EventHub()
	if h.BasePath == "" {
		h.BasePath = DefaultBasePath
	}
	h.BasePath = strings.TrimSuffix(h.BasePath, "/")
	if h.UserIDClaim == "" {
		h.UserIDClaim = claims.DefaultUserIDClaim
	}
	if h.AdminClaim == "" {
		h.AdminClaim, h.AdminValue = claims.DefaultAdminClaim, claims.DefaultAdminValue
	}
	if h.AdminValue == "" {
		h.AdminValue = claims.DefaultAdminValue
	}
	if h.MaxOffer == 0 {
		h.MaxOffer = DefaultMaxOffer
	}
	if h.RequestTimeout == 0 {
		h.RequestTimeout = caddy.Duration(DefaultRequestTimeout)
	}
	repl := caddy.NewReplacer()
	worker, err := placeholder.Resolve(repl, "worker", h.Worker)
	if err != nil {
		return fmt.Errorf("coven_media: %w", err)
	}
	secret, err := h.secret(repl)
	if err != nil {
		return err
	}
	scheme, err := webhook.ParseScheme(h.Scheme)
	if h.Scheme == "" {
		scheme, err = webhook.SchemeCoven, nil
	}
	if err != nil {
		return fmt.Errorf("coven_media: %w", err)
	}
	signer, err := webhook.NewSigner(scheme, secret)
	if err != nil {
		return fmt.Errorf("coven_media: secret: %w", err)
	}
	// The client's own timeout stays above the request's, which bounds each call.
	h.client, err = control.NewClient(worker, signer, &http.Client{Timeout: time.Duration(h.RequestTimeout) + 5*time.Second})
	if err != nil {
		return fmt.Errorf("coven_media: %w", err)
	}
	return nil
}

// secret reads the webhook secret; errors never repeat it.
func (h *Handler) secret(repl *caddy.Replacer) (string, error) {
	switch {
	case h.Secret != "" && h.SecretFile != "":
		return "", errors.New("coven_media: give secret or secret_file, not both")
	case h.SecretFile != "":
		path, err := placeholder.Resolve(repl, "secret_file", h.SecretFile)
		if err != nil {
			return "", fmt.Errorf("coven_media: %w", err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("coven_media: reading the secret file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	case h.Secret != "":
		v := strings.TrimSpace(repl.ReplaceKnown(h.Secret, ""))
		if v == "" {
			return "", errors.New("coven_media: secret is empty (is its environment variable set?)")
		}
		return v, nil
	}
	return "", errors.New("coven_media: secret (or secret_file) is required: the webhook secret the worker verifies with")
}

// Validate checks limits. It is read-only.
func (h *Handler) Validate() error {
	if h.MaxOffer < 0 || h.RequestTimeout < 0 {
		return errors.New("coven_media: limits must not be negative")
	}
	if h.Worker == "" {
		return errors.New("coven_media: worker (the worker's control address) is required")
	}
	return nil
}

// ServeHTTP answers the WHEP endpoints under BasePath; other paths go to the next handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	rest, ok := strings.CutPrefix(r.URL.Path, h.BasePath+"/")
	if !ok {
		return next.ServeHTTP(w, r)
	}
	verified, ok := covenjwt.ClaimsFrom(r.Context())
	if !ok {
		h.logger.Error("coven_media reached without coven_jwt: put coven_jwt before coven_media")
		jsonerror.Write(w, http.StatusInternalServerError, "misconfigured", "table view is not guarded by authentication")
		return nil
	}
	parts := strings.Split(rest, "/")
	if h.servePublished(w, r, parts, verified) { // whip.go
		return nil
	}
	if len(parts) < 2 || len(parts) > 3 || !event.ValidSnowflake(parts[0]) || !event.ValidSnowflake(parts[1]) {
		jsonerror.Write(w, http.StatusNotFound, "not_found", "table view's endpoints are "+h.BasePath+"/{room id}/{member id}[/{session}]")
		return nil
	}
	roomID, memberID := parts[0], parts[1]
	viewer := claims.DiscordID(verified, h.UserIDClaim)
	admin := claims.Holds(verified, h.AdminClaim, h.AdminValue)
	if len(parts) == 3 {
		h.session(w, r, parts[2], viewer)
		return nil
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		jsonerror.Write(w, http.StatusMethodNotAllowed, "method_not_allowed", "a WHEP endpoint takes POST with an SDP offer")
		return nil
	}
	if status, code, msg := h.mayWatch(roomID, memberID, viewer, admin); status != 0 {
		jsonerror.Write(w, status, code, msg)
		return nil
	}
	offer, status, code, msg := h.readOffer(r)
	if status != 0 {
		jsonerror.Write(w, status, code, msg)
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(h.RequestTimeout))
	defer cancel()
	a, err := h.client.Watch(ctx, control.WatchRequest{RoomID: roomID, MemberID: memberID, ViewerID: viewer, Offer: offer})
	if err != nil {
		h.workerError(w, err, "watch")
		return nil
	}
	w.Header().Set("Location", h.BasePath+"/"+roomID+"/"+memberID+"/"+a.SessionID)
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, a.Answer)
	return nil
}

// mayWatch checks, before any SDP is read, that the room exists, the member is in it, and the
// caller may watch it; it returns 0 when so.
func (h *Handler) mayWatch(roomID, memberID, viewer string, admin bool) (int, string, string) {
	if viewer == "" {
		return http.StatusForbidden, "no_discord_id", "your token carries no Discord user id (claim " + h.UserIDClaim + "): table view needs one"
	}
	room, ok := h.dir.Room(roomID)
	if !ok {
		return http.StatusNotFound, "unknown_room", "no room " + roomID
	}
	in := func(id string) bool {
		return slices.ContainsFunc(room.Members, func(m event.Member) bool { return m.UserID == id })
	}
	if !room.TableView {
		return http.StatusForbidden, "table_view_off", "the room's owner has not turned table view on"
	}
	if !in(viewer) && !admin && !h.Spectators {
		return http.StatusForbidden, "not_a_member", "only the room's members (and administrators) may watch it: join its voice channel first"
	}
	if !in(memberID) {
		return http.StatusNotFound, "not_in_room", "user " + memberID + " is not in room " + roomID
	}
	return 0, "", ""
}

// readOffer reads the SDP offer: application/sdp, at most MaxOffer bytes.
func (h *Handler) readOffer(r *http.Request) (string, int, string, string) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/sdp" {
		return "", http.StatusUnsupportedMediaType, "unsupported_media_type", "a WHEP offer is sent as application/sdp"
	}
	if r.ContentLength > h.MaxOffer {
		return "", http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the offer exceeds %d bytes", h.MaxOffer)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, h.MaxOffer+1))
	if err != nil {
		return "", http.StatusBadRequest, "bad_request", "reading the offer failed"
	}
	if int64(len(b)) > h.MaxOffer {
		return "", http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the offer exceeds %d bytes", h.MaxOffer)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return "", http.StatusBadRequest, control.CodeBadOffer, "the body is empty: send the SDP offer"
	}
	return string(b), 0, "", ""
}

// session serves a session's URL: DELETE ends it; PATCH (trickle ICE) is not supported.
func (h *Handler) session(w http.ResponseWriter, r *http.Request, id, viewer string) {
	switch r.Method {
	case http.MethodDelete:
	case http.MethodPatch:
		w.Header().Set("Allow", http.MethodDelete)
		jsonerror.Write(w, http.StatusMethodNotAllowed, "method_not_allowed", "trickle ICE is not supported: the answer carries every candidate")
		return
	default:
		w.Header().Set("Allow", http.MethodDelete)
		jsonerror.Write(w, http.StatusMethodNotAllowed, "method_not_allowed", "a WHEP session's URL takes DELETE")
		return
	}
	if viewer == "" {
		jsonerror.Write(w, http.StatusForbidden, "no_discord_id", "your token carries no Discord user id (claim "+h.UserIDClaim+")")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(h.RequestTimeout))
	defer cancel()
	if err := h.client.Unwatch(ctx, control.UnwatchRequest{SessionID: id, ViewerID: viewer}); err != nil {
		h.workerError(w, err, "unwatch")
		return
	}
	w.WriteHeader(http.StatusOK)
}

// workerError answers a failed call to the worker: its own refusals as they are, except those
// that mean this edge is misconfigured, which the browser cannot fix.
func (h *Handler) workerError(w http.ResponseWriter, err error, op string) {
	var e *control.Error
	switch {
	case errors.As(err, &e) && (e.Code == control.CodeUnauthorized || e.Code == control.CodeReplayed || e.Code == control.CodeNotFound):
		h.logger.Error("the worker refused table view's request: check coven_media's secret, scheme and worker address", zap.String("op", op), zap.String("code", e.Code))
		jsonerror.Write(w, http.StatusBadGateway, "worker_refused", "the worker refused the edge's request")
	case errors.As(err, &e):
		if e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "5")
		}
		jsonerror.Write(w, e.Status, e.Code, e.Message)
	case errors.Is(err, context.DeadlineExceeded):
		jsonerror.Write(w, http.StatusGatewayTimeout, "worker_timeout", "the worker did not answer in time")
	default:
		h.logger.Warn("table view: the worker cannot be reached", zap.String("op", op), zap.Error(err))
		w.Header().Set("Retry-After", "5")
		jsonerror.Write(w, http.StatusBadGateway, "worker_unreachable", "the worker that relays table view cannot be reached")
	}
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
