package voicectl

import (
	"log/slog"
	"sync"

	"github.com/bwmarrin/discordgo"
)

// Controller is the bot's voice in the guild: at most one call at a time. Its methods are safe
// for concurrent use. Create it with New, feed it the gateway's dispatches (HandleDispatch),
// and Close it when the worker stops.
type Controller struct {
	cfg     Config
	log     *slog.Logger
	metrics *collectors
	// pubMetrics are the publishing metrics (publish.go).
	pubMetrics publishCollectors

	// joinMu is held by the join under way, so that joins do not overlap; Leave and Close
	// interrupt it and wait for it.
	joinMu sync.Mutex
	// onJoinWaits, set by tests, is called when a join starts waiting for a leave under way.
	onJoinWaits func()

	mu     sync.Mutex
	botID  string
	closed bool
	// leaving counts the leaves under way (waiting for joinMu or tearing the call down): a join
	// meanwhile waits for them rather than being refused, since the bot is on its way out.
	leaving       int
	joining       *pendingJoin
	call          *call
	lastEnd       *CallEnd
	lastPlayback  *Playback
	lastRecording *Recording
	// ended sums the counters of the calls that ended, for the metrics.
	ended CallStats
	table tableState
	wg    sync.WaitGroup

	// pool is the voice bots, this one among them; index is this bot's place in it (0: the
	// main bot, the Controller New returns).
	pool  *pool
	index int
}

// New returns a Controller; it joins nothing yet.
func New(cfg Config) (*Controller, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Controller{cfg: cfg, log: cfg.Logger}
	if c.metrics, err = newCollectors(cfg.Metrics, func() CallStats { return c.pool.totals() },
		func() bool { return c.pool.e2eeActive() > 0 }, c.tableSessionCount); err != nil {
		return nil, err
	}
	c.newPool()
	if err := c.pool.registerMetrics(cfg.Metrics); err != nil {
		return nil, err
	}
	if err := c.newPublishCollectors(cfg.Metrics); err != nil {
		return nil, err
	}
	if err := c.newRelay(); err != nil {
		return nil, err
	}
	c.pool.shareRelay()
	return c, nil
}

// HandleDispatch takes the gateway dispatches voice depends on: READY (the bot's user id),
// the bot's VOICE_STATE_UPDATE, VOICE_SERVER_UPDATE, CHANNEL_UPDATE (table view turned off) and
// CHANNEL_DELETE. It never blocks: it
// runs in the gateway session's reading goroutine.
func (c *Controller) HandleDispatch(_ string, ev any) {
	switch v := ev.(type) {
	case *discordgo.Ready:
		if v.User != nil {
			c.mu.Lock()
			c.botID = v.User.ID
			c.mu.Unlock()
			if c.index > 0 {
				c.log.Info("voice: voice bot connected", "user_id", v.User.ID)
			}
		}
	case *discordgo.VoiceStateUpdate:
		if v.VoiceState != nil {
			c.voiceStateUpdate(v.VoiceState)
			c.publisherVoiceState(v.VoiceState)
		}
	case *discordgo.VoiceServerUpdate:
		c.voiceServerUpdate(v)
	case *discordgo.ChannelDelete:
		if v.Channel != nil {
			c.channelDeleted(v.Channel.ID)
			c.roomGone(v.Channel.ID, "the room was deleted")
		}
	case *discordgo.ChannelUpdate:
		if v.Channel != nil && c.index == 0 {
			c.tableSwitched(v.Channel.ID)
		}
	}
}

// SetBotID gives the bot's user id when no READY will (a resumed gateway session).
func (c *Controller) SetBotID(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.botID = id
}

// voiceStateUpdate follows the bot's own voice state: it gives a join its session id, and a
// call whose room it no longer names has ended.
func (c *Controller) voiceStateUpdate(vs *discordgo.VoiceState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if vs.GuildID != c.cfg.GuildID || vs.UserID == "" || vs.UserID != c.botID {
		return
	}
	if p := c.joining; p != nil {
		switch {
		case p.dialing == nil && vs.ChannelID == p.room.ID:
			p.sessionID = vs.SessionID
			p.signal()
		case p.dialing != nil && vs.ChannelID != p.room.ID:
			p.interrupt("Discord took the bot out of the room while it was connecting")
		}
	}
	cl := c.call
	if cl == nil || vs.ChannelID == cl.room.ID {
		return
	}
	end := CallEnd{RoomID: cl.room.ID, Reason: EndDisconnected,
		Message: "Discord took the bot out of the room (kicked, or the room was deleted)"}
	leave := false
	if vs.ChannelID != "" {
		// A bot left in a channel with no voice connection would look present and be silent.
		end.Reason, end.Message, leave = EndMoved, "the bot was moved to channel "+vs.ChannelID+"; it left voice", true
	}
	c.endLaterLocked(cl, end, leave)
}

