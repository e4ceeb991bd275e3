// Package covencors is the Caddy HTTP handler `coven_cors`: CORS for the browser-facing API. It answers
// preflight requests itself (before authentication, which preflights never carry) and adds the
// response headers that let an allowed origin read the API's answers.
package covencors

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/spellcoven/gateway/caddymodules/internal/jsonerror"
	"github.com/spellcoven/gateway/caddymodules/internal/origin"
	"github.com/spellcoven/gateway/caddymodules/internal/placeholder"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Defaults for the browser-facing API.
var (
	DefaultMethods = []string{"GET", "POST", "DELETE"}
	DefaultHeaders = []string{"Authorization", "Content-Type", "Idempotency-Key"}
	DefaultMaxAge  = caddy.Duration(10 * time.Minute)
)

// Handler implements CORS.
type Handler struct {
	// Origins allowed to read responses: exact origins ("https://app.example.com"), leading wildcards
	// ("https://*.example.com") or "*" (not with AllowCredentials).
	Origins []string `json:"origins,omitempty"`
	// Methods allowed in preflights (default GET, POST, DELETE).
	Methods []string `json:"methods,omitempty"`
	// Headers allowed in requests (default Authorization, Content-Type, Idempotency-Key).
	Headers []string `json:"headers,omitempty"`
	// ExposeHeaders the browser may read from responses (e.g. Retry-After).
	ExposeHeaders []string `json:"expose_headers,omitempty"`
	// AllowCredentials lets browsers send cookies; it cannot be combined with "*".
	AllowCredentials bool `json:"allow_credentials,omitempty"`
	// MaxAge is how long browsers may cache a preflight (default 10m).
	MaxAge caddy.Duration `json:"max_age,omitempty"`

	origins                          *origin.List
	methods, headers, expose, maxAge string
	methodSet                        map[string]bool
	headerSet                        map[string]bool
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.coven_cors",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision parses the allowlist and precomputes header values.
func (h *Handler) Provision(caddy.Context) error {
	entries, err := placeholder.Fields(caddy.NewReplacer(), "origins", h.Origins)
	if err != nil {
		return fmt.Errorf("coven_cors: %w", err)
	}
	l, err := origin.Parse(entries)
	if err != nil {
		return fmt.Errorf("coven_cors: %w", err)
	}
	h.origins = l
	if len(h.Methods) == 0 {
		h.Methods = slices.Clone(DefaultMethods)
	}
	if len(h.Headers) == 0 {
		h.Headers = slices.Clone(DefaultHeaders)
	}
	if h.MaxAge == 0 {
		h.MaxAge = DefaultMaxAge
	}
	h.methodSet = make(map[string]bool)
	for i, m := range h.Methods {
		h.Methods[i] = strings.ToUpper(m)
		h.methodSet[h.Methods[i]] = true
	}
	h.headerSet = make(map[string]bool)
	for _, hd := range h.Headers {
		h.headerSet[strings.ToLower(hd)] = true
	}
	h.methods = strings.Join(h.Methods, ", ")
	h.headers = strings.Join(h.Headers, ", ")
	h.expose = strings.Join(h.ExposeHeaders, ", ")
	h.maxAge = strconv.Itoa(int(time.Duration(h.MaxAge).Seconds()))
	return nil
}

// Validate refuses configurations that browsers would reject or that would be unsafe.
func (h *Handler) Validate() error {
	if h.origins.Empty() {
		return errors.New("coven_cors: at least one origin is required")
	}
	if h.AllowCredentials && h.origins.Any() {
		return errors.New(`coven_cors: origin "*" cannot be combined with allow_credentials (browsers refuse it, and it would let any site act as the user)`)
	}
	if h.MaxAge < 0 {
		return errors.New("coven_cors: max_age must not be negative")
	}
	return nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	o := r.Header.Get("Origin")
	hdr := w.Header()
	hdr.Add("Vary", "Origin")
	if o == "" {
		return next.ServeHTTP(w, r)
	}
	allowed := h.origins.Allows(o)
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		return h.preflight(w, r, o, allowed)
	}
	if allowed {
		h.allowOrigin(hdr, o)
		if h.expose != "" {
			hdr.Set("Access-Control-Expose-Headers", h.expose)
		}
	}
	return next.ServeHTTP(w, r)
}

func (h *Handler) preflight(w http.ResponseWriter, r *http.Request, o string, allowed bool) error {
	hdr := w.Header()
	hdr.Add("Vary", "Access-Control-Request-Method")
	hdr.Add("Vary", "Access-Control-Request-Headers")
	if !allowed {
		jsonerror.Write(w, http.StatusForbidden, "origin_not_allowed", "origin "+strconv.Quote(o)+" is not allowed")
		return nil
	}
	if m := r.Header.Get("Access-Control-Request-Method"); !h.methodSet[strings.ToUpper(m)] {
		jsonerror.Write(w, http.StatusForbidden, "method_not_allowed", "method "+strconv.Quote(m)+" is not allowed")
		return nil
	}
	for _, req := range strings.Split(r.Header.Get("Access-Control-Request-Headers"), ",") {
		req = strings.ToLower(strings.TrimSpace(req))
		if req != "" && !h.headerSet[req] {
			jsonerror.Write(w, http.StatusForbidden, "header_not_allowed", "header "+strconv.Quote(req)+" is not allowed")
			return nil
		}
	}
	h.allowOrigin(hdr, o)
	hdr.Set("Access-Control-Allow-Methods", h.methods)
	hdr.Set("Access-Control-Allow-Headers", h.headers)
	hdr.Set("Access-Control-Max-Age", h.maxAge)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) allowOrigin(hdr http.Header, o string) {
	if h.origins.Any() && !h.AllowCredentials {
		hdr.Set("Access-Control-Allow-Origin", "*")
		return
	}
	hdr.Set("Access-Control-Allow-Origin", o)
	if h.AllowCredentials {
		hdr.Set("Access-Control-Allow-Credentials", "true")
	}
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
