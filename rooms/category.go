package rooms

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/spellcoven/gateway/rooms/discordrest"
)

// categoryCache holds the rooms category's permission overwrites, which every new room copies. It
// reads the category from Discord at first use and again after refresh; when a refresh fails, the
// last overwrites read serve on. Only one read runs at a time: the others wait for it, as long as
// their context allows.
type categoryCache struct {
	discord  Discord
	guildID  string
	id       string
	refresh  time.Duration
	inflight chan struct{} // a one-slot lock that waiting can give up on

	mu         sync.Mutex
	overwrites []discordrest.Overwrite
	fetched    time.Time
}

func newCategoryCache(d Discord, guildID, id string, refresh time.Duration) *categoryCache {
	return &categoryCache{discord: d, guildID: guildID, id: id, refresh: refresh, inflight: make(chan struct{}, 1)}
}

// errNotACategory is a misconfiguration: the configured category is not one of the guild's categories.
type errNotACategory struct{ id, why string }

func (e *errNotACategory) Error() string {
	return fmt.Sprintf("the configured category %s %s", e.id, e.why)
}

// get returns the category's overwrites.
func (c *categoryCache) get(ctx context.Context) ([]discordrest.Overwrite, error) {
	if ow, ok := c.fresh(time.Now()); ok {
		return ow, nil
	}
	select {
	case c.inflight <- struct{}{}:
	case <-ctx.Done():
		return nil, &discordrest.Error{Kind: discordrest.KindTimeout, Route: discordrest.RouteGetChannel, Err: ctx.Err()}
	}
	defer func() { <-c.inflight }()
	if ow, ok := c.fresh(time.Now()); ok { // read by the request we waited for
		return ow, nil
	}
	ch, err := c.discord.GetChannel(ctx, c.id)
	if err == nil {
		switch {
		case ch.GuildID != c.guildID:
			err = &errNotACategory{c.id, "is not in guild " + c.guildID}
		case ch.Type != discordrest.ChannelTypeGuildCategory:
			err = &errNotACategory{c.id, fmt.Sprintf("is a channel of type %d, not a category (4)", ch.Type)}
		}
	} else if discordrest.KindOf(err) == discordrest.KindNotFound {
		err = &errNotACategory{c.id, "does not exist"}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if _, misconfigured := err.(*errNotACategory); c.fetched.IsZero() || misconfigured {
			return nil, err
		}
		return c.overwrites, nil // Discord is having trouble; the category's permissions rarely change
	}
	c.overwrites, c.fetched = ch.PermissionOverwrites, time.Now()
	return c.overwrites, nil
}

func (c *categoryCache) fresh(now time.Time) ([]discordrest.Overwrite, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.overwrites, !c.fetched.IsZero() && now.Sub(c.fetched) < c.refresh
}