// voiceServerUpdate gives a join its token and endpoint, or moves a call to a new voice server.
func (c *Controller) voiceServerUpdate(v *discordgo.VoiceServerUpdate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v.GuildID != c.cfg.GuildID {
		return
	}
	if p := c.joining; p != nil && p.dialing == nil {
		if v.Endpoint == "" {
			p.nullEndpoint = true
			c.log.Info("voice: Discord is allocating a voice server; waiting for the next VOICE_SERVER_UPDATE", "room_id", p.room.ID)
		} else {
			p.token, p.endpoint = v.Token, v.Endpoint
		}
		p.signal()
		return
	}
	cl := c.call
	if cl == nil || v.Endpoint == "" || (v.Token == cl.info.Token && v.Endpoint == cl.info.Endpoint) {
		return
	}
	cl.info.Token, cl.info.Endpoint = v.Token, v.Endpoint
	if err := cl.conn.UpdateServer(cl.info); err != nil {
		c.log.Warn("voice: the call moved to another voice server and could not follow", "room_id", cl.room.ID, "error", err.Error())
		return
	}
	c.log.Info("voice: the call moved to another voice server", "room_id", cl.room.ID)
}

// channelDeleted ends the call in a deleted room, or says so of the call that just ended there.
func (c *Controller) channelDeleted(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl := c.call; cl != nil && cl.room.ID == id {
		c.endLaterLocked(cl, CallEnd{RoomID: id, Reason: EndRoomDeleted, Message: "the room was deleted"}, false)
		return
	}
	// Discord takes the members out of a deleted channel first, then deletes it.
	if e := c.lastEnd; c.call == nil && e != nil && e.RoomID == id && e.Reason == EndDisconnected {
		e.Reason, e.Message = EndRoomDeleted, "the room was deleted"
	}
}

// Leave takes the bot out of its room: it interrupts a join under way, stops the playback and
// the recording, closes the voice connection and sends op 4 with no channel. Leaving when in no
// room changes nothing (op 4 still goes out, clearing any voice state left behind).
func (c *Controller) Leave() (Status, error) {
	c.leave(CallEnd{Reason: EndLeft, Message: "left on request"})
	return c.Status(), nil
}

// leave ends the call, if any, with end (its RoomID is the call's).
func (c *Controller) leave(end CallEnd) {
	c.mu.Lock()
	if p := c.joining; p != nil {
		p.interrupt("the bot was asked to leave")
	}
	c.leaving++
	c.mu.Unlock()
	c.joinMu.Lock()
	defer func() {
		c.joinMu.Unlock() // then no longer leaving: a join that finds joinMu held meanwhile waits
		c.mu.Lock()
		c.leaving--
		c.mu.Unlock()
	}()
	c.mu.Lock()
	cl := c.call
	if cl != nil {
		end.RoomID = cl.room.ID
	}
	ended := cl != nil && c.endLocked(cl, end)
	c.mu.Unlock()
	if ended {
		c.teardown(cl, true)
	} else {
		c.leaveVoice()
	}
}

// Close leaves the room, finishing the recording, and waits for the Controller's goroutines.
func (c *Controller) Close() {
	if c.index == 0 {
		c.pool.closeVoiceBots()
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.wg.Wait()
		return
	}
	c.closed = true
	if p := c.joining; p != nil {
		p.interrupt("the worker is stopping")
	}
	cl := c.call
	ended := cl != nil && c.endLocked(cl, CallEnd{RoomID: cl.room.ID, Reason: EndShutdown, Message: "the worker stopped"})
	c.mu.Unlock()
	if ended {
		c.teardown(cl, true)
	}
	c.joinMu.Lock() // a join under way has given up
	c.joinMu.Unlock()
	c.wg.Wait()
	if r := c.table.relay; r != nil && c.index == 0 {
		c.mu.Lock()
		if c.table.idle != nil {
			c.table.idle.Stop()
		}
		c.mu.Unlock()
		r.Close()
	}
}

// leaveVoice sends op 4 with no channel. It is best effort: the gateway may be down, in which
// case Discord drops the bot's voice state with the session anyway.
func (c *Controller) leaveVoice() {
	if err := c.cfg.Gateway.UpdateVoiceState(c.cfg.GuildID, "", false, false); err != nil {
		c.log.Debug("voice: leaving voice on the gateway", "error", err.Error())
	}
}

// Status returns the bot's voice state; with voice bots (Config.VoiceBots), Bots lists every
// bot's, the main bot first.
func (c *Controller) Status() Status {
	st := c.botStatus()
	if c.pooled() {
		st.Bots = c.pool.statuses()
	}
	return st
}
