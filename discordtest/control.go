package discordtest

import (
	"fmt"
	"time"
)

// This file holds the control API over the world: what people do in Discord's own client (join a
// voice channel, mute themselves) and what an admin does (create or delete channels), each
// dispatching the same gateway events a REST call or a real person would.

// State returns a copy of the whole world.
func (s *Server) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.world.state()
}

// GuildState returns a copy of one guild's state.
func (s *Server) GuildState(guildID string) (GuildState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, apiErr := s.world.guild(guildID)
	if apiErr != nil {
		return GuildState{}, apiErr
	}
	return s.world.guildState(g), nil
}

// Bot returns the bot's user.
func (s *Server) Bot() User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.world.bot
}

// Guilds returns the guilds, in the order they were seeded.
func (s *Server) Guilds() []Guild {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Guild, 0, len(s.world.order))
	for _, id := range s.world.order {
		out = append(out, s.world.guilds[id].Guild)
	}
	return out
}

// AddUser adds an emulated user to every guild and dispatches GUILD_MEMBER_ADD (to sessions with
// the GUILD_MEMBERS intent). An empty ID gets a fresh snowflake; Username must be 2 to 32 long.
func (s *Server) AddUser(u User) (User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	added, events, err := s.world.addUser(u)
	if err != nil {
		return User{}, fmt.Errorf("discordtest: add user: %w", err)
	}
	s.dispatchLocked(events)
	return added, nil
}

// CreateChannel creates a channel as a guild admin would (the bot's permissions do not matter),
// with the same validation as REST (an *APIError on bad input), and dispatches CHANNEL_CREATE. Zero fields of c take Discord's
// defaults; c.ID and c.GuildID are ignored.
func (s *Server) CreateChannel(guildID string, c Channel) (Channel, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, events, apiErr := s.world.createChannel(guildID, paramsFromChannel(c), false)
	if apiErr != nil {
		return Channel{}, apiErr
	}
	s.dispatchLocked(events)
	return ch, nil
}

// DeleteChannel deletes a channel as an admin would: users in it are disconnected, children of a
// category move to the top level, and the matching events are dispatched.
func (s *Server) DeleteChannel(channelID string) (Channel, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, events, apiErr := s.world.deleteChannel(channelID, false)
	if apiErr != nil {
		return Channel{}, apiErr
	}
	s.dispatchLocked(events)
	return ch, nil
}

// JoinVoice makes a user join a voice channel of the guild, or move there when already in voice,
// and dispatches VOICE_STATE_UPDATE. A channel at its user limit refuses emulated users.
func (s *Server) JoinVoice(guildID, channelID, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, apiErr := s.world.guild(guildID)
	if apiErr != nil {
		return apiErr
	}
	events, apiErr := s.world.joinVoice(g, userID, channelID, "", nil)
	if apiErr != nil {
		return apiErr
	}
	s.dispatchLocked(events)
	return nil
}

// LeaveVoice disconnects a user from voice in the guild and dispatches VOICE_STATE_UPDATE with a
// null channel. A user not in voice is an error.
func (s *Server) LeaveVoice(guildID, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, apiErr := s.world.guild(guildID)
	if apiErr != nil {
		return apiErr
	}
	events := s.world.leaveVoice(g, userID)
	if len(events) == 0 {
		return &APIError{Status: 400, Code: 40032, Message: "Target user is not connected to voice."}
	}
	s.dispatchLocked(events)
	return nil
}

// SetVoiceFlags changes the mute, deaf, video and stream flags of a user in voice and dispatches
// VOICE_STATE_UPDATE.
func (s *Server) SetVoiceFlags(guildID, userID string, f VoiceFlags) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, apiErr := s.world.guild(guildID)
	if apiErr != nil {
		return apiErr
	}
	events, apiErr := s.world.setVoiceFlags(g, userID, f)
	if apiErr != nil {
		return apiErr
	}
	s.dispatchLocked(events)
	return nil
}

// SetBotPermissions sets the permissions of the bot's own role in a guild (Guild.BotRoleID), as
// a guild admin edits it, and dispatches GUILD_ROLE_UPDATE. The bot's permissions are computed
// from it, @everyone and channel overwrites as Discord computes them: without MANAGE_CHANNELS
// (from any of them), channel changes over REST answer 403 with error 50013.
func (s *Server) SetBotPermissions(guildID string, p Permissions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, apiErr := s.world.guild(guildID)
	if apiErr != nil {
		return apiErr
	}
	return s.setRolePermissionsLocked(g, g.BotRoleID, p)
}

// SetRolePermissions sets the permissions of a role of the guild (the guild ID names @everyone),
// as a guild admin does, and dispatches GUILD_ROLE_UPDATE, with CHANNEL_UPDATE for every channel
// the bot gains or loses sight of.
func (s *Server) SetRolePermissions(guildID, roleID string, p Permissions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, apiErr := s.world.guild(guildID)
	if apiErr != nil {
		return apiErr
	}
	return s.setRolePermissionsLocked(g, roleID, p)
}

func (s *Server) setRolePermissionsLocked(g *guild, roleID string, p Permissions) error {
	events, apiErr := s.world.setRolePermissions(g, roleID, p)
	if apiErr != nil {
		return apiErr
	}
	s.dispatchLocked(events)
	return nil
}

// SetChannelOverwrite creates or replaces a permission overwrite of a channel, as a guild admin
// does (the bot's permissions do not matter), and dispatches CHANNEL_UPDATE.
func (s *Server) SetChannelOverwrite(channelID string, o PermissionOverwrite) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, events, apiErr := s.world.setOverwrite(channelID, o, false)
	if apiErr != nil {
		return apiErr
	}
	s.dispatchLocked(events)
	return nil
}

// DeleteChannelOverwrite removes a permission overwrite of a channel, as a guild admin does, and
// dispatches CHANNEL_UPDATE.
func (s *Server) DeleteChannelOverwrite(channelID, overwriteID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, events, apiErr := s.world.deleteOverwrite(channelID, overwriteID, false)
	if apiErr != nil {
		return apiErr
	}
	s.dispatchLocked(events)
	return nil
}

// AddRESTFault makes REST misbehave until the fault is spent (see RESTFault). A fault that does
// not make sense is an error and changes nothing.
func (s *Server) AddRESTFault(f RESTFault) error {
	f, err := f.normalize()
	if err != nil {
		return err
	}
	s.faults.add(f, time.Now())
	return nil
}

// ClearRESTFaults removes every REST fault.
func (s *Server) ClearRESTFaults() {
	s.faults.clear()
}

// InvalidRequests is how many 401, 403 and 429 answers REST gave within the last
// RESTConfig.InvalidRequestWindow. Discord's Cloudflare bans a client at 10,000: a well-behaved
// client keeps this near zero.
func (s *Server) InvalidRequests() int {
	return s.limiter.invalidCount(time.Now())
}
