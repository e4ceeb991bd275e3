// Package covenevents is the Caddy HTTP handler `coven_events`: the worker's event ingest. It decodes a
// batch of contract v1 events that coven_hmac has verified and applies it to the `coven` app's hub.
//
// Answers (docs/protocol.md, "Webhook: worker → edge"): 200 {"applied":n,"skipped":m}; 409 snapshot_required with the expected
// position; 400 for a malformed or invalid batch; 503 when the broker cannot take events (the worker
// keeps them and retries); 405 for anything but POST.
package covenevents

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/spellcoven/gateway/caddymodules/covenapp"
	"github.com/spellcoven/gateway/caddymodules/covenhmac"
	"github.com/spellcoven/gateway/caddymodules/internal/jsonerror"
	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/ingest"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler ingests webhook batches into the hub. It refuses any request that coven_hmac did not verify
// first, so a Caddyfile that forgets the signature check fails closed.
type Handler struct {
	// MaxBatchEvents bounds the events in one batch (default: the app's max_batch_events, 1000).
	MaxBatchEvents int `json:"max_batch_events,omitempty"`

	app     *covenapp.App
	logger  *zap.Logger
	metrics *covenapp.Metrics
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.coven_events",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision finds the `coven` app.
func (h *Handler) Provision(ctx caddy.Context) error {
	app, err := covenapp.FromContext(ctx)
	if err != nil {
		return err
	}
	if !app.SignatureChecked() {
		return errors.New("coven_events: no coven_hmac comes before it: every batch would be refused 500 misconfigured; " +
			"put coven_hmac on the same route (the Caddyfile runs it first)")
	}
	h.app = app
	h.logger = ctx.Logger()
	h.metrics = covenapp.SharedMetrics(ctx)
	if h.MaxBatchEvents == 0 {
		h.MaxBatchEvents = app.MaxBatchEvents
	}
	return nil
}

// Validate checks limits.
func (h *Handler) Validate() error {
	if h.MaxBatchEvents < 0 {
		return errors.New("coven_events: max_batch_events must not be negative")
	}
	return nil
}

// ServeHTTP applies one batch.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method != http.MethodPost {
		ingest.MethodNotAllowed(w)
		return nil
	}
	body, ok := covenhmac.VerifiedBody(r)
	if !ok {
		h.logger.Error("coven_events reached without coven_hmac: put coven_hmac before coven_events")
		jsonerror.Write(w, http.StatusInternalServerError, "misconfigured", "the event ingest is not guarded by a signature check")
		return nil
	}
	resp := ingest.Apply(r.Context(), h.app.EventHub(), body, h.MaxBatchEvents)
	switch {
	case resp.Reason == "":
		if c := h.logger.Check(zapcore.DebugLevel, "batch ingested"); c != nil {
			res := resp.Body.(event.IngestResult)
			c.Write(zap.Int("applied", res.Applied), zap.Int("skipped", res.Skipped))
		}
	case resp.Err != nil && r.Context().Err() != nil:
		// The worker gave up on the request (its timeout, a restart): it will send the batch again.
		if c := h.logger.Check(zapcore.DebugLevel, "ingest abandoned by the client"); c != nil {
			c.Write(zap.Error(resp.Err))
		}
		h.metrics.WebhookRejected.WithLabelValues(resp.Reason).Inc()
	case resp.Err != nil:
		h.logger.Error("ingest failed", zap.Error(resp.Err))
		fallthrough
	default:
		h.metrics.WebhookRejected.WithLabelValues(resp.Reason).Inc()
	}
	resp.Write(w)
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
