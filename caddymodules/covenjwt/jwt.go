// Package covenjwt authenticates requests with a bearer JWT verified against the `coven` app's JWKS.
//
// It provides two Caddy modules over one implementation:
//   - `http.handlers.coven_jwt`, what the `coven_jwt` directive produces: a middleware that answers a
//     missing or bad token with 401 and a JSON error body (what an API's clients expect), and
//   - `http.authentication.providers.coven_jwt`, a provider for Caddy's `authentication` handler, for
//     JSON configs that combine several providers.
//
// Both set the placeholders {http.auth.user.id} (the token's subject) and {http.auth.user.<claim>} for
// every scalar claim, and put the verified claims in the request context for handlers such as the
// rooms API (ClaimsFrom).
package covenjwt

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/spellcoven/gateway/auth"
	"github.com/spellcoven/gateway/caddymodules/covenapp"
	"github.com/spellcoven/gateway/caddymodules/internal/jsonerror"
)

func init() {
	caddy.RegisterModule(Handler{})
	caddy.RegisterModule(Provider{})
}

// authenticator is what Handler and Provider share.
type authenticator struct {
	verifier *auth.Verifier
	metrics  *covenapp.Metrics
	logger   *zap.Logger
}

func (a *authenticator) provision(ctx caddy.Context, module string) error {
	app, err := covenapp.FromContext(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", module, err)
	}
	if app.Verifier() == nil {
		return fmt.Errorf("%s: the coven app has no jwt configuration (add a jwt block to the coven global option)", module)
	}
	a.verifier = app.Verifier()
	a.metrics = covenapp.SharedMetrics(ctx)
	a.logger = ctx.Logger()
	return nil
}

// errNoToken is returned when the request carries no bearer token.
var errNoToken = errors.New("no bearer token in the Authorization header")

// authenticate verifies the request's bearer token. On failure it has set WWW-Authenticate (RFC 6750)
// and counted the failure.
func (a *authenticator) authenticate(w http.ResponseWriter, r *http.Request) (*auth.Claims, error) {
	token, ok := BearerToken(r.Header)
	var claims *auth.Claims
	var err error
	if !ok {
		err = errNoToken
	} else {
		claims, err = a.verifier.Verify(r.Context(), token)
	}
	if err != nil {
		reason := FailureReason(err)
		a.metrics.AuthFailures.WithLabelValues(reason, "http").Inc()
		challenge := `Bearer realm="coven"`
		if ok {
			challenge += `, error="invalid_token", error_description="` + reason + `"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
		if c := a.logger.Check(zapcore.DebugLevel, "token rejected"); c != nil {
			c.Write(zap.String("reason", reason), zap.String("remote", r.RemoteAddr))
		}
		return nil, err
	}
	return claims, nil
}

// FailureReason is the reason label of an authentication failure: "missing" without a bearer token,
// else the token's auth.Reason.
func FailureReason(err error) string {
	if errors.Is(err, errNoToken) {
		return "missing"
	}
	return auth.Reason(err)
}

// BearerToken returns the token of an "Authorization: Bearer <token>" header.
func BearerToken(h http.Header) (string, bool) {
	v := h.Get("Authorization")
	scheme, token, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// User converts verified claims to the user Caddy's placeholders describe: the subject as ID, and each
// scalar claim as metadata.
func User(c *auth.Claims) caddyauth.User {
	u := caddyauth.User{ID: c.Subject, Metadata: make(map[string]string)}
	for name := range c.All() {
		if v, ok := c.String(name); ok {
			u.Metadata[name] = v
		}
	}
	u.Metadata["aud"] = strings.Join(c.Audience, ",")
	return u
}

type claimsKey struct{}

// WithClaims returns ctx carrying verified claims.
func WithClaims(ctx context.Context, c *auth.Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFrom returns the claims coven_jwt verified for this request, if any.
func ClaimsFrom(ctx context.Context) (*auth.Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*auth.Claims)
	return c, ok
}

// Handler is the `coven_jwt` middleware: it passes on only requests with a valid bearer token.
type Handler struct {
	authenticator
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.coven_jwt",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision finds the `coven` app's verifier.
func (h *Handler) Provision(ctx caddy.Context) error { return h.provision(ctx, "coven_jwt") }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// CORS preflights carry no credentials by design; coven_cors answers them before this runs.
	claims, err := h.authenticate(w, r)
	if err != nil {
		if auth.Reason(err) == auth.ReasonJWKSUnavailable {
			w.Header().Set("Retry-After", "5")
			jsonerror.Write(w, http.StatusServiceUnavailable, "auth_unavailable", "the identity provider's keys cannot be fetched; retry later")
			return nil
		}
		jsonerror.WriteReason(w, http.StatusUnauthorized, "unauthorized", FailureReason(err), err.Error())
		return nil
	}
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	u := User(claims)
	repl.Set("http.auth.user.id", u.ID)
	for k, v := range u.Metadata {
		repl.Set("http.auth.user."+k, v)
	}
	return next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), claims)))
}

// Provider is the `coven_jwt` authentication provider for Caddy's `authentication` handler.
type Provider struct {
	authenticator
}

// CaddyModule returns the Caddy module information.
func (Provider) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.authentication.providers.coven_jwt",
		New: func() caddy.Module { return new(Provider) },
	}
}

// Provision finds the `coven` app's verifier.
func (p *Provider) Provision(ctx caddy.Context) error { return p.provision(ctx, "coven_jwt provider") }

// Authenticate verifies the bearer token. A bad token is not an error to Caddy (that would log every
// rejected request at error level): it is an unauthenticated request, answered 401 by the
// authentication handler.
func (p *Provider) Authenticate(w http.ResponseWriter, r *http.Request) (caddyauth.User, bool, error) {
	claims, err := p.authenticate(w, r)
	if err != nil {
		return caddyauth.User{}, false, nil
	}
	// The authentication handler sets the placeholders; the claims are for later handlers.
	*r = *r.WithContext(WithClaims(r.Context(), claims))
	return User(claims), true, nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddy.Provisioner           = (*Provider)(nil)
	_ caddyauth.Authenticator     = (*Provider)(nil)
)
