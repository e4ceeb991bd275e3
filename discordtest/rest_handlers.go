package discordtest

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// The REST routes. Each runs with the request authenticated and within its rate limits; changes
// go through the same world methods as the control API and dispatch to the gateway before the
// answer is written, as Discord's events may arrive before its HTTP answer.

func (s *Server) restGateway(_ *restCall) (int, any, *APIError) {
	return http.StatusOK, map[string]string{"url": s.GatewayURL()}, nil
}

func (s *Server) restGatewayBot(c *restCall) (int, any, *APIError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	remaining, resetAfter := s.throttleOf(s.userOfRequest(c.r).ID).sessionStartRemaining(time.Now(), s.cfg.Gateway)
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

func (s *Server) restCurrentUser(c *restCall) (int, any, *APIError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return http.StatusOK, wireSelfUser(s.userOfRequest(c.r)), nil
}

// restGetUser answers GET /users/{id} for the bot, the emulated users and the guilds' owner.
func (s *Server) restGetUser(c *restCall) (int, any, *APIError) {
	id := c.params["user.id"]
	if !isSnowflake(id) {
		errs := formErrors{}
		errs.add([]string{"user_id"}, "NUMBER_TYPE_COERCE", fmt.Sprintf("Value %q is not snowflake.", id))
		return 0, nil, errs.apiError()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.world.users[id]
	if !ok {
		return 0, nil, errUnknownUser()
	}
	return http.StatusOK, wireUser(u), nil
}

// restCurrentApplication answers GET /applications/@me: the bot's application, whose ID is the
// bot's user ID as for every application made since 2017.
func (s *Server) restCurrentApplication(_ *restCall) (int, any, *APIError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	bot := &s.world.bot
	return http.StatusOK, map[string]any{
		"id":                                bot.ID,
		"name":                              bot.Username,
		"icon":                              nil,
		"description":                       "",
		"summary":                           "",
		"type":                              nil,
		"bot":                               wireUser(bot),
		"bot_public":                        true,
		"bot_require_code_grant":            false,
		"verify_key":                        bucketHash("verify-key:" + bot.ID)[:32] + bucketHash("verify-key2:" + bot.ID)[:32],
		"owner":                             wireUser(&s.world.owner),
		"team":                              nil,
		"flags":                             0,
		"tags":                              []string{},
		"redirect_uris":                     []string{},
		"interactions_endpoint_url":         nil,
		"approximate_guild_count":           len(s.world.order),
		"approximate_user_install_count":    0,
		"integration_types_config":          map[string]any{"0": map[string]any{}},
		"install_params":                    nil,
		"role_connections_verification_url": nil,
		"event_webhooks_url":                nil,
		"event_webhooks_status":             1,
	}, nil
}

func (s *Server) restListRoles(c *restCall) (int, any, *APIError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, apiErr := s.world.guild(c.params["guild.id"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	return http.StatusOK, wireRoles(g), nil
}

func (s *Server) restGetGuild(c *restCall) (int, any, *APIError) {
	withCounts := false
	if v := c.r.URL.Query().Get("with_counts"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs := formErrors{}
			errs.add([]string{"with_counts"}, "BOOLEAN_TYPE_COERCE", fmt.Sprintf("Value %q is not a valid boolean.", v))
			return 0, nil, errs.apiError()
		}
		withCounts = b
	}
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
	if withCounts {
		out["approximate_member_count"] = len(g.members)
		out["approximate_presence_count"] = s.onlineCountLocked(g)
	}
	return http.StatusOK, out, nil
}

// onlineCountLocked is the approximate presence count: the emulator models no presences, so the
// members it knows to be online are the users in voice, and the bot while a session is connected.
func (s *Server) onlineCountLocked(g *guild) int {
	n := 0
	for uid := range g.voice {
		if uid != s.world.bot.ID {
			n++
		}
	}
	for _, sess := range s.sessions {
		if sess.conn != nil {
			return n + 1
		}
	}
	return n
}

func (s *Server) restListChannels(c *restCall) (int, any, *APIError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, apiErr := s.world.guild(c.params["guild.id"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	// Channels the bot may not view are left out, as Discord does since it obfuscates them.
	out := []map[string]any{}
	for _, ch := range g.sortedChannels() {
		if s.world.botSees(g, ch) {
			out = append(out, wireChannel(ch))
		}
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
	g, ch, apiErr := s.world.channel(c.params["channel.id"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	if apiErr := s.world.botCan(g, ch, PermissionViewChannel); apiErr != nil {
		return 0, nil, apiErr
	}
	return http.StatusOK, wireChannel(ch), nil
}

func (s *Server) restModifyChannel(c *restCall) (int, any, *APIError) {
	p, apiErr := parseChannelParams(c.body)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	id := c.params["channel.id"]
	s.mu.Lock()
	defer s.mu.Unlock()
	renames := false
	if _, cur, apiErr := s.world.channel(id); apiErr == nil {
		renames = p.renames(cur)
	}
	limited := renames && !s.cfg.REST.RateLimitsDisabled
	now := time.Now()
	if limited {
		if wait := s.limiter.renameWait(id, now); wait > 0 {
			writeSharedLimit(c.header, wait)
			return http.StatusTooManyRequests, rateDecision{retryAfter: wait}.body(), nil
		}
	}
	ch, events, apiErr := s.world.updateChannel(id, p, true)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	if limited {
		s.limiter.renamed(id, now)
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

// restReorderChannels answers PATCH /guilds/{id}/channels: 204, with a CHANNEL_UPDATE per channel
// moved.
func (s *Server) restReorderChannels(c *restCall) (int, any, *APIError) {
	changes, apiErr := parsePositions(c.body)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	events, apiErr := s.world.reorderChannels(c.params["guild.id"], changes, true)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	s.dispatchLocked(events)
	return http.StatusNoContent, nil, nil
}

// restPutOverwrite answers PUT /channels/{id}/permissions/{overwrite}: 204 and CHANNEL_UPDATE.
func (s *Server) restPutOverwrite(c *restCall) (int, any, *APIError) {
	o, apiErr := parseOverwrite(c.params["overwrite.id"], c.body)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, events, apiErr := s.world.setOverwrite(c.params["channel.id"], o, true)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	s.recordAudit("CHANNEL_OVERWRITE_UPDATE", ch.ID, c.auditReason)
	s.dispatchLocked(events)
	return http.StatusNoContent, nil, nil
}

// restDeleteOverwrite answers DELETE /channels/{id}/permissions/{overwrite}: 204 and CHANNEL_UPDATE.
func (s *Server) restDeleteOverwrite(c *restCall) (int, any, *APIError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, events, apiErr := s.world.deleteOverwrite(c.params["channel.id"], c.params["overwrite.id"], true)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	s.recordAudit("CHANNEL_OVERWRITE_DELETE", ch.ID, c.auditReason)
	s.dispatchLocked(events)
	return http.StatusNoContent, nil, nil
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
