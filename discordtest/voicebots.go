package discordtest

import (
	"net/http"
	"strings"
)

// voiceBotRoutes are the REST routes a voice bot's token is served on: what a voice-only
// gateway session asks before it identifies, and who the bot is.
var voiceBotRoutes = map[string]bool{
	"GET /gateway/bot": true,
	"GET /users/@me":   true,
}

func errBotsCannotUse() *APIError {
	return &APIError{Status: http.StatusForbidden, Code: 20001, Message: "Bots cannot use this endpoint"}
}

// voiceBotOfToken returns the user ID of the voice bot whose token this is.
func (s *Server) voiceBotOfToken(token string) (string, bool) {
	for i, vb := range s.cfg.VoiceBots {
		if vb.Token == token {
			return s.voiceBotIDs[i], true
		}
	}
	return "", false
}

// userOfToken returns the bot user a valid token authenticates; mu is held.
func (s *Server) userOfToken(token string) *User {
	if id, voice := s.voiceBotOfToken(token); voice {
		return s.world.users[id]
	}
	return &s.world.bot
}

// userOfRequest is the bot user of a request's "Bot <token>" header; mu is held.
func (s *Server) userOfRequest(r *http.Request) *User {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bot ")
	return s.userOfToken(token)
}

// throttleOf returns a bot user's identify limits: Discord counts identifies per bot.
func (s *Server) throttleOf(userID string) *identifyThrottle {
	if userID == s.world.bot.ID {
		return &s.throttle
	}
	t := s.voiceThrottles[userID]
	if t == nil {
		t = new(identifyThrottle)
		s.voiceThrottles[userID] = t
	}
	return t
}

// VoiceBots returns the voice bots' users, in the order of Config.VoiceBots.
func (s *Server) VoiceBots() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]User(nil), s.world.voiceBots...)
}
