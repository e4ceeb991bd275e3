// Package covenhmac is the Caddy HTTP handler `coven_hmac`: it verifies that a request body is signed
// with a shared secret (the Spell Coven scheme or Standard Webhooks) and only then passes the request on.
// It guards the worker's event ingest, and any other webhook a Caddy user wants to protect.
package covenhmac

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/spellcoven/gateway/caddymodules/covenapp"
	"github.com/spellcoven/gateway/caddymodules/internal/jsonerror"
	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/ingest"
	"github.com/spellcoven/gateway/webhook"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// DefaultMaxBody is the default limit on a signed body.
const DefaultMaxBody = 1 << 20

// Handler verifies the signature of a request before passing it on. The body is read whole (it is what
// is signed) up to MaxBody; a larger one is refused with 413 before any HMAC work. A verified body is
// handed to the next handlers both as the request body and through VerifiedBody, so that they need not
// copy it again.
type Handler struct {
	// Scheme is "coven" (X-Coven-Timestamp, X-Coven-Signature: sha256=...) or "standard" (Standard
	// Webhooks: webhook-id, webhook-timestamp, webhook-signature). Default "coven". A handler accepts
	// only its own scheme.
	Scheme string `json:"scheme,omitempty"`
	// Secrets are the shared secrets; a signature made with any of them passes (key rotation).
	// Placeholders such as {env.COVEN_WEBHOOK_SECRET} are resolved at provisioning.
	Secrets []string `json:"secrets,omitempty"`
	// SecretFiles name files that each hold one secret.
	SecretFiles []string `json:"secret_files,omitempty"`
	// Tolerance is how far a signature's timestamp may be from now, either way
	// (default 60s for coven, 5m for standard).
	Tolerance caddy.Duration `json:"tolerance,omitempty"`
	// MaxBody is the largest body accepted, in bytes (default 1 MiB).
	MaxBody int64 `json:"max_body,omitempty"`
	// Dedupe, with the standard scheme, remembers each verified webhook-id for the tolerance either
	// way and answers a repeated one with the first answer (Webhook-Duplicate: true) instead of passing
	// it on: "on" (the default with standard) or "off" (for a next handler that is idempotent itself).
	// The coven scheme has no message id.
	Dedupe string `json:"dedupe,omitempty"`
	// MaxIDs bounds the ids remembered (default 10000; past it the oldest are forgotten).
	MaxIDs int `json:"max_ids,omitempty"`

	seen     *deliveries // nil: no dedupe
	verifier *webhook.Verifier
	logger   *zap.Logger
	metrics  *covenapp.Metrics
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.coven_hmac",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision resolves the secrets and builds the verifier.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	h.metrics = covenapp.SharedMetrics(ctx)
	if h.MaxBody == 0 {
		h.MaxBody = DefaultMaxBody
	}
	if h.Scheme == "" {
		h.Scheme = string(webhook.SchemeCoven)
	}
	scheme, err := webhook.ParseScheme(h.Scheme)
	if err != nil {
		return fmt.Errorf("coven_hmac: %w", err)
	}
	repl := caddy.NewReplacer()
	var secrets []string
	for i, s := range h.Secrets {
		v := strings.TrimSpace(repl.ReplaceKnown(s, ""))
		if v == "" {
			// Never echo the configured value: it may be the secret itself.
			return fmt.Errorf("coven_hmac: secret #%d is empty (is its environment variable set?)", i+1)
		}
		secrets = append(secrets, v)
	}
	for _, f := range h.SecretFiles {
		path := repl.ReplaceKnown(f, "")
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("coven_hmac: reading secret file: %w", err)
		}
		secrets = append(secrets, strings.TrimSpace(string(b)))
	}
	if len(secrets) == 0 {
		return errors.New("coven_hmac: at least one secret is required")
	}
	v, err := webhook.NewVerifier(webhook.VerifierConfig{Scheme: scheme, Secrets: secrets, Tolerance: time.Duration(h.Tolerance)})
	if err != nil {
		return fmt.Errorf("coven_hmac: %w", err)
	}
	h.verifier = v
	// Tell the coven app (if this configuration has one) that a signature check exists, for
	// coven_events to see. Its own provisioning error is reported by the modules that need it.
	if app, err := ctx.AppIfConfigured("coven"); err == nil {
		app.(*covenapp.App).NoteSignatureCheck()
	}
	switch h.Dedupe {
	case "", "on":
		if scheme == webhook.SchemeStandard {
			if h.MaxIDs == 0 {
				h.MaxIDs = DefaultMaxIDs
			}
			h.seen = newDeliveries(2*v.Tolerance()+time.Second, h.MaxIDs)
		}
	case "off":
	default:
		return fmt.Errorf("coven_hmac: dedupe %q: want on or off", h.Dedupe)
	}
	return nil
}

// Validate checks limits.
func (h *Handler) Validate() error {
	if h.MaxBody < 0 {
		return errors.New("coven_hmac: max_body must not be negative")
	}
	if h.Tolerance < 0 {
		return errors.New("coven_hmac: tolerance must not be negative")
	}
	if h.MaxIDs < 0 {
		return errors.New("coven_hmac: max_ids must not be negative")
	}
	return nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// Headers and timestamp first: a request that cannot pass costs no body read.
	body, refused := ingest.ReadVerified(r, h.verifier, h.MaxBody)
	if refused != nil {
		if refused.Reason == event.AnswerBadSignature {
			if c := h.logger.Check(zapcore.InfoLevel, "webhook signature rejected"); c != nil {
				c.Write(zap.String("reason", webhook.Reason(refused.Err)), zap.String("remote", r.RemoteAddr))
			}
		}
		h.metrics.WebhookRejected.WithLabelValues(refused.Reason).Inc()
		refused.Write(w)
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r = r.WithContext(context.WithValue(r.Context(), verifiedBodyKey{}, body))
	if h.seen == nil {
		return next.ServeHTTP(w, r)
	}
	return h.serveOnce(w, r, next)
}

// serveOnce passes a verified standard delivery on unless its webhook-id was delivered already.
func (h *Handler) serveOnce(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	claimed, earlier := h.seen.begin(r.Header.Get(webhook.HeaderStandardID), time.Now())
	if earlier != nil {
		h.metrics.WebhookRejected.WithLabelValues("duplicate_id").Inc()
		if !earlier.done {
			w.Header().Set("Retry-After", "1")
			jsonerror.Write(w, http.StatusConflict, event.AnswerInProgress, "a delivery with this webhook-id is being handled; retry later")
			return nil
		}
		replay(w, earlier)
		return nil
	}
	rec := &recorder{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}
	if err := next.ServeHTTP(rec, r); err != nil {
		h.seen.abandon(claimed)
		return err
	}
	status, body := rec.answer()
	if status == 0 {
		status = http.StatusOK
	}
	h.seen.finish(claimed, status, rec.Header().Get("Content-Type"), body)
	return nil
}

type verifiedBodyKey struct{}

// VerifiedBody returns the body that coven_hmac verified for this request, if it did.
func VerifiedBody(r *http.Request) ([]byte, bool) {
	b, ok := r.Context().Value(verifiedBodyKey{}).([]byte)
	return b, ok
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
