package discordtest

import (
	"encoding/json"
	"strings"
	"time"
)

// clientPayload is the envelope of a client payload.
type clientPayload struct {
	Op *int            `json:"op"`
	D  json.RawMessage `json:"d"`
}

// handle acts on one client payload, then runs what had to wait for the lock's release (calls
// into the voice backend).
func (c *gatewayConn) handle(data []byte, tooBig bool) {
	s := c.srv
	s.mu.Lock()
	after := c.handleLocked(data, tooBig)
	s.mu.Unlock()
	if after != nil {
		after()
	}
}

// handleLocked acts on one client payload with the lock held. It returns work to run once the
// lock is released, or nil.
func (c *gatewayConn) handleLocked(data []byte, tooBig bool) func() {
	s := c.srv
	if c.closing || c.finished {
		return nil
	}
	now := time.Now()
	if !now.Before(c.sentWindow) {
		c.sent, c.sentWindow = 0, now.Add(s.cfg.Gateway.SendWindow)
	}
	c.sent++
	if c.sent > s.cfg.Gateway.SendLimit {
		c.closeLocked(closeRateLimited, "You are being rate limited.")
		return nil
	}
	if tooBig {
		c.closeLocked(closeDecodeError, "Error while decoding payload.")
		return nil
	}
	var p clientPayload
	if err := json.Unmarshal(data, &p); err != nil || p.Op == nil {
		c.closeLocked(closeDecodeError, "Error while decoding payload.")
		return nil
	}
	op := *p.Op
	s.obs.opReceived(op)
	if c.sess != nil {
		c.sess.recordOp(op)
	}

	switch op {
	case opHeartbeat:
		c.heartbeatLocked(p.D)
	case opIdentify, opResume:
		if c.sess != nil {
			c.closeLocked(closeAlreadyAuthenticated, "You're already authenticated.")
			return nil
		}
		if op == opIdentify {
			c.identifyLocked(p.D, now)
		} else {
			c.resumeLocked(p.D, now)
		}
	case opPresenceUpdate, opVoiceStateUpdate, opRequestGuildMembers:
		if c.sess == nil {
			c.closeLocked(closeNotAuthenticated, "You're not authenticated.")
			return nil
		}
		switch op {
		case opPresenceUpdate:
			var presence map[string]json.RawMessage
			if err := json.Unmarshal(p.D, &presence); err != nil || presence == nil {
				c.closeLocked(closeDecodeError, "Error while decoding payload.")
			}
		case opVoiceStateUpdate:
			return c.voiceStateLocked(p.D)
		case opRequestGuildMembers:
			c.requestMembersLocked(p.D)
		}
	default:
		c.closeLocked(closeUnknownOpcode, "Unknown opcode.")
	}
	return nil
}

func (c *gatewayConn) heartbeatLocked(d json.RawMessage) {
	s := c.srv
	if len(d) > 0 && !isNull(d) {
		var seq int64
		if err := json.Unmarshal(d, &seq); err != nil {
			c.closeLocked(closeDecodeError, "Error while decoding payload.")
			return
		}
	}
	s.obs.heartbeat(c.ackHeartbeats)
	if c.hbTimer != nil {
		c.hbTimer.Reset(s.cfg.Gateway.HeartbeatTimeout)
	}
	if c.ackHeartbeats {
		c.enqueue(outFrame{payload: opPayload(opHeartbeatACK, nil)})
	}
}

// identifyData is op 2's payload, accepting both today's keys and discordgo's legacy ones
// ($os-style properties, presence.game).
type identifyData struct {
	Token          *string                    `json:"token"`
	Properties     map[string]json.RawMessage `json:"properties"`
	Compress       bool                       `json:"compress"`
	LargeThreshold *int                       `json:"large_threshold"`
	Shard          []int                      `json:"shard"`
	Presence       json.RawMessage            `json:"presence"`
	Intents        *uint64                    `json:"intents"`
}

