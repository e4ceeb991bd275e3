// Package covenrooms is the Caddy HTTP handler `coven_rooms`: the rooms REST API (create, list, read
// and delete rooms) over package rooms, with the `coven` app's hub as the projection that reads answer
// from and its Discord REST client (bot token, guild, category) for changes.
//
// It runs after coven_jwt, whose verified claims say who the caller is: the claim named by
// user_id_claim is the caller's Discord user id, and admin_claim marks administrators. Reached
// without coven_jwt it answers 500 `misconfigured`, so a Caddyfile that forgets authentication fails
// closed.
package covenrooms

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/spellcoven/gateway/caddymodules/covenapp"
	"github.com/spellcoven/gateway/caddymodules/covenjwt"
	"github.com/spellcoven/gateway/caddymodules/internal/claims"
	"github.com/spellcoven/gateway/caddymodules/internal/jsonerror"
	"github.com/spellcoven/gateway/rooms"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Defaults of the claims that identify callers.
const (
	DefaultUserIDClaim = claims.DefaultUserIDClaim
	DefaultAdminClaim  = claims.DefaultAdminClaim
	DefaultAdminValue  = claims.DefaultAdminValue
)

// Handler serves the rooms API.
type Handler struct {
	// BasePath is where the API lives (default /api/rooms): the collection, and /{id} under it.
	BasePath string `json:"base_path,omitempty"`
	// UserIDClaim names the JWT claim holding the caller's Discord user id (default discord_id; "sub"
	// when the identity provider is Discord itself).
	UserIDClaim string `json:"user_id_claim,omitempty"`
	// AdminClaim and AdminValue say who is an administrator: a caller whose claim AdminClaim is
	// AdminValue, or an array containing it (default: claim admin, value true).
	AdminClaim string `json:"admin_claim,omitempty"`
	AdminValue string `json:"admin_value,omitempty"`
	// MaxBody bounds a request body (default 4KiB).
	MaxBody int64 `json:"max_body,omitempty"`
	// RequestTimeout bounds one request, Discord's retries and waits included (default 10s).
	RequestTimeout caddy.Duration `json:"request_timeout,omitempty"`
	// MaxOwnedRooms is how many rooms one user may own at once (default 3).
	MaxOwnedRooms int `json:"max_owned_rooms,omitempty"`
	// MaxCreations is how many rooms one user may create per CreationWindow (default 5 per 1m).
	MaxCreations   int            `json:"max_creations,omitempty"`
	CreationWindow caddy.Duration `json:"creation_window,omitempty"`
	// IdempotencyTTL is how long the answer to a request with an Idempotency-Key is replayed (default
	// 24h); IdempotencyKeys bounds how many are kept (default 10000).
	IdempotencyTTL  caddy.Duration `json:"idempotency_ttl,omitempty"`
	IdempotencyKeys int            `json:"idempotency_keys,omitempty"`
	// IdempotencyKeysPerUser bounds the answers kept for one user (default 100), so that one user's
	// keys never evict another's.
	IdempotencyKeysPerUser int `json:"idempotency_keys_per_user,omitempty"`
	// RequestRate is the requests per second one user may make on average (default 5), RequestBurst
	// how many at once (default 20); past it, 429 too_many_requests.
	RequestRate  float64 `json:"request_rate,omitempty"`
	RequestBurst int     `json:"request_burst,omitempty"`
	// VoiceBots are the user ids of the worker's voice bots beside the bot (its
	// -voice-token-file bots; `coven-worker voice status` lists them): turning a room's table
	// view on lets each into the room, as it lets the bot in.
	VoiceBots []string `json:"voice_bots,omitempty"`

	api     *rooms.API
	poolKey string
	logger  *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.coven_rooms",
		New: func() caddy.Module { return new(Handler) },
	}
}

// servicePool keeps a rooms.Service (its idempotency store and per-user counts) across reloads that
// keep the same settings, so that a retry right after a reload is still recognized.
var servicePool = caddy.NewUsagePool()

type pooledService struct{ *rooms.Service }

// Destruct implements caddy.Destructor; the service holds no goroutine.
func (pooledService) Destruct() error { return nil }

