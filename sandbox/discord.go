package sandbox

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/discordtest/voiceserver"
	"github.com/spellcoven/gateway/event"
)

// The emulated Discord's fixed identities, so that links and notes stay valid from run to run.
const (
	// GuildID is the emulated guild (server).
	GuildID = "1100000000000000001"
	// CategoryID is the guild's category whose voice channels are the rooms.
	CategoryID = "1100000000000000002"
	// BotID is the bot's user.
	BotID = "1100000000000000003"
	// VoiceBotID is the worker's second voice bot, so that two rooms' tables can be watched at
	// once (a bot user is in one voice channel per guild).
	VoiceBotID = "1100000000000000004"
)

// DiscordOnlyUsers are emulated Discord users with no demo account: people who are in Discord
// but not signed in to the page, for the "Simulate Discord" panel to move around.
var DiscordOnlyUsers = []discordtest.User{
	{ID: "1300000000000000011", Username: "dana", GlobalName: "Dana"},
	{ID: "1300000000000000012", Username: "eli", GlobalName: "Eli"},
	{ID: "1300000000000000013", Username: "fay", GlobalName: "Fay"},
}

// discordUsers returns every emulated user: the demo users' Discord accounts first, then
// DiscordOnlyUsers.
func discordUsers() []discordtest.User {
	users := make([]discordtest.User, 0, len(DemoUsers)+len(DiscordOnlyUsers))
	for _, u := range DemoUsers {
		users = append(users, discordtest.User{ID: u.DiscordID, Username: u.Subject, GlobalName: u.Name})
	}
	return append(users, DiscordOnlyUsers...)
}

// startDiscord starts the Discord emulator in this process on a loopback port: REST, the gateway
// and the control API (which only the edge's /dev-discord/ proxy holds the token of). The guild
// starts with the rooms category, a text channel and a voice channel "Lobby" in it.
func startDiscord(botToken, voiceBotToken, controlToken string, log *partLog, verbose bool) (*discordtest.Server, *voiceserver.Server, *cameras, error) {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: level}))
	// The voice server the worker's voice calls reach, with DAVE as Discord runs it.
	vs, err := voiceserver.New(voiceserver.Config{Logger: logger})
	if err != nil {
		return nil, nil, nil, err
	}
	if err := vs.Start(); err != nil {
		return nil, nil, nil, err
	}
	cams, err := newCameras(vs, logger)
	if err != nil {
		vs.Close()
		return nil, nil, nil, err
	}
	emu, err := discordtest.New(discordtest.Config{
		BotTokens:    []string{botToken},
		ControlToken: controlToken,
		Bot:          discordtest.User{ID: BotID, Username: "Spell Coven"},
		VoiceBots:    []discordtest.VoiceBotConfig{{Token: voiceBotToken, User: discordtest.User{ID: VoiceBotID, Username: "Spell Coven Voice"}}},
		Guilds: []discordtest.GuildConfig{{
			ID: GuildID, Name: "Spell Coven sandbox", RoomsCategoryID: CategoryID, RoomsCategoryName: "Rooms",
		}},
		Users:        discordUsers(),
		Voice:        vs,
		OnVoiceState: cams.observe,
		Logger:       logger,
	})
	if err != nil {
		cams.close()
		vs.Close()
		return nil, nil, nil, err
	}
	if err := emu.Start("127.0.0.1:0"); err != nil {
		cams.close()
		vs.Close()
		return nil, nil, nil, err
	}
	return emu, vs, cams, nil
}

// stopDiscord stops the emulator, telling gateway clients to reconnect as Discord does.
func stopDiscord(emu *discordtest.Server, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return emu.Shutdown(ctx)
}

// DiscordRooms returns the rooms as the emulated Discord holds them: the voice channels of the
// rooms category, in Discord's order (position, then id), each with the users in it, ordered by
// user id (Discord keeps no join order). It is what every page should show once up to date.
func (s *Stack) DiscordRooms() ([]event.RoomState, error) {
	g, err := s.emu.GuildState(GuildID)
	if err != nil {
		return nil, err
	}
	users := make(map[string]discordtest.User, len(g.Members))
	for _, u := range g.Members {
		users[u.ID] = u
	}
	var rooms []event.RoomState
	for _, c := range g.Channels {
		if c.Type != discordtest.ChannelTypeGuildVoice || c.ParentID != CategoryID {
			continue
		}
		r := event.RoomState{
			Room:    event.Room{ID: c.ID, Name: c.Name, UserLimit: c.UserLimit, Position: c.Position},
			Members: []event.Member{},
		}
		for _, vs := range g.VoiceStates {
			if vs.ChannelID != c.ID {
				continue
			}
			u := users[vs.UserID]
			r.Members = append(r.Members, event.Member{
				UserID: vs.UserID, Username: u.Username, GlobalName: u.GlobalName, Avatar: u.Avatar,
				SelfMute: vs.SelfMute, SelfDeaf: vs.SelfDeaf, Mute: vs.Mute, Deaf: vs.Deaf,
				SelfVideo: vs.SelfVideo, SelfStream: vs.SelfStream,
			})
		}
		slices.SortFunc(r.Members, func(a, b event.Member) int { return compareIDs(a.UserID, b.UserID) })
		rooms = append(rooms, r)
	}
	slices.SortFunc(rooms, func(a, b event.RoomState) int {
		if a.Position != b.Position {
			return cmp.Compare(a.Position, b.Position)
		}
		return compareIDs(a.ID, b.ID)
	})
	return rooms, nil
}

// compareIDs orders snowflakes numerically: a longer id is a larger number.
func compareIDs(a, b string) int {
	if len(a) != len(b) {
		return cmp.Compare(len(a), len(b))
	}
	return strings.Compare(a, b)
}