func (c *gatewayConn) identifyLocked(d json.RawMessage, now time.Time) {
	s := c.srv
	var id identifyData
	if err := json.Unmarshal(d, &id); err != nil || id.Properties == nil {
		c.closeLocked(closeDecodeError, "Error while decoding payload.")
		return
	}
	if id.Token == nil || !s.validToken(strings.TrimPrefix(*id.Token, "Bot ")) {
		c.closeLocked(closeAuthenticationFailed, "Authentication failed.")
		return
	}
	token := strings.TrimPrefix(*id.Token, "Bot ")
	if id.Intents == nil || Intents(*id.Intents)&^knownIntents != 0 {
		c.closeLocked(closeInvalidIntents, "Invalid intent(s).")
		return
	}
	intents := Intents(*id.Intents)
	if intents&privilegedIntents&^s.cfg.Gateway.PrivilegedIntents != 0 {
		c.closeLocked(closeDisallowedIntents, "Disallowed intent(s).")
		return
	}
	var shard [2]int
	if id.Shard != nil {
		if len(id.Shard) != 2 || id.Shard[1] < 1 || id.Shard[0] < 0 || id.Shard[0] >= id.Shard[1] {
			c.closeLocked(closeInvalidShard, "Invalid shard.")
			return
		}
		shard = [2]int{id.Shard[0], id.Shard[1]}
	}
	largeThreshold := 50
	if id.LargeThreshold != nil && *id.LargeThreshold != 0 {
		if *id.LargeThreshold < 50 || *id.LargeThreshold > 250 {
			c.closeLocked(closeDecodeError, "Error while decoding payload.")
			return
		}
		largeThreshold = *id.LargeThreshold
	}

	user := s.userOfToken(token)
	ok, exhausted := s.throttleOf(user.ID).allow(now, s.cfg.Gateway)
	if exhausted {
		// Discord resets the token of a bot that used up its session starts: the identify fails
		// authentication, and so does everything else the old token tries.
		s.log.Warn("session start limit reached: the bot token is reset and its sessions end", "bot", user.ID)
		s.resetTokenLocked(user.ID)
		c.closeLocked(closeAuthenticationFailed, "Authentication failed.")
		return
	}
	if !ok {
		s.obs.invalidSessionSent()
		c.enqueue(outFrame{payload: opPayload(opInvalidSession, false)})
		return
	}

	sess := &session{
		id:             randomHex(16),
		token:          token,
		userID:         user.ID,
		intents:        intents,
		shard:          shard,
		largeThreshold: largeThreshold,
		compress:       id.Compress,
		version:        c.version,
		createdAt:      now.UTC(),
		conn:           c,
		buffer:         newBoundedLog[bufferedDispatch](s.cfg.Gateway.ReplayBufferSize),
		ops:            newBoundedLog[ReceivedOp](s.cfg.ObservationLimit),
	}
	s.sessions[sess.id] = sess
	c.sess = sess
	if id.Compress && !c.zlibStream {
		c.perMessage.Store(true)
	}
	sess.recordOp(opIdentify)
	s.obs.identified()
	s.log.Info("gateway session identified", "session", sess.id, "intents", uint64(intents), "v", c.version)
	s.dispatchLocked(s.readyEvents(sess))
}

// resetTokenLocked does what Discord does to a bot past its session start limit: its token stops
// working, over REST and the gateway, and every session of the bot ends (closed with 4004).
func (s *Server) resetTokenLocked(userID string) {
	if userID != s.world.bot.ID {
		s.voiceTokenReset.Store(userID, true)
	} else {
		s.tokenReset.Store(true)
	}
	for id, sess := range s.sessions {
		if sess.userID != userID {
			continue
		}
		if c := sess.conn; c != nil {
			c.closeLocked(closeAuthenticationFailed, "Authentication failed.")
		}
		delete(s.sessions, id)
	}
}

// readyEvents builds READY and, with the GUILDS intent, one GUILD_CREATE per guild on the
// session's shard.
func (s *Server) readyEvents(sess *session) []event {
	w := s.world
	guilds := []map[string]any{}
	for _, gid := range w.order {
		if sess.onShard(gid) {
			guilds = append(guilds, map[string]any{"id": gid, "unavailable": true})
		}
	}
	ready := map[string]any{
		"v":                       sess.version,
		"user":                    wireSelfUser(w.users[sess.userID]),
		"guilds":                  guilds,
		"session_id":              sess.id,
		"session_type":            "normal",
		"resume_gateway_url":      s.gatewayURLLocked(),
		"application":             map[string]any{"id": sess.userID, "flags": 0},
		"private_channels":        []any{},
		"relationships":           []any{},
		"presences":               []any{},
		"guild_join_requests":     []any{},
		"geo_ordered_rtc_regions": []string{"emulated"},
		"user_settings":           map[string]any{},
		"auth":                    map[string]any{},
		"_trace":                  []string{`["discordtest-gateway"]`},
	}
	if sess.shard[1] > 0 {
		ready["shard"] = sess.shard
	}
	events := []event{{name: "READY", target: sess, data: ready}}
	if sess.intents&IntentGuilds != 0 {
		for _, gid := range w.order {
			if sess.onShard(gid) {
				data := w.wireGuildCreate(w.guilds[gid], sess.intents, sess.largeThreshold)
				events = append(events, event{name: "GUILD_CREATE", guildID: gid, target: sess, data: data})
			}
		}
	}
	return events
}

type resumeData struct {
	Token     *string `json:"token"`
	SessionID *string `json:"session_id"`
	Seq       *int64  `json:"seq"`
}

