package rooms

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/rooms/discordrest"
)

// Defaults of Config's limits.
const (
	DefaultMaxBodyBytes     = 4 << 10
	DefaultRequestTimeout   = 10 * time.Second
	DefaultMaxOwnedRooms    = 3
	DefaultCreationLimit    = 5
	DefaultCreationWindow   = time.Minute
	DefaultIdempotencyTTL   = 24 * time.Hour
	DefaultIdempotencyKeys  = 10000
	DefaultCreatedRoomGrace = 5 * time.Minute
	DefaultCategoryRefresh  = 5 * time.Minute
	DefaultRequestRate      = 5.0
	DefaultRequestBurst     = 20
	DefaultKeysPerUser      = 100
)

// Config configures a Service. The zero value of each limit selects its default.
type Config struct {
	// GuildID and CategoryID say where rooms live. Both are required snowflakes.
	GuildID, CategoryID string
	// MaxBodyBytes bounds a request body (default 4 KiB; over it, 413).
	MaxBodyBytes int64
	// RequestTimeout bounds the handling of one request, Discord's retries and waits included
	// (default 10s); past it the answer is 503 with Retry-After.
	RequestTimeout time.Duration
	// MaxOwnedRooms is how many rooms one user may own at once (default 3).
	MaxOwnedRooms int
	// CreationLimit is how many rooms one user may create per CreationWindow (default 5 per 1m).
	CreationLimit  int
	CreationWindow time.Duration
	// IdempotencyTTL is how long an Idempotency-Key's answer is replayed (default 24h), and
	// IdempotencyKeys how many answers are kept at most (default 10000).
	IdempotencyTTL  time.Duration
	IdempotencyKeys int
	// IdempotencyKeysPerUser bounds the answers kept for one user (default 100): past it, that user's
	// oldest make room, so one user's keys never evict another's.
	IdempotencyKeysPerUser int
	// RequestRate is the requests per second one user (token subject) may make on average, all
	// routes together (default 5), RequestBurst how many at once (default 20); past it, 429
	// too_many_requests with Retry-After. Counted by each edge on its own.
	RequestRate  float64
	RequestBurst int
	// CreatedRoomGrace is how long a room created here counts towards its owner's MaxOwnedRooms while
	// the projection does not show it yet (default 5m).
	CreatedRoomGrace time.Duration
	// CategoryRefresh is how often the category's permission overwrites, which new rooms copy, are
	// read again (default 5m).
	CategoryRefresh time.Duration
	// Shared, when set, keeps Idempotency-Key answers and the creations per window where every
	// edge instance sees them (rooms/redisstore). IdempotencyKeys then does not apply: answers
	// expire after IdempotencyTTL. SharedTimeout bounds each call to it (default 2s);
	// SharedPollInterval is how often a retry waiting for an answer held by another request
	// looks again (default 50ms).
	Shared             SharedStore
	SharedTimeout      time.Duration
	SharedPollInterval time.Duration
	// VoiceBotIDs are the user ids of the worker's voice bots beside the bot itself (its
	// -voice-token-file bots, at most MaxVoiceBots): turning a room's table view on lets each in,
	// as it lets the bot in (see voicebots.go). Empty: the bot is the one voice bot.
	VoiceBotIDs []string
	// Logger receives one line per room created or deleted, and Discord's failures. Nil discards.
	Logger *zap.Logger
}

