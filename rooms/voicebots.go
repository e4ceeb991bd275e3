package rooms

import (
	"context"
	"fmt"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/rooms/discordrest"
)

// MaxVoiceBots bounds Config.VoiceBotIDs: each is one more overwrite on a room when its table
// view is switched (the worker's -voice-max-bots allows 100 bots, its main bot included).
const MaxVoiceBots = 99

// checkVoiceBots validates Config.VoiceBotIDs.
func checkVoiceBots(ids []string) error {
	if len(ids) > MaxVoiceBots {
		return fmt.Errorf("rooms: %d voice bots, over %d", len(ids), MaxVoiceBots)
	}
	seen := map[string]bool{}
	for i, id := range ids {
		if !event.ValidSnowflake(id) {
			return fmt.Errorf("rooms: voice bot %d: %q is not a Discord user id (a snowflake)", i+1, id)
		}
		if seen[id] {
			return fmt.Errorf("rooms: voice bot %s is listed twice", id)
		}
		seen[id] = true
	}
	return nil
}

// tableBots are the bots that a room's table view lets in: the worker's voice bots, then the
// bot itself, whose overwrite is the mark the worker reads (written last when turning table view
// on, removed first when turning it off, so the worker never takes a room for open to a bot that
// is not let in yet).
func (s *Service) tableBots(bot string) []string {
	out := make([]string, 0, len(s.cfg.VoiceBotIDs)+1)
	for _, id := range s.cfg.VoiceBotIDs {
		if id != bot {
			out = append(out, id)
		}
	}
	return append(out, bot)
}

// switchTable writes (on) or removes (off) the table view overwrite of every bot whose overwrite
// is not as wanted. It reports whether anything was to change; on an error, what was written
// stays, and a retry completes it.
func (s *Service) switchTable(ctx context.Context, roomID string, ows []discordrest.Overwrite, bot string, on bool) (changed bool, err error) {
	bots := s.tableBots(bot)
	if !on {
		// The mark first: the room is off for the worker before any voice bot is shut out.
		bots = append([]string{bot}, bots[:len(bots)-1]...)
	}
	for _, id := range bots {
		if TableOn(ows, id) == on {
			continue
		}
		changed = true
		if on {
			err = s.discord.EditOverwrite(ctx, roomID, discordrest.Overwrite{ID: id, Type: discordrest.OverwriteMember, Allow: TablePermissions},
				"Spell Coven table view turned on")
		} else {
			err = s.discord.DeleteOverwrite(ctx, roomID, id, "Spell Coven table view turned off")
			if discordrest.KindOf(err) == discordrest.KindNotFound {
				err = nil // gone already: off
			}
		}
		if err != nil {
			return changed, err
		}
	}
	return changed, nil
}