func (c *gatewayConn) resumeLocked(d json.RawMessage, now time.Time) {
	s := c.srv
	var r resumeData
	if err := json.Unmarshal(d, &r); err != nil || r.SessionID == nil || r.Seq == nil {
		c.closeLocked(closeDecodeError, "Error while decoding payload.")
		return
	}
	if r.Token == nil || !s.validToken(strings.TrimPrefix(*r.Token, "Bot ")) {
		c.closeLocked(closeAuthenticationFailed, "Authentication failed.")
		return
	}
	sess, ok := s.sessions[*r.SessionID]
	if ok && sess.expired(now, s.cfg.Gateway.ResumeWindow) {
		delete(s.sessions, sess.id)
		ok = false
	}
	if !ok || sess.token != strings.TrimPrefix(*r.Token, "Bot ") || !sess.replayable(*r.Seq) {
		s.obs.resumeFailed()
		s.obs.invalidSessionSent()
		c.enqueue(outFrame{payload: opPayload(opInvalidSession, false)})
		return
	}
	if old := sess.conn; old != nil {
		// The session moves to the new connection; the old one, a zombie from the server's view,
		// is dropped.
		old.sess = nil
		old.closing = true
		old.drop()
	}
	sess.conn = c
	c.sess = sess
	sess.resumes++
	if sess.compress && !c.zlibStream {
		c.perMessage.Store(true)
	}
	sess.recordOp(opResume)
	for _, b := range sess.buffer.all() {
		if b.seq > *r.Seq {
			c.enqueue(outFrame{payload: b.payload, dispatch: true})
		}
	}
	s.obs.resumed()
	s.log.Info("gateway session resumed", "session", sess.id, "from_seq", *r.Seq, "to_seq", sess.seq)
	s.dispatchLocked([]event{{name: "RESUMED", target: sess, data: map[string]any{"_trace": []string{`["discordtest-gateway"]`}}}})
}

type requestMembersData struct {
	GuildID json.RawMessage `json:"guild_id"`
	Query   *string         `json:"query"`
	Limit   int             `json:"limit"`
	UserIDs json.RawMessage `json:"user_ids"`
	Nonce   string          `json:"nonce"`
}

// requestMembersLocked answers op 8 as Discord does: one guild per request (of a list, only the
// first is answered), the whole member list (an empty query) only with the GUILD_MEMBERS intent
// (without it, no answer at all), at most 100 members for a query or a list of user IDs, and
// chunks of at most 1000 members.
func (c *gatewayConn) requestMembersLocked(d json.RawMessage) {
	s := c.srv
	var r requestMembersData
	if err := json.Unmarshal(d, &r); err != nil {
		c.closeLocked(closeDecodeError, "Error while decoding payload.")
		return
	}
	guildIDs, ok := stringOrList(r.GuildID)
	userIDs, okUsers := stringOrList(r.UserIDs)
	if !ok || !okUsers || r.Limit < 0 {
		c.closeLocked(closeDecodeError, "Error while decoding payload.")
		return
	}
	if len(guildIDs) == 0 {
		return
	}
	g, found := s.world.guilds[guildIDs[0]]
	if !found {
		return
	}
	query := ""
	if r.Query != nil {
		query = strings.ToLower(*r.Query)
	}
	if len(userIDs) == 0 && query == "" && c.sess.intents&IntentGuildMembers == 0 {
		s.log.Debug("member request without the GUILD_MEMBERS intent left unanswered", "session", c.sess.id)
		return
	}
	const maxQueried = 100
	members := []map[string]any{}
	notFound := []string{}
	if len(userIDs) > 0 {
		for _, uid := range userIDs[:min(len(userIDs), maxQueried)] {
			if u, known := s.world.users[uid]; known && g.isMember(uid) {
				members = append(members, wireMember(g, u, g.members[uid]))
			} else {
				notFound = append(notFound, uid)
			}
		}
	} else {
		limit := r.Limit
		if query != "" && (limit == 0 || limit > maxQueried) {
			limit = maxQueried
		}
		for _, uid := range s.world.userOrder {
			u := s.world.users[uid]
			if !g.isMember(uid) || !strings.HasPrefix(strings.ToLower(u.Username), query) {
				continue
			}
			if limit > 0 && len(members) >= limit {
				break
			}
			members = append(members, wireMember(g, u, g.members[uid]))
		}
	}
	const chunkSize = 1000
	count := max((len(members)+chunkSize-1)/chunkSize, 1)
	var events []event
	for i := range count {
		chunk := map[string]any{"guild_id": g.ID, "members": members[i*chunkSize : min((i+1)*chunkSize, len(members))],
			"chunk_index": i, "chunk_count": count}
		if len(userIDs) > 0 && i == count-1 {
			chunk["not_found"] = notFound
		}
		if r.Nonce != "" {
			chunk["nonce"] = r.Nonce
		}
		events = append(events, event{name: "GUILD_MEMBERS_CHUNK", guildID: g.ID, target: c.sess, data: chunk})
	}
	s.dispatchLocked(events)
}

// stringOrList decodes an ID or a list of IDs (discordgo sends guild_id as a list); absent or null
// gives none.
func stringOrList(raw json.RawMessage) ([]string, bool) {
	if len(raw) == 0 || isNull(raw) {
		return nil, true
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, true
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, true
	}
	return nil, false
}
