package discordtest

import (
	"net/http"
	"time"
)

// The REST routes. Each runs with the request authenticated and within its rate limits; changes
// go through the same world methods as the control API and dispatch to the gateway before the
// answer is written, as Discord's events may arrive before its HTTP answer.

func (s *Server) restGateway(_ *restCall) (int, any, *APIError) {
	return http.StatusOK, map[string]string{"url": s.GatewayURL()}, nil
}

func (s *Server) restGatewayBot(_ *restCall) (int, any, *APIError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	remaining, resetAfter := s.throttle.sessionStartRemaining(time.Now(), s.cfg.Gateway)
	return http.StatusOK, map[string]any{
		"url":    s.gatewayURLLocked(),
		"shards": 1,
		"session_start_limit": map[string]any{
			"total":           s.cfg.Gateway.SessionStartLimit,
			"remaining":       remaining,
			"reset_after":     resetAfter.Milliseconds(),
			"max_concurrency": s.cfg.Gateway.IdentifyMaxConcurrency,
		},
	}, nil
}

func (s *Server) restCurrentUser(_ *restCall) (int, any, *APIError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return http.StatusOK, wireSelfUser(&s.world.bot), nil
}

func (s *Server) restGetGuild(c *restCall) (int, any, *APIError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, apiErr := s.world.guild(c.params["guild.id"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	full := s.world.wireGuildCreate(g, 0, 0)
	out := make(map[string]any, len(full))
	// GET /guilds/{id} carries the guild object without the gateway-only keys.
	for k, v := range full {
		switch k {
		case "channels", "threads", "members", "voice_states", "presences", "stage_instances",
			"guild_scheduled_events", "soundboard_sounds", "joined_at", "large", "unavailable", "member_count", "lazy":
		default:
			out[k] = v
		}
	}
	return http.StatusOK, out, nil
}

func (s *Server) restListChannels(c *restCall) (int, any, *APIError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, apiErr := s.world.guild(c.params["guild.id"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	out := []map[string]any{}
	for _, ch := range g.sortedChannels() {
		out = append(out, wireChannel(ch))
	}
	return http.StatusOK, out, nil
}

func (s *Server) restCreateChannel(c *restCall) (int, any, *APIError) {
	p, apiErr := parseChannelParams(c.body)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, events, apiErr := s.world.createChannel(c.params["guild.id"], p, true)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	s.recordAudit("CHANNEL_CREATE", ch.ID, c.auditReason)
	s.dispatchLocked(events)
	return http.StatusCreated, wireChannel(&ch), nil
}

func (s *Server) restGetChannel(c *restCall) (int, any, *APIError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ch, apiErr := s.world.channel(c.params["channel.id"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	return http.StatusOK, wireChannel(ch), nil
}

func (s *Server) restModifyChannel(c *restCall) (int, any, *APIError) {
	p, apiErr := parseChannelParams(c.body)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, events, apiErr := s.world.updateChannel(c.params["channel.id"], p, true)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	s.recordAudit("CHANNEL_UPDATE", ch.ID, c.auditReason)
	s.dispatchLocked(events)
	return http.StatusOK, wireChannel(&ch), nil
}

func (s *Server) restDeleteChannel(c *restCall) (int, any, *APIError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, events, apiErr := s.world.deleteChannel(c.params["channel.id"], true)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	s.recordAudit("CHANNEL_DELETE", ch.ID, c.auditReason)
	s.dispatchLocked(events)
	return http.StatusOK, wireChannel(&ch), nil
}

func (s *Server) restGetMember(c *restCall) (int, any, *APIError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, apiErr := s.world.guild(c.params["guild.id"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	uid := c.params["user.id"]
	u, ok := s.world.users[uid]
	if !ok || !g.isMember(uid) {
		return 0, nil, errUnknownMember()
	}
	return http.StatusOK, wireMember(g, u, g.members[uid]), nil
}

func (s *Server) restGetVoiceState(c *restCall) (int, any, *APIError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, apiErr := s.world.guild(c.params["guild.id"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	uid := c.params["user.id"]
	if uid == "@me" {
		uid = s.world.bot.ID
	}
	vs, ok := g.voice[uid]
	if !ok {
		return 0, nil, &APIError{Status: http.StatusNotFound, Code: 10065, Message: "Unknown Voice State"}
	}
	data := wireVoiceState(vs, true)
	data["member"] = wireMember(g, s.world.users[uid], g.members[uid])
	return http.StatusOK, data, nil
}
