package voicectl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/spellcoven/gateway/webhook"
	"github.com/spellcoven/gateway/worker/control"
)

// Defaults of HandlerConfig.
const (
	DefaultMaxRequestBytes   = 4 << 10
	DefaultMaxRecentRequests = 4096
	DefaultReadTimeout       = 5 * time.Second
)

// HandlerConfig configures the control endpoint.
type HandlerConfig struct {
	// Verifier checks the signatures: the worker's webhook scheme and secret. Required.
	Verifier *webhook.Verifier
	// MaxRequestBytes is the largest body accepted (default 4 KiB; larger: 413).
	MaxRequestBytes int64
	// MaxRecentRequests is how many accepted request ids are remembered, to refuse replays,
	// for as long as their signatures stay valid (default 4096; past it: 429).
	MaxRecentRequests int
	// ReadTimeout bounds reading a request's body (default 5 s).
	ReadTimeout time.Duration
	// Logger receives refused requests (default: discarded).
	Logger *slog.Logger
}

// Handler serves the control endpoint of a Controller:
//
//	GET  /voice          the Status
//	POST /voice/join     {"room_id": "..."}
//	POST /voice/leave    (no body, or {}: the main bot), or {"room_id": "..."}: the bot in that room
//	POST /voice/play     {"file": "..."} or {"action": "stop"}
//	POST /voice/record   {"action": "start", "dir": "..."} or {"action": "stop"}
//
// Every request is signed (see SignRequest); each success answers 200 with the Status, each
// failure {"error": {"code", "message"}} with the Error's status.
type Handler struct {
	ctl  *Controller
	cfg  HandlerConfig
	auth *control.RequestAuth
	log  *slog.Logger
}

// NewHandler returns the control endpoint of ctl.
func NewHandler(ctl *Controller, cfg HandlerConfig) (*Handler, error) {
	if ctl == nil || cfg.Verifier == nil {
		return nil, errors.New("voicectl: a controller and a verifier are required")
	}
	if cfg.MaxRequestBytes < 0 || cfg.MaxRecentRequests < 0 || cfg.ReadTimeout < 0 {
		return nil, errors.New("voicectl: handler limits must not be negative")
	}
	if cfg.MaxRequestBytes == 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.MaxRecentRequests == 0 {
		cfg.MaxRecentRequests = DefaultMaxRecentRequests
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{ctl: ctl, cfg: cfg, auth: control.NewRequestAuth(cfg.Verifier, cfg.MaxRecentRequests), log: cfg.Logger}, nil
}

// routes maps each path to its method and operation.
var routes = map[string]struct {
	method string
	op     func(h *Handler, ctx context.Context, body []byte) (any, error)
}{
	"/voice":            {http.MethodGet, status},
	"/voice/join":       {http.MethodPost, (*Handler).join},
	"/voice/leave":      {http.MethodPost, (*Handler).leave},
	"/voice/play":       {http.MethodPost, (*Handler).play},
	"/voice/record":     {http.MethodPost, (*Handler).record},
	control.PathWatch:   {http.MethodPost, (*Handler).watch},
	control.PathUnwatch: {http.MethodPost, (*Handler).unwatch},
	// Publishing (publish.go).
	control.PathPublish:   {http.MethodPost, (*Handler).publish},
	control.PathUnpublish: {http.MethodPost, (*Handler).unpublish},
	control.PathSources:   {http.MethodPost, (*Handler).sources},
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Authentication comes first, so that an unsigned caller learns nothing, not even which
	// paths exist.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.cfg.ReadTimeout))
	limit := h.cfg.MaxRequestBytes
	if rl := h.ctl.table.relay; rl != nil && (r.URL.Path == control.PathWatch || r.URL.Path == control.PathPublish) {
		limit = max(limit, rl.MaxOfferBytes()+4<<10) // the offer, JSON-escaped, and the ids
	}
	body, e := h.readBody(r, limit)
	if e != nil {
		h.refuse(w, r, e.Code, e)
		return
	}
	if reason, e := h.auth.Check(r, body, time.Now()); e != nil {
		h.refuse(w, r, reason, e)
		return
	}
	route, ok := routes[r.URL.Path]
	switch {
	case !ok:
		writeError(w, newError(http.StatusNotFound, CodeNotFound, "no control operation at %s", r.URL.Path))
		return
	case r.Method != route.method:
		w.Header().Set("Allow", route.method)
		writeError(w, newError(http.StatusMethodNotAllowed, CodeBadRequest, "%s takes %s", r.URL.Path, route.method))
		return
	case r.URL.RawQuery != "":
		// The query is not signed: it must carry nothing.
		writeError(w, badRequest("the control endpoint takes no query parameters"))
		return
	}
	st, err := route.op(h, r.Context(), body)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = newError(http.StatusInternalServerError, CodeInternal, "%v", err)
		}
		writeError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// readBody reads the body under limit.
func (h *Handler) readBody(r *http.Request, limit int64) ([]byte, *Error) {
	tooLarge := newError(http.StatusRequestEntityTooLarge, CodeTooLarge, "the body exceeds %d bytes", limit)
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, badRequest("reading the body: %v", err)
	}
	if int64(len(body)) > limit {
		return nil, tooLarge
	}
	return body, nil
}