// Provision finds the `coven` app and its Discord client, and loads or builds the service. It does no
// network I/O.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	app, err := covenapp.FromContext(ctx)
	if err != nil {
		return fmt.Errorf("coven_rooms: %w", err)
	}
	if app.DiscordREST() == nil {
		return errors.New("coven_rooms: the coven app needs a bot_token (or bot_token_file)")
	}
	if app.GuildID == "" || app.CategoryID == "" {
		return errors.New("coven_rooms: the coven app needs guild and category")
	}
	if h.UserIDClaim == "" {
		h.UserIDClaim = DefaultUserIDClaim
	}
	if h.AdminClaim == "" {
		h.AdminClaim = DefaultAdminClaim
	}
	if h.AdminValue == "" {
		h.AdminValue = DefaultAdminValue
	}
	cfg := rooms.Config{
		GuildID:                app.GuildID,
		CategoryID:             app.CategoryID,
		MaxBodyBytes:           h.MaxBody,
		RequestTimeout:         time.Duration(h.RequestTimeout),
		MaxOwnedRooms:          h.MaxOwnedRooms,
		CreationLimit:          h.MaxCreations,
		CreationWindow:         time.Duration(h.CreationWindow),
		IdempotencyTTL:         time.Duration(h.IdempotencyTTL),
		IdempotencyKeys:        h.IdempotencyKeys,
		IdempotencyKeysPerUser: h.IdempotencyKeysPerUser,
		RequestRate:            h.RequestRate,
		RequestBurst:           h.RequestBurst,
		VoiceBotIDs:            h.VoiceBots,
		Shared:                 app.SharedRoomsStore(),
		Logger:                 h.logger,
	}
	// The key names the app's Discord client by identity: the app pools one client per token and
	// settings, so an unchanged configuration finds the same client, and the same service.
	key, err := json.Marshal(struct {
		Handler  *Handler
		Guild    string
		Category string
		Client   string
		Shared   string
	}{h, app.GuildID, app.CategoryID, fmt.Sprintf("%p", app.DiscordREST()), fmt.Sprintf("%p", app.SharedRoomsStore())})
	if err != nil {
		return err
	}
	h.poolKey = string(key)
	v, _, err := servicePool.LoadOrNew(h.poolKey, func() (caddy.Destructor, error) {
		svc, err := rooms.NewService(cfg, app.DiscordREST(), app.EventHub())
		if err != nil {
			return nil, err
		}
		return pooledService{svc}, nil
	})
	if err != nil {
		h.poolKey = ""
		return fmt.Errorf("coven_rooms: %w", err)
	}
	h.api, err = rooms.NewAPI(v.(pooledService).Service, h.BasePath)
	if err != nil {
		return fmt.Errorf("coven_rooms: %w", err)
	}
	registerMetrics(ctx.GetMetricsRegistry())
	return nil
}

// Validate checks limits. It is read-only.
func (h *Handler) Validate() error {
	if h.MaxBody < 0 || h.RequestTimeout < 0 || h.MaxOwnedRooms < 0 || h.MaxCreations < 0 ||
		h.CreationWindow < 0 || h.IdempotencyTTL < 0 || h.IdempotencyKeys < 0 ||
		h.IdempotencyKeysPerUser < 0 || h.RequestRate < 0 || h.RequestBurst < 0 {
		return errors.New("coven_rooms: limits must not be negative")
	}
	return nil
}

// Cleanup releases this configuration's hold on the pooled service.
func (h *Handler) Cleanup() error {
	if h.poolKey == "" {
		return nil
	}
	_, err := servicePool.Delete(h.poolKey)
	return err
}

// ServeHTTP answers the API's routes; it never calls the next handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	verified, ok := covenjwt.ClaimsFrom(r.Context())
	if !ok {
		h.logger.Error("coven_rooms reached without coven_jwt: put coven_jwt before coven_rooms")
		requests.WithLabelValues("unauthenticated", "500").Inc()
		jsonerror.Write(w, http.StatusInternalServerError, "misconfigured", "the rooms API is not guarded by authentication")
		return nil
	}
	resp := h.api.Serve(r, h.caller(verified, verified.Subject))
	requests.WithLabelValues(resp.Route, strconv.Itoa(resp.Status)).Inc()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	switch {
	case resp.Error != nil:
		jsonerror.Write(w, resp.Status, resp.Error.Code, resp.Error.Message)
	case resp.Body == nil:
		w.WriteHeader(resp.Status)
	default:
		jsonerror.WriteJSON(w, resp.Status, resp.Body)
	}
	return nil
}

// caller describes who sent a request with verified claims.
func (h *Handler) caller(c claims.Source, subject string) rooms.Caller {
	return rooms.Caller{
		Subject:   subject,
		DiscordID: claims.DiscordID(c, h.UserIDClaim),
		Admin:     claims.Holds(c, h.AdminClaim, h.AdminValue),
	}
}

// requests counts the API's answers by route and status; created once per process and registered on
// each configuration's registry.
var requests = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "coven", Name: "rooms_requests_total",
	Help: "Rooms API answers, by route (\"unmatched\" for unknown routes and methods) and HTTP status code.",
}, []string{"route", "code"})

func registerMetrics(reg *prometheus.Registry) {
	if reg == nil {
		return
	}
	if err := reg.Register(requests); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			panic(err) // a programming error: descriptors clash
		}
	}
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
