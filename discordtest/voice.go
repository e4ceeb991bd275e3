package discordtest

import (
	"encoding/json"
)

// VoiceBackend allocates voice servers. When the bot joins or moves to a voice channel (op 4), the
// gateway asks the backend for the endpoint and token to send in VOICE_SERVER_UPDATE; a voice
// server then accepts the voice identify that presents them (see Server.VoiceGrant). The backend
// is called without the emulator's lock held, so it may call the Server's methods.
type VoiceBackend interface {
	// Allocate returns the "host:port" endpoint ("" for null) and the token for a grant.
	Allocate(grant VoiceGrant) (endpoint, token string)
	// Release is called when the user leaves voice in the guild.
	Release(guildID, userID string)
}

// VoiceGrant is what the gateway knows of a user's voice connection: the voice identify of
// Discord's voice gateway carries server_id (the guild), user_id, session_id and token.
type VoiceGrant struct {
	GuildID   string `json:"guild_id"`
	ChannelID string `json:"channel_id"`
	UserID    string `json:"user_id"`
	SessionID string `json:"session_id"`
	Endpoint  string `json:"endpoint"`
	Token     string `json:"token"`
}

// StaticVoiceBackend announces one fixed endpoint with a fresh random token per grant. It is the
// default backend, for tests that stop at the gateway's side of voice.
type StaticVoiceBackend struct {
	// Endpoint is the "host:port" announced; empty announces null.
	Endpoint string
}

// Allocate returns the fixed endpoint and a new token.
func (b StaticVoiceBackend) Allocate(VoiceGrant) (string, string) {
	return b.Endpoint, randomHex(8)
}

// Release does nothing: a static backend holds no state.
func (StaticVoiceBackend) Release(string, string) {}

// voiceStateData is op 4's payload.
type voiceStateData struct {
	GuildID   string  `json:"guild_id"`
	ChannelID *string `json:"channel_id"`
	SelfMute  bool    `json:"self_mute"`
	SelfDeaf  bool    `json:"self_deaf"`
	SelfVideo *bool   `json:"self_video"`
}

// voiceStateLocked handles op 4 from the bot: the voice state changes and VOICE_STATE_UPDATE goes
// out at once; VOICE_SERVER_UPDATE follows, to this session only, once the backend has allocated
// a server. Requests for unknown guilds, channels that are not voice channels and channels the bot
// may not connect to are ignored, as Discord does. It returns the allocation step, to run without the lock.
func (c *gatewayConn) voiceStateLocked(d json.RawMessage) func() {
	s := c.srv
	var v voiceStateData
	if err := json.Unmarshal(d, &v); err != nil {
		c.closeLocked(closeDecodeError, "Error while decoding payload.")
		return nil
	}
	g, ok := s.world.guilds[v.GuildID]
	if !ok {
		return nil
	}
	sess := c.sess
	bot := sess.userID
	if v.ChannelID == nil || *v.ChannelID == "" {
		events := s.world.leaveVoice(g, bot)
		s.dispatchLocked(events)
		if len(events) == 0 {
			return nil
		}
		delete(s.voiceGrants, grantKey(g.ID, bot))
		return func() { s.voice.Release(g.ID, bot) }
	}
	if ch, ok := g.channels[*v.ChannelID]; ok && s.world.userCan(g, ch, bot, PermissionConnect) != nil {
		// A channel the bot may not see or connect to: Discord ignores the request.
		s.log.Debug("op 4 to a channel the bot may not connect to ignored", "channel", ch.ID)
		return nil
	}
	flags := VoiceFlags{SelfMute: &v.SelfMute, SelfDeaf: &v.SelfDeaf, SelfVideo: v.SelfVideo}
	events, apiErr := s.world.joinVoice(g, bot, *v.ChannelID, sess.id, &flags)
	if apiErr != nil {
		return nil
	}
	s.dispatchLocked(events)
	grant := VoiceGrant{GuildID: g.ID, ChannelID: *v.ChannelID, UserID: bot, SessionID: sess.id}
	return func() {
		grant.Endpoint, grant.Token = s.voice.Allocate(grant)
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, alive := s.sessions[sess.id]; !alive {
			return
		}
		if !g.inChannel(bot, grant.ChannelID) {
			// The bot left or moved while the server was being allocated.
			return
		}
		s.voiceGrants[grantKey(g.ID, bot)] = grant
		s.dispatchLocked([]event{{name: "VOICE_SERVER_UPDATE", guildID: g.ID, target: sess, data: map[string]any{
			"token":    grant.Token,
			"guild_id": g.ID,
			"endpoint": nullable(grant.Endpoint),
		}}})
	}
}

func grantKey(guildID, userID string) string { return guildID + "/" + userID }

// VoiceGrant returns the voice grant last announced to userID in guildID, for a voice server to
// check a voice identify against.
func (s *Server) VoiceGrant(guildID, userID string) (VoiceGrant, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	grant, ok := s.voiceGrants[grantKey(guildID, userID)]
	if !ok {
		return VoiceGrant{}, false
	}
	// A grant is good only while the user is still in its channel (the channel may have been
	// deleted, or the user moved by other means).
	if g, known := s.world.guilds[guildID]; !known || !g.inChannel(userID, grant.ChannelID) {
		delete(s.voiceGrants, grantKey(guildID, userID))
		return VoiceGrant{}, false
	}
	return grant, true
}

// Interface guards
var _ VoiceBackend = StaticVoiceBackend{}