func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, reason string, e *Error) {
	h.ctl.metrics.rejected.WithLabelValues(reason).Inc()
	h.log.Info("voice control request refused", "reason", reason, "path", r.URL.Path, "remote", r.RemoteAddr)
	writeError(w, e)
}

func status(h *Handler, _ context.Context, _ []byte) (any, error) { return h.ctl.Status(), nil }

func (h *Handler) join(_ context.Context, body []byte) (any, error) {
	var req JoinRequest
	if err := decode(body, &req, false); err != nil {
		return nil, err
	}
	return h.ctl.Join(req.RoomID)
}

func (h *Handler) leave(_ context.Context, body []byte) (any, error) {
	var req LeaveRequest
	if err := decode(body, &req, true); err != nil {
		return nil, err
	}
	if req.RoomID != "" {
		return h.ctl.LeaveRoom(req.RoomID)
	}
	return h.ctl.Leave()
}

func (h *Handler) play(_ context.Context, body []byte) (any, error) {
	var req PlayRequest
	if err := decode(body, &req, false); err != nil {
		return nil, err
	}
	switch req.Action {
	case "", ActionStart:
		return h.ctl.Play(req.File)
	case ActionStop:
		if req.File != "" {
			return nil, badRequest(`"stop" takes no file`)
		}
		return h.ctl.StopPlayback()
	}
	return nil, badRequest(`action must be "start" or "stop"`)
}

func (h *Handler) record(_ context.Context, body []byte) (any, error) {
	var req RecordRequest
	if err := decode(body, &req, false); err != nil {
		return nil, err
	}
	switch req.Action {
	case ActionStart:
		return h.ctl.StartRecording(req.Dir)
	case ActionStop:
		if req.Dir != "" {
			return nil, badRequest(`"stop" takes no dir`)
		}
		return h.ctl.StopRecording()
	}
	return nil, badRequest(`action must be "start" or "stop"`)
}

// decode reads one JSON object into v, refusing unknown fields and trailing data; an empty
// body is allowed when emptyOK.
func decode(body []byte, v any, emptyOK bool) *Error {
	if len(bytes.TrimSpace(body)) == 0 {
		if emptyOK {
			return nil
		}
		return badRequest("a JSON body is required")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("invalid JSON body: %v", err)
	}
	if dec.More() {
		return badRequest("invalid JSON body: data after the object")
	}
	return nil
}

func writeError(w http.ResponseWriter, e *Error) { control.WriteError(w, e) }

func writeJSON(w http.ResponseWriter, status int, v any) { control.WriteJSON(w, status, v) }

var _ http.Handler = (*Handler)(nil)

func (h *Handler) watch(ctx context.Context, body []byte) (any, error) {
	var req WatchRequest
	if err := decode(body, &req, false); err != nil {
		return nil, err
	}
	return h.ctl.Watch(ctx, req)
}

func (h *Handler) unwatch(_ context.Context, body []byte) (any, error) {
	var req UnwatchRequest
	if err := decode(body, &req, false); err != nil {
		return nil, err
	}
	if err := h.ctl.Unwatch(req); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}
