package rooms

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
)

// DefaultBasePath is where the API is served unless configured otherwise.
const DefaultBasePath = "/api/rooms"

// Route is one route of the API: a method on a path relative to the base path ("" for the
// collection, "/{id}" for one room).
type Route struct {
	Method, Path string
}

// Routes lists every route the API serves, for documentation checks.
func Routes() []Route {
	return []Route{
		{http.MethodGet, ""},
		{http.MethodPost, ""},
		{http.MethodGet, "/{id}"},
		{http.MethodDelete, "/{id}"},
		{http.MethodPut, "/{id}/table"},
		{http.MethodDelete, "/{id}/table"},
	}
}

// API routes HTTP requests to a Service. The HTTP layer authenticates the caller, calls Serve and
// writes the Response.
type API struct {
	svc  *Service
	base string
}

// NewAPI serves svc under basePath (e.g. "/api/rooms").
func NewAPI(svc *Service, basePath string) (*API, error) {
	if basePath == "" {
		basePath = DefaultBasePath
	}
	if !strings.HasPrefix(basePath, "/") || strings.HasSuffix(basePath, "/") || strings.ContainsAny(basePath, "{}*?#") {
		return nil, errors.New(`rooms: the base path must start with "/", not end with one, and hold no pattern characters`)
	}
	return &API{svc: svc, base: basePath}, nil
}

// Serve answers r on behalf of caller. The request's context bounds the work, and so does the
// service's RequestTimeout.
func (a *API) Serve(r *http.Request, caller Caller) Response {
	path, methods, id, ok := a.match(r.URL.Path)
	if !ok {
		resp := errorResponse(&Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such endpoint"})
		resp.Route = "unmatched"
		return resp
	}
	route := r.Method + " " + a.base + path
	if !slices.Contains(methods, r.Method) {
		resp := errorResponse(&Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed",
			Message: "use " + strings.Join(methods, " or ")})
		if resp.Header == nil {
			resp.Header = http.Header{}
		}
		resp.Header.Set("Allow", strings.Join(methods, ", "))
		resp.Route = "unmatched"
		return resp
	}
	if refused := a.svc.rates.allow(caller.Subject, time.Now()); refused != nil {
		resp := errorResponse(refused)
		resp.Route = route
		return resp
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.svc.cfg.RequestTimeout)
	defer cancel()
	var resp Response
	switch route {
	case "GET " + a.base:
		resp = a.svc.List()
	case "POST " + a.base:
		resp = a.create(ctx, r, caller)
	case "GET " + a.base + "/{id}":
		resp = a.svc.Get(id)
	case "DELETE " + a.base + "/{id}":
		resp = a.svc.Delete(ctx, caller, id)
	case "PUT " + a.base + "/{id}/table":
		resp = a.svc.SetTable(ctx, caller, id, true)
	case "DELETE " + a.base + "/{id}/table":
		resp = a.svc.SetTable(ctx, caller, id, false)
	}
	resp.Route = route
	return resp
}

func (a *API) create(ctx context.Context, r *http.Request, caller Caller) Response {
	key := r.Header.Get("Idempotency-Key")
	if _, sent := r.Header["Idempotency-Key"]; sent && !validIdempotencyKey(key) {
		return errorResponse(&Error{Status: http.StatusBadRequest, Code: "invalid_idempotency_key",
			Message: "Idempotency-Key must be 1-255 visible ASCII characters"})
	}
	req, bad := DecodeCreateRequest(r, a.svc.cfg.MaxBodyBytes)
	if bad != nil {
		return errorResponse(bad)
	}
	resp := a.svc.Create(ctx, caller, req, key)
	if room, ok := resp.Body.(Room); ok && resp.Status == http.StatusCreated {
		h := resp.Header.Clone() // a replay's headers may be shared with the stored answer
		if h == nil {
			h = http.Header{}
		}
		h.Set("Location", a.base+"/"+room.ID)
		resp.Header = h
	}
	return resp
}

// match finds the route path of a request path: the collection, or one room with its id.
func (a *API) match(p string) (path string, methods []string, id string, ok bool) {
	if p == a.base {
		return "", []string{http.MethodGet, http.MethodPost}, "", true
	}
	rest, found := strings.CutPrefix(p, a.base+"/")
	if !found || rest == "" {
		return "", nil, "", false
	}
	if id, ok := strings.CutSuffix(rest, "/table"); ok && id != "" && !strings.Contains(id, "/") {
		return "/{id}/table", []string{http.MethodPut, http.MethodDelete}, id, true
	}
	if strings.Contains(rest, "/") {
		return "", nil, "", false
	}
	return "/{id}", []string{http.MethodGet, http.MethodDelete}, rest, true
}
