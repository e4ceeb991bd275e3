package rooms

import (
	"context"
	"net/http"
	"sync"

	"go.uber.org/zap"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/roomowner"
	"github.com/spellcoven/gateway/rooms/discordrest"
)

// errNotTableOwner refuses a table view switch to anyone but the owner and administrators.
var errNotTableOwner = &Error{Status: http.StatusForbidden, Code: "not_owner",
	Message: "only the room's owner or an administrator may turn its table view on or off"}

// TablePermissions is table view's mark (roomowner.TablePermissions) as discordrest.Permissions.
const TablePermissions = discordrest.Permissions(roomowner.TablePermissions)

// TableOn reports whether a channel's overwrites turn table view on for the bot botID.
func TableOn(overwrites []discordrest.Overwrite, botID string) bool {
	ows := make([]roomowner.Overwrite, len(overwrites))
	for i, o := range overwrites {
		ows[i] = roomowner.Overwrite{ID: o.ID, Type: o.Type, Allow: uint64(o.Allow), Deny: uint64(o.Deny)}
	}
	return roomowner.TableOn(ows, botID)
}

// botUser remembers the bot's user id once Discord told it.
type botUser struct {
	mu sync.Mutex
	id string
}

// botID returns the bot's user id, asking Discord the first time.
func (s *Service) botID(ctx context.Context) (string, error) {
	s.bot.mu.Lock()
	defer s.bot.mu.Unlock()
	if s.bot.id != "" {
		return s.bot.id, nil
	}
	u, err := s.discord.CurrentUser(ctx)
	if err != nil {
		return "", err
	}
	if !event.ValidSnowflake(u.ID) {
		return "", &discordrest.Error{Kind: discordrest.KindServerError, Route: discordrest.RouteCurrentUser, Status: http.StatusOK, Message: "the answer names no user id"}
	}
	s.bot.id = u.ID
	return u.ID, nil
}

// SetTable turns a room's table view on or off, if the caller owns the room or is an
// administrator: on lets the bot into the room with video (an overwrite for the bot, the mark
// roomowner.TableOn reads), and each of Config.VoiceBotIDs alike; off removes those overwrites. The answer is the room as it will be once
// the change comes back from Discord.
func (s *Service) SetTable(ctx context.Context, caller Caller, id string, on bool) Response {
	if !event.ValidSnowflake(id) {
		return errorResponse(errRoomNotFound)
	}
	rs, ok := s.dir.Room(id)
	if !ok {
		return errorResponse(errRoomNotFound)
	}
	if !caller.Admin && (caller.DiscordID == "" || rs.OwnerID != caller.DiscordID) {
		return errorResponse(errNotTableOwner)
	}
	ch, err := s.discord.GetChannel(ctx, id)
	if discordrest.KindOf(err) == discordrest.KindNotFound {
		return errorResponse(errRoomNotFound)
	}
	if err != nil {
		return errorResponse(s.discordFailure("reading a room", err))
	}
	if ch.GuildID != s.cfg.GuildID || ch.ParentID != s.cfg.CategoryID || ch.Type != discordrest.ChannelTypeGuildVoice {
		return errorResponse(errRoomNotFound)
	}
	owner := OwnerID(ch.PermissionOverwrites)
	if !caller.Admin && (caller.DiscordID == "" || owner != caller.DiscordID) {
		return errorResponse(errNotTableOwner)
	}
	bot, err := s.botID(ctx)
	if err != nil {
		return errorResponse(s.discordFailure("reading the bot's user", err))
	}
	room := roomOf(rs)
	room.OwnerID = owner
	changed, err := s.switchTable(ctx, id, ch.PermissionOverwrites, bot, on)
	if err != nil {
		return errorResponse(s.discordFailure("changing table view", err))
	}
	if !changed {
		room.TableView = on
		return Response{Status: http.StatusOK, Body: room}
	}
	s.logger.Info("table view", zap.String("room", id), zap.Bool("on", on), zap.Bool("by_admin", owner != caller.DiscordID))
	room.TableView = on
	return Response{Status: http.StatusOK, Body: room}
}
