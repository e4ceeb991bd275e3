package discordtest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/spellcoven/gateway/internal/ctxsleep"
)

// restRoute is one REST route: its method, its path template and what answers it.
type restRoute struct {
	method string
	// template is the path after /api/vN, with parameters in braces: "guilds/{guild.id}/channels".
	template string
	segments []string
	// auth says whether the route needs a bot token (all but GET /gateway).
	auth   bool
	handle func(s *Server, c *restCall) (int, any, *APIError)
}

// name is the route as rate-limit configuration and faults refer to it: "POST /guilds/{guild.id}/channels".
func (rt *restRoute) name() string { return rt.method + " /" + rt.template }

// restCall is one matched request.
type restCall struct {
	r      *http.Request
	params map[string]string
	body   []byte
	// auditReason is the decoded X-Audit-Log-Reason header.
	auditReason string
	// header is the answer's header, for a route that answers 429 itself.
	header http.Header
}

var restRoutes = buildRoutes([]*restRoute{
	{method: http.MethodGet, template: "gateway", handle: (*Server).restGateway},
	{method: http.MethodGet, template: "gateway/bot", auth: true, handle: (*Server).restGatewayBot},
	{method: http.MethodGet, template: "users/@me", auth: true, handle: (*Server).restCurrentUser},
	{method: http.MethodGet, template: "users/{user.id}", auth: true, handle: (*Server).restGetUser},
	{method: http.MethodGet, template: "applications/@me", auth: true, handle: (*Server).restCurrentApplication},
	{method: http.MethodGet, template: "guilds/{guild.id}", auth: true, handle: (*Server).restGetGuild},
	{method: http.MethodGet, template: "guilds/{guild.id}/roles", auth: true, handle: (*Server).restListRoles},
	{method: http.MethodGet, template: "guilds/{guild.id}/channels", auth: true, handle: (*Server).restListChannels},
	{method: http.MethodPost, template: "guilds/{guild.id}/channels", auth: true, handle: (*Server).restCreateChannel},
	{method: http.MethodPatch, template: "guilds/{guild.id}/channels", auth: true, handle: (*Server).restReorderChannels},
	{method: http.MethodGet, template: "guilds/{guild.id}/members/{user.id}", auth: true, handle: (*Server).restGetMember},
	{method: http.MethodGet, template: "guilds/{guild.id}/voice-states/{user.id}", auth: true, handle: (*Server).restGetVoiceState},
	{method: http.MethodGet, template: "channels/{channel.id}", auth: true, handle: (*Server).restGetChannel},
	{method: http.MethodPatch, template: "channels/{channel.id}", auth: true, handle: (*Server).restModifyChannel},
	{method: http.MethodDelete, template: "channels/{channel.id}", auth: true, handle: (*Server).restDeleteChannel},
	{method: http.MethodPut, template: "channels/{channel.id}/permissions/{overwrite.id}", auth: true, handle: (*Server).restPutOverwrite},
	{method: http.MethodDelete, template: "channels/{channel.id}/permissions/{overwrite.id}", auth: true, handle: (*Server).restDeleteOverwrite},
})

func buildRoutes(routes []*restRoute) []*restRoute {
	for _, rt := range routes {
		rt.segments = strings.Split(rt.template, "/")
	}
	return routes
}

// routeNames lists every route name, for validating configuration and faults.
func routeNames() map[string]bool {
	names := make(map[string]bool, len(restRoutes))
	for _, rt := range restRoutes {
		names[rt.name()] = true
	}
	return names
}

// match finds the route for a path; pathFound reports a path that exists with another method.
func matchRoute(method string, segments []string) (rt *restRoute, params map[string]string, pathFound bool) {
	for _, cand := range restRoutes {
		p, ok := cand.matchPath(segments)
		if !ok {
			continue
		}
		if cand.method == method {
			return cand, p, true
		}
		pathFound = true
	}
	return nil, nil, pathFound
}

func (rt *restRoute) matchPath(segments []string) (map[string]string, bool) {
	if len(segments) != len(rt.segments) {
		return nil, false
	}
	var params map[string]string
	for i, seg := range rt.segments {
		if strings.HasPrefix(seg, "{") {
			if params == nil {
				params = make(map[string]string, 2)
			}
			params[strings.Trim(seg, "{}")] = segments[i]
			continue
		}
		if seg != segments[i] {
			return nil, false
		}
	}
	return params, true
}

// majorParameter is the ID that splits a route's bucket, as on Discord: the guild or channel.
func majorParameter(params map[string]string) string {
	if id, ok := params["channel.id"]; ok {
		return id
	}
	return params["guild.id"]
}

var apiVersionSegment = regexp.MustCompile(`^v[0-9]+$`)