func (c Config) withDefaults() (Config, error) {
	if err := checkVoiceBots(c.VoiceBotIDs); err != nil {
		return c, err
	}
	if !event.ValidSnowflake(c.GuildID) {
		return c, fmt.Errorf("rooms: guild %q is not a Discord snowflake", c.GuildID)
	}
	if !event.ValidSnowflake(c.CategoryID) {
		return c, fmt.Errorf("rooms: category %q is not a Discord snowflake", c.CategoryID)
	}
	if c.MaxBodyBytes < 0 {
		return c, errors.New("rooms: MaxBodyBytes must not be negative")
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	for _, f := range []struct {
		v    *int
		def  int
		name string
	}{
		{&c.MaxOwnedRooms, DefaultMaxOwnedRooms, "MaxOwnedRooms"},
		{&c.CreationLimit, DefaultCreationLimit, "CreationLimit"},
		{&c.IdempotencyKeys, DefaultIdempotencyKeys, "IdempotencyKeys"},
		{&c.IdempotencyKeysPerUser, DefaultKeysPerUser, "IdempotencyKeysPerUser"},
		{&c.RequestBurst, DefaultRequestBurst, "RequestBurst"},
	} {
		if *f.v < 0 {
			return c, fmt.Errorf("rooms: %s must not be negative", f.name)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	for _, f := range []struct {
		v    *time.Duration
		def  time.Duration
		name string
	}{
		{&c.RequestTimeout, DefaultRequestTimeout, "RequestTimeout"},
		{&c.CreationWindow, DefaultCreationWindow, "CreationWindow"},
		{&c.IdempotencyTTL, DefaultIdempotencyTTL, "IdempotencyTTL"},
		{&c.CreatedRoomGrace, DefaultCreatedRoomGrace, "CreatedRoomGrace"},
		{&c.CategoryRefresh, DefaultCategoryRefresh, "CategoryRefresh"},
		{&c.SharedTimeout, DefaultSharedTimeout, "SharedTimeout"},
		{&c.SharedPollInterval, DefaultSharedPollInterval, "SharedPollInterval"},
	} {
		if *f.v < 0 {
			return c, fmt.Errorf("rooms: %s must not be negative", f.name)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if c.RequestRate < 0 {
		return c, errors.New("rooms: RequestRate must not be negative")
	}
	if c.RequestRate == 0 {
		c.RequestRate = DefaultRequestRate
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c, nil
}

// Discord is what the service needs of Discord's REST API; *discordrest.Client provides it.
type Discord interface {
	CreateChannel(ctx context.Context, guildID string, p discordrest.CreateChannel, auditReason string) (*discordrest.Channel, error)
	GetChannel(ctx context.Context, channelID string) (*discordrest.Channel, error)
	DeleteChannel(ctx context.Context, channelID, auditReason string) error
	EditOverwrite(ctx context.Context, channelID string, o discordrest.Overwrite, auditReason string) error
	DeleteOverwrite(ctx context.Context, channelID, overwriteID, auditReason string) error
	CurrentUser(ctx context.Context) (*discordrest.User, error)
}

// Directory is the projection of the rooms that reads answer from; *hub.Hub provides it.
type Directory interface {
	Snapshot() (event.Position, *event.SnapshotPayload)
	Room(id string) (event.RoomState, bool)
}

// Caller is who makes a request, from their verified token.
type Caller struct {
	// Subject is the token's subject.
	Subject string
	// DiscordID is the caller's Discord user id, or "" when the token names none: such a caller
	// may read rooms but not own one.
	DiscordID string
	// Admin callers may delete any room.
	Admin bool
}

// Service carries out the rooms API's operations. It is safe for concurrent use.
type Service struct {
	cfg      Config
	discord  Discord
	dir      Directory
	category *categoryCache
	limits   limiter // quotas in memory, or sharedLimits
	idem     *idempotencyStore
	rates    *userRates
	recent   recentRooms // created here, maybe not in the projection yet
	shared   SharedStore // nil: idem and quotas alone
	bot      botUser
	logger   *zap.Logger
}

// NewService returns a service over d and dir. It does no I/O.
func NewService(cfg Config, d Discord, dir Directory) (*Service, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg:      cfg,
		discord:  d,
		dir:      dir,
		category: newCategoryCache(d, cfg.GuildID, cfg.CategoryID, cfg.CategoryRefresh),
		limits:   newQuotas(cfg.MaxOwnedRooms, cfg.CreationLimit, cfg.CreationWindow, cfg.CreatedRoomGrace),
		idem:     newIdempotencyStore(cfg.IdempotencyTTL, cfg.IdempotencyKeys, cfg.IdempotencyKeysPerUser),
		rates:    newUserRates(cfg.RequestRate, cfg.RequestBurst),
		recent:   recentRooms{grace: cfg.CreatedRoomGrace, rooms: make(map[string]recentRoom)},
		shared:   cfg.Shared,
		logger:   cfg.Logger,
	}
	if cfg.Shared != nil {
		s.limits = sharedLimits{s}
	}
	return s, nil
}

// Config returns the service's configuration with defaults applied.
func (s *Service) Config() Config { return s.cfg }

// List answers every room of the projection.
func (s *Service) List() Response {
	pos, snap := s.dir.Snapshot()
	list := RoomList{Rooms: make([]Room, 0, len(snap.Rooms)), AsOf: pos}
	for _, rs := range snap.Rooms {
		list.Rooms = append(list.Rooms, roomOf(rs))
	}
	return Response{Status: http.StatusOK, Body: list}
}

// Get answers one room of the projection with its members.
func (s *Service) Get(id string) Response {
	rs, ok := s.dir.Room(id)
	if !ok {
		return errorResponse(errRoomNotFound)
	}
	return Response{Status: http.StatusOK, Body: RoomDetail{Room: roomOf(rs), Members: rs.Members}}
}

var (
	errRoomNotFound = &Error{Status: http.StatusNotFound, Code: "room_not_found", Message: "no such room"}
	errNotOwner     = &Error{Status: http.StatusForbidden, Code: "not_owner",
		Message: "only the room's owner or an administrator may delete it"}
)

// Create creates a room owned by the caller. idempotencyKey, if not empty, makes retries of the same
// request replay the first answer.
func (s *Service) Create(ctx context.Context, caller Caller, req CreateRequest, idempotencyKey string) Response {
	if caller.DiscordID == "" {
		return errorResponse(&Error{Status: http.StatusForbidden, Code: "discord_account_required",
			Message: "creating a room needs a Discord account linked to your sign-in"})
	}
	if idempotencyKey == "" {
		return s.create(ctx, caller, req)
	}
	if s.shared != nil {
		return s.createShared(ctx, caller, req, idempotencyKey)
	}
	e, leader, refused := s.idem.begin(caller.Subject, idempotencyKey, req.fingerprint(), time.Now())
	switch {
	case refused != nil:
		return errorResponse(refused)
	case !leader:
		return s.idem.wait(ctx, e)
	}
	resp := s.create(ctx, caller, req)
	s.idem.finish(e, resp)
	return resp
}

func (s *Service) create(ctx context.Context, caller Caller, req CreateRequest) Response {
	owned := make(map[string]bool)
	_, snap := s.dir.Snapshot()
	for _, rs := range snap.Rooms {
		if rs.OwnerID == caller.DiscordID {
			owned[rs.ID] = true
		}
	}
	done, refused := s.limits.admit(ctx, caller.DiscordID, owned)
	if refused != nil {
		return errorResponse(refused)
	}
	roomID, refund := "", true
	defer func() { done(roomID, refund) }()

	overwrites, err := s.category.get(ctx)
	if err != nil {
		return errorResponse(s.discordFailure("reading the rooms category", err))
	}
	overwrites = withOwner(overwrites, caller.DiscordID)
	ch, err := s.discord.CreateChannel(ctx, s.cfg.GuildID, discordrest.CreateChannel{
		Name: req.Name, Type: discordrest.ChannelTypeGuildVoice, ParentID: s.cfg.CategoryID,
		UserLimit: req.UserLimit, PermissionOverwrites: overwrites,
	}, "Spell Coven room created for Discord user "+caller.DiscordID)
	if err != nil {
		// A creation that Discord answered counts, refused or not: a 5xx or a timeout may hide a room
		// that Discord did create, and a refusal costs the bot (Discord bans bots that collect too
		// many). One that Discord could not take (unreachable, or rate limits the client waits out
		// or refuses to spend) is given back.
		switch discordrest.KindOf(err) {
		case discordrest.KindUnavailable, discordrest.KindRateLimited:
		default:
			refund = false
		}
		if ownerErr := ownerRefused(err, len(overwrites)-1); ownerErr != nil {
			return errorResponse(ownerErr)
		}
		return errorResponse(s.discordFailure("creating a room", err))
	}
	roomID, refund = ch.ID, false
	s.recent.add(ch.ID, caller.DiscordID, time.Now())
	s.logger.Info("room created", zap.String("room", ch.ID), zap.String("owner", caller.DiscordID))
	room := Room{ID: ch.ID, Name: ch.Name, UserLimit: ch.UserLimit, Position: ch.Position, OwnerID: caller.DiscordID}
	return Response{Status: http.StatusCreated, Body: room}
}

// Delete deletes a room, if the caller owns it or is an administrator. Channels outside the
// category are answered as not found, as if they did not exist.
func (s *Service) Delete(ctx context.Context, caller Caller, id string) Response {
	if !event.ValidSnowflake(id) {
		return errorResponse(errRoomNotFound)
	}
	// The projection answers first, so that no request reaches Discord for a channel that is not a
	// room, or for a room the caller may not delete: Discord's refusals count against the bot.
	owner, ok := "", false
	if rs, inProjection := s.dir.Room(id); inProjection {
		owner, ok = rs.OwnerID, true
	} else {
		// A room this edge just created may not have reached the projection yet.
		owner, ok = s.recent.owner(id, time.Now())
	}
	if !ok {
		return errorResponse(errRoomNotFound)
	}
	if !caller.Admin && (caller.DiscordID == "" || owner != caller.DiscordID) {
		return errorResponse(errNotOwner)
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
	// Discord's own record decides: the projection may be behind a change of owner.
	owner = OwnerID(ch.PermissionOverwrites)
	isOwner := caller.DiscordID != "" && owner == caller.DiscordID
	if !isOwner && !caller.Admin {
		return errorResponse(errNotOwner)
	}
	reason := "Spell Coven room deleted by its owner, Discord user " + caller.DiscordID
	if !isOwner {
		reason = "Spell Coven room deleted by an administrator"
	}
	err = s.discord.DeleteChannel(ctx, id, reason)
	if err != nil && discordrest.KindOf(err) != discordrest.KindNotFound { // gone already: done
		return errorResponse(s.discordFailure("deleting a room", err))
	}
	if owner != "" {
		s.limits.release(ctx, owner, id)
	}
	s.logger.Info("room deleted", zap.String("room", id), zap.String("owner", owner), zap.Bool("by_admin", !isOwner))
	return Response{Status: http.StatusNoContent}
}
