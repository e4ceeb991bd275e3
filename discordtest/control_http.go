package discordtest

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
)

// controlHandler serves the control API over HTTP under /_emulator/, for the sandbox's page and for
// tests not written in Go. It answers 404 unless Config.ControlToken is set, and 401 unless the
// request carries "Authorization: Bearer <ControlToken>"; bot tokens never work here. Browsers
// on Config.ControlAllowedOrigins may call it (CORS).
//
// Routes (JSON bodies and answers):
//
//	GET    /_emulator/state                             world: bot, guilds (channels, voice states, members), users
//	GET    /_emulator/stats                             counters (Stats)
//	GET    /_emulator/audit-log                         REST changes with their audit-log reasons
//	POST   /_emulator/users                             {id?, username, global_name?, avatar?} -> user
//	POST   /_emulator/guilds/{guild}/channels           channel (as in State) -> channel
//	DELETE /_emulator/channels/{channel}                -> channel
//	PUT    /_emulator/guilds/{guild}/voice/{user}       {channel_id}: join or move
//	PATCH  /_emulator/guilds/{guild}/voice/{user}       {mute?, deaf?, self_mute?, self_deaf?, self_video?, self_stream?}
//	DELETE /_emulator/guilds/{guild}/voice/{user}       leave
//	PUT    /_emulator/guilds/{guild}/bot-permissions    {permissions: "<bits>"}: the bot's role
//	PUT    /_emulator/guilds/{guild}/roles/{role}       {permissions: "<bits>"} (role = guild ID: @everyone)
//	PUT    /_emulator/channels/{channel}/permissions/{id}  {type, allow?, deny?}: set an overwrite
//	DELETE /_emulator/channels/{channel}/permissions/{id}  remove an overwrite
//	GET    /_emulator/sessions                          sessions (SessionInfo)
//	GET    /_emulator/sessions/{id}                     one session
//	GET    /_emulator/sessions/{id}/dispatches          dispatches held for replay
//	POST   /_emulator/sessions/{id}/drop                drop the TCP connection
//	POST   /_emulator/sessions/{id}/reconnect           send op 7
//	POST   /_emulator/sessions/{id}/invalid-session     {resumable}: send op 9
//	POST   /_emulator/sessions/{id}/close               {code, reason?}
//	POST   /_emulator/sessions/{id}/heartbeat-acks      {enabled}
//	POST   /_emulator/sessions/{id}/request-heartbeat   send op 1
//	POST   /_emulator/sessions/{id}/invalidate          forget the session
//	POST   /_emulator/rest-faults                       {kind, route?, count?, for_ms?, status?, delay_ms?, retry_after_ms?, global?, scope?}
//	DELETE /_emulator/rest-faults                       clear faults
func (s *Server) controlHandler() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, f func(r *http.Request) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			v, err := f(r)
			if err != nil {
				writeControlError(w, err)
				return
			}
			if v == nil {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			writeJSON(w, http.StatusOK, v)
		})
	}

	handle("GET /_emulator/state", func(*http.Request) (any, error) { return s.State(), nil })
	handle("GET /_emulator/stats", func(*http.Request) (any, error) { return s.Stats(), nil })
	handle("GET /_emulator/audit-log", func(*http.Request) (any, error) { return s.AuditLog(), nil })
	handle("POST /_emulator/users", func(r *http.Request) (any, error) {
		var u User
		if err := s.decodeControl(r, &u); err != nil {
			return nil, err
		}
		added, err := s.AddUser(u)
		if err != nil {
			return nil, badRequest(err)
		}
		return added, nil
	})
	handle("POST /_emulator/guilds/{guild}/channels", func(r *http.Request) (any, error) {
		var c Channel
		if err := s.decodeControl(r, &c); err != nil {
			return nil, err
		}
		return s.CreateChannel(r.PathValue("guild"), c)
	})
	handle("DELETE /_emulator/channels/{channel}", func(r *http.Request) (any, error) {
		return s.DeleteChannel(r.PathValue("channel"))
	})
	handle("PUT /_emulator/guilds/{guild}/voice/{user}", func(r *http.Request) (any, error) {
		var body struct {
			ChannelID string `json:"channel_id"`
		}
		if err := s.decodeControl(r, &body); err != nil {
			return nil, err
		}
		return nil, s.JoinVoice(r.PathValue("guild"), body.ChannelID, r.PathValue("user"))
	})
	handle("PATCH /_emulator/guilds/{guild}/voice/{user}", func(r *http.Request) (any, error) {
		var f VoiceFlags
		if err := s.decodeControl(r, &f); err != nil {
			return nil, err
		}
		return nil, s.SetVoiceFlags(r.PathValue("guild"), r.PathValue("user"), f)
	})
	handle("DELETE /_emulator/guilds/{guild}/voice/{user}", func(r *http.Request) (any, error) {
		return nil, s.LeaveVoice(r.PathValue("guild"), r.PathValue("user"))
	})
	handle("PUT /_emulator/guilds/{guild}/bot-permissions", func(r *http.Request) (any, error) {
		p, err := s.decodePermissions(r)
		if err != nil {
			return nil, err
		}
		return nil, s.SetBotPermissions(r.PathValue("guild"), p)
	})
	handle("PUT /_emulator/guilds/{guild}/roles/{role}", func(r *http.Request) (any, error) {
		p, err := s.decodePermissions(r)
		if err != nil {
			return nil, err
		}
		return nil, s.SetRolePermissions(r.PathValue("guild"), r.PathValue("role"), p)
	})
	handle("PUT /_emulator/channels/{channel}/permissions/{id}", func(r *http.Request) (any, error) {
		var body struct {
			Type  *OverwriteType `json:"type"`
			Allow Permissions    `json:"allow"`
			Deny  Permissions    `json:"deny"`
		}
		if err := s.decodeControl(r, &body); err != nil {
			return nil, err
		}
		if body.Type == nil {
			return nil, badRequest(errors.New("type is required (0 role, 1 member)"))
		}
		return nil, s.SetChannelOverwrite(r.PathValue("channel"), PermissionOverwrite{
			ID: r.PathValue("id"), Type: *body.Type, Allow: body.Allow, Deny: body.Deny,
		})
	})
	handle("DELETE /_emulator/channels/{channel}/permissions/{id}", func(r *http.Request) (any, error) {
		return nil, s.DeleteChannelOverwrite(r.PathValue("channel"), r.PathValue("id"))
	})
	handle("GET /_emulator/sessions", func(*http.Request) (any, error) { return s.Sessions(), nil })
	handle("GET /_emulator/sessions/{id}", func(r *http.Request) (any, error) { return s.Session(r.PathValue("id")) })
	handle("GET /_emulator/sessions/{id}/dispatches", func(r *http.Request) (any, error) {
		return s.Dispatches(r.PathValue("id"))
	})
	handle("POST /_emulator/sessions/{id}/{action}", s.controlSessionAction)
	handle("POST /_emulator/rest-faults", func(r *http.Request) (any, error) {
		var body struct {
			Kind         FaultKind `json:"kind"`
			Route        string    `json:"route"`
			Count        int       `json:"count"`
			ForMS        int64     `json:"for_ms"`
			Status       int       `json:"status"`
			DelayMS      int64     `json:"delay_ms"`
			RetryAfterMS int64     `json:"retry_after_ms"`
			Global       bool      `json:"global"`
			Scope        string    `json:"scope"`
		}
		if err := s.decodeControl(r, &body); err != nil {
			return nil, err
		}
		err := s.AddRESTFault(RESTFault{
			Kind: body.Kind, Route: body.Route, Count: body.Count, For: time.Duration(body.ForMS) * time.Millisecond,
			Status: body.Status, Delay: time.Duration(body.DelayMS) * time.Millisecond,
			RetryAfter: time.Duration(body.RetryAfterMS) * time.Millisecond, Global: body.Global, Scope: body.Scope,
		})
		if err != nil {
			return nil, badRequest(err)
		}
		return nil, nil
	})
	handle("DELETE /_emulator/rest-faults", func(*http.Request) (any, error) {
		s.ClearRESTFaults()
		return nil, nil
	})

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.ControlToken == "" {
			errNotFound().write(w)
			return
		}
		if s.allowCORS(w, r) && r.Method == http.MethodOptions {
			// A preflight carries no credentials; the real request still needs the token.
			w.WriteHeader(http.StatusNoContent)
			return
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.ControlToken)) != 1 {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "control token required"})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// allowCORS sets the CORS headers when the request's origin is allowed, and reports whether it is.
func (s *Server) allowCORS(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	w.Header().Add("Vary", "Origin")
	if !slices.Contains(s.cfg.ControlAllowedOrigins, origin) && !slices.Contains(s.cfg.ControlAllowedOrigins, "*") {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	return true
}

func (s *Server) controlSessionAction(r *http.Request) (any, error) {
	id := r.PathValue("id")
	switch r.PathValue("action") {
	case "drop":
		return nil, s.DropConnection(id)
	case "reconnect":
		return nil, s.SendReconnect(id)
	case "request-heartbeat":
		return nil, s.RequestHeartbeat(id)
	case "invalidate":
		return nil, s.InvalidateSession(id)
	case "invalid-session":
		var body struct {
			Resumable bool `json:"resumable"`
		}
		if err := s.decodeControl(r, &body); err != nil {
			return nil, err
		}
		return nil, s.SendInvalidSession(id, body.Resumable)
	case "heartbeat-acks":
		var body struct {
			Enabled *bool `json:"enabled"`
		}
		if err := s.decodeControl(r, &body); err != nil {
			return nil, err
		}
		if body.Enabled == nil {
			return nil, badRequest(errors.New("enabled is required"))
		}
		return nil, s.SetHeartbeatACKs(id, *body.Enabled)
	case "close":
		var body struct {
			Code   int    `json:"code"`
			Reason string `json:"reason"`
		}
		if err := s.decodeControl(r, &body); err != nil {
			return nil, err
		}
		if err := s.CloseSession(id, body.Code, body.Reason); err != nil {
			if errors.Is(err, ErrUnknownSession) || errors.Is(err, ErrNotConnected) {
				return nil, err
			}
			return nil, badRequest(err)
		}
		return nil, nil
	default:
		return nil, controlError{status: http.StatusNotFound, err: errors.New("unknown session action")}
	}
}

// controlError is a control API error with its HTTP status.
type controlError struct {
	status int
	err    error
}

func (e controlError) Error() string { return e.err.Error() }

func badRequest(err error) error { return controlError{status: http.StatusBadRequest, err: err} }

// decodePermissions reads {permissions: "<bits>"}, which must be given.
func (s *Server) decodePermissions(r *http.Request) (Permissions, error) {
	var body struct {
		Permissions *Permissions `json:"permissions"`
	}
	if err := s.decodeControl(r, &body); err != nil {
		return 0, err
	}
	if body.Permissions == nil {
		return 0, badRequest(errors.New("permissions is required"))
	}
	return *body.Permissions, nil
}

func (s *Server) decodeControl(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, s.cfg.REST.MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest(errors.New("invalid JSON body: " + err.Error()))
	}
	return nil
}

// writeControlError answers an error: an *APIError with Discord's body and status, anything else
// as {"error": message}.
func writeControlError(w http.ResponseWriter, err error) {
	var apiErr *APIError
	var ctlErr controlError
	switch {
	case errors.As(err, &apiErr):
		apiErr.write(w)
	case errors.As(err, &ctlErr):
		writeJSON(w, ctlErr.status, map[string]string{"error": ctlErr.Error()})
	case errors.Is(err, ErrUnknownSession):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	case errors.Is(err, ErrNotConnected):
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	}
}