// serveREST answers /api/... in the order Discord's edge does: routing, Cloudflare's ban,
// authentication, injected faults, the global and per-route rate limits, then the route itself.
func (s *Server) serveREST(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(strings.TrimPrefix(r.URL.Path, "/api"), "/")
	segments := strings.Split(path, "/")
	if apiVersionSegment.MatchString(segments[0]) {
		if segments[0] != "v9" && segments[0] != "v10" {
			s.answer(w, r, errInvalidAPIVersion().Status, errInvalidAPIVersion())
			return
		}
		segments = segments[1:]
	}
	rt, params, pathFound := matchRoute(r.Method, segments)
	if rt == nil {
		apiErr := errNotFound()
		if pathFound {
			apiErr = errMethodNotAllowed()
		}
		s.answer(w, r, apiErr.Status, apiErr)
		return
	}

	client := clientAddress(r)
	now := time.Now()
	if s.limiter.banned(client, now) {
		s.obs.restAnswered(http.StatusForbidden)
		writeBanPage(w)
		return
	}
	identity := "ip:" + client
	if rt.auth {
		token, ok := s.botToken(r.Header.Get("Authorization"))
		if !ok {
			s.limiter.countInvalid(client, now)
			s.answer(w, r, http.StatusUnauthorized, errUnauthorized())
			return
		}
		identity = "bot:" + token
		if _, voice := s.voiceBotOfToken(token); voice && !voiceBotRoutes[rt.name()] {
			s.answer(w, r, http.StatusForbidden, errBotsCannotUse())
			return
		}
	}

	if f, ok := s.faults.take(rt.name(), now); ok {
		if done := s.applyFault(w, r, f, client, s.limiter.peek(identity, rt, majorParameter(params), now)); done {
			return
		}
	}

	if !s.cfg.REST.RateLimitsDisabled {
		d := s.limiter.take(identity, rt, majorParameter(params), rt.auth, time.Now())
		d.writeHeaders(w.Header())
		if d.limited {
			s.limiter.countInvalid(client, time.Now())
			s.answer(w, r, http.StatusTooManyRequests, d.body())
			return
		}
	}

	call := &restCall{r: r, params: params, header: w.Header()}
	if r.Method == http.MethodPost || r.Method == http.MethodPatch || r.Method == http.MethodPut {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.REST.MaxBodyBytes))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				s.answer(w, r, http.StatusRequestEntityTooLarge, errBodyTooLarge())
			}
			return
		}
		call.body = body
	}
	if reason := r.Header.Get("X-Audit-Log-Reason"); reason != "" {
		if decoded, err := url.PathUnescape(reason); err == nil {
			reason = decoded
		}
		call.auditReason = reason
	}

	status, body, apiErr := rt.handle(s, call)
	if apiErr != nil {
		if apiErr.Status == http.StatusForbidden {
			s.limiter.countInvalid(client, time.Now())
		}
		s.answer(w, r, apiErr.Status, apiErr)
		return
	}
	s.answer(w, r, status, body)
}

// answer writes a JSON answer and counts it.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, status int, body any) {
	s.obs.restAnswered(status)
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, body)
	s.log.Debug("rest", "method", r.Method, "path", r.URL.Path, "status", status)
}

// botToken checks an Authorization header: "Bot <token>" with a configured token.
func (s *Server) botToken(header string) (string, bool) {
	token, ok := strings.CutPrefix(header, "Bot ")
	if !ok {
		return "", false
	}
	return token, s.validToken(token)
}

func (s *Server) validToken(token string) bool {
	if id, voice := s.voiceBotOfToken(token); voice {
		_, reset := s.voiceTokenReset.Load(id)
		return !reset
	}
	if s.tokenReset.Load() {
		return false
	}
	for _, t := range s.cfg.BotTokens {
		if t == token {
			return true
		}
	}
	return false
}

// applyFault carries out an injected fault; it reports whether the fault answered the request.
// bucket is the route's bucket as it stands, which a "shared" 429 reports untouched.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f RESTFault, client string, bucket rateDecision) bool {
	switch f.Kind {
	case FaultDelay:
		if err := ctxsleep.Sleep(r.Context(), f.Delay); err != nil {
			return true
		}
		return false
	case FaultServerError:
		s.answer(w, r, f.Status, &APIError{Code: 0, Message: fmt.Sprintf("%d: %s", f.Status, http.StatusText(f.Status))})
		return true
	default: // FaultRateLimit
		d := rateDecision{limited: true, global: f.Global, retryAfter: f.RetryAfter, scope: f.Scope}
		switch f.Scope {
		case "shared":
			// A limit on the resource: the bot's bucket is what it was, and Discord does not hold
			// the 429 against the bot.
			if !s.cfg.REST.RateLimitsDisabled {
				bucket.writeHeaders(w.Header())
			}
			writeSharedLimit(w.Header(), f.RetryAfter)
		case "user":
			d.limit, d.resetAt, d.bucket = bucket.limit, time.Now().Add(f.RetryAfter), bucket.bucket
			d.writeHeaders(w.Header())
			s.limiter.countInvalid(client, time.Now())
		default: // global
			d.writeHeaders(w.Header())
			s.limiter.countInvalid(client, time.Now())
		}
		s.answer(w, r, http.StatusTooManyRequests, d.body())
		return true
	}
}

// clientAddress is the caller's IP, which Cloudflare's ban applies to.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// writeBanPage answers like Cloudflare in front of a banned client: 403 with an HTML page, not JSON.
func writeBanPage(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	w.WriteHeader(http.StatusForbidden)
	_, _ = io.WriteString(w, "<!DOCTYPE html>\n<html><head><title>Access denied | discord.com used Cloudflare to restrict access</title></head>"+
		"<body><h1>Error 1015</h1><p>You are being rate limited.</p><p>The owner of this website (discord.com) has banned you temporarily from accessing this website.</p></body></html>\n")
}
