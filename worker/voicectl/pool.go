package voicectl

import (
	"net/http"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spellcoven/gateway/event"
)

// A Discord bot user can be in one voice channel per guild, so one bot relays one room. The
// pool is the main bot (Config.Gateway) and the voice bots of Config.VoiceBots, each a
// Controller of its own with its own call, joins and idle timer; they share the relay. The main
// Controller, the one New returns, routes: table view takes the bot already in the room, else a
// free bot, else answers no_free_voice_bot.

// pool is the voice bots of a Controller, the main bot first. Its mu is taken before any bot's.
type pool struct {
	bots []*Controller
	mu   sync.Mutex
	// reserved holds the room each bot is being brought into, from the choice to the end of its
	// join, so that two requests for two rooms never pick the same bot.
	reserved map[*Controller]string
}

// newPool makes c the main bot of a pool holding one Controller more per Config.VoiceBots;
// they share c's collectors and, once c made it, its relay.
func (c *Controller) newPool() {
	p := &pool{bots: []*Controller{c}, reserved: make(map[*Controller]string)}
	c.pool = p
	for i, gw := range c.cfg.VoiceBots {
		cfg := c.cfg
		cfg.Gateway, cfg.VoiceBots = gw, nil
		b := &Controller{cfg: cfg, log: c.log.With("voice_bot", i+1), pool: p, index: i + 1}
		b.metrics = &collectors{
			connected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "unregistered"}),
			joins:     c.metrics.joins, ends: c.metrics.ends, rejected: c.metrics.rejected, forward: c.metrics.forward,
		}
		p.bots = append(p.bots, b)
	}
}

// shareRelay gives the voice bots the main bot's relay.
func (p *pool) shareRelay() {
	for _, b := range p.bots[1:] {
		b.table.relay = p.bots[0].table.relay
	}
}

// VoiceBot returns the Controller of voice bot i (1 to len(Config.VoiceBots)), whose
// HandleDispatch takes the dispatches of that bot's own gateway session: its READY, its
// VOICE_STATE_UPDATE and VOICE_SERVER_UPDATE, CHANNEL_DELETE. Table view switches are followed
// from the main session's CHANNEL_UPDATE, after the mirror of the guild took them.
func (c *Controller) VoiceBot(i int) *Controller {
	if i < 1 || i >= len(c.pool.bots) {
		return nil
	}
	return c.pool.bots[i]
}

// BotIDs returns the user id of every voice bot, the main bot first; "" for a bot whose gateway
// session has not said yet.
func (c *Controller) BotIDs() []string {
	ids := make([]string, len(c.pool.bots))
	for i, b := range c.pool.bots {
		b.mu.Lock()
		ids[i] = b.botID
		b.mu.Unlock()
	}
	return ids
}

// pooled reports whether c routes between several voice bots.
func (c *Controller) pooled() bool { return c.index == 0 && len(c.pool.bots) > 1 }

// roomLocked is the room the bot is in or joining, "" for none; its mu is held.
func (c *Controller) roomLocked() string {
	switch {
	case c.call != nil:
		return c.call.room.ID
	case c.joining != nil:
		return c.joining.room.ID
	}
	return ""
}

// busyRoom is the room the bot is in, joining, or reserved for; the pool's mu is held.
func (p *pool) busyRoom(b *Controller) (room string, ready bool) {
	b.mu.Lock()
	room, ready = b.roomLocked(), b.botID != "" && !b.closed
	b.mu.Unlock()
	if room == "" {
		room = p.reserved[b]
	}
	return room, ready
}

// choose returns the bot in roomID (join false), or reserves a free bot for it (join true: the
// caller joins, then calls release). order lists the bots to try, by preference. With no free
// bot it answers 409 no_free_voice_bot; with free bots whose gateway session is not up yet, 503
// not_ready.
func (p *pool) choose(roomID string, order []*Controller) (b *Controller, join bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var free *Controller
	rooms := make([]string, 0, len(order))
	waiting := 0
	for _, cand := range order {
		room, ready := p.busyRoom(cand)
		switch {
		case room == roomID:
			return cand, false, nil
		case room != "":
			rooms = append(rooms, room)
		case !ready && len(p.bots) > 1:
			// One bot alone answers for itself when asked to join.
			waiting++
		case free == nil:
			free = cand
		}
	}
	if free != nil {
		p.reserved[free] = roomID
		return free, true, nil
	}
	if waiting > 0 {
		return nil, false, newError(http.StatusServiceUnavailable, CodeNotReady,
			"%d of the %d voice bots have not connected to the Discord gateway yet", waiting, len(p.bots))
	}
	if len(p.bots) == 1 {
		return nil, false, conflict(CodeNoFreeVoiceBot, "the voice bot is in room %s: one voice bot relays one room at a time", rooms[0])
	}
	return nil, false, conflict(CodeNoFreeVoiceBot, "all %d voice bots are relaying other rooms (%s): one voice bot relays one room at a time; more voice bot tokens relay more rooms at once",
		len(p.bots), strings.Join(rooms, ", "))
}

// release ends b's reservation.
func (p *pool) release(b *Controller) {
	p.mu.Lock()
	delete(p.reserved, b)
	p.mu.Unlock()
}

// tableOrder is the order table view takes free bots in: the voice bots first, the main bot
// last, so that the main bot stays free for `coven-worker voice join` as long as it can.
func (p *pool) tableOrder() []*Controller {
	return append(append([]*Controller(nil), p.bots[1:]...), p.bots[0])
}

// forTable returns the bot that relays roomID, bringing a free one in when none is there.
func (p *pool) forTable(roomID string) (*Controller, error) {
	b, join, err := p.choose(roomID, p.tableOrder())
	if err != nil || !join {
		return b, err
	}
	defer p.release(b)
	if _, err := b.joinOne(roomID); err != nil {
		return nil, err
	}
	b.mu.Lock()
	if b.call != nil && b.call.room.ID == roomID {
		b.call.forTable = true
	}
	b.mu.Unlock()
	return b, nil
}

// join is Join with several bots: the bot already in the room, else the main bot, else a free
// voice bot.
func (p *pool) join(roomID string) (Status, error) {
	if !event.ValidSnowflake(roomID) {
		return Status{}, badRequest("room_id must be a Discord snowflake (decimal digits)")
	}
	b, join, err := p.choose(roomID, p.bots)
	if err != nil {
		p.bots[0].metrics.joins.WithLabelValues(errorCode(err)).Inc()
		return Status{}, err
	}
	if !join {
		return b.botStatus(), nil
	}
	defer p.release(b)
	st, err := b.joinOne(roomID)
	if err != nil {
		return Status{}, err
	}
	st.BotID = b.botIDNow()
	return st, nil
}

// inRoom returns the bot whose call is in roomID, or nil.
func (p *pool) inRoom(roomID string) *Controller {
	for _, b := range p.bots {
		b.mu.Lock()
		in := b.call != nil && b.call.room.ID == roomID
		b.mu.Unlock()
		if in {
			return b
		}
	}
	return nil
}

// LeaveRoom takes the bot that is in roomID out of it. No bot there: 409 not_connected.
func (c *Controller) LeaveRoom(roomID string) (Status, error) {
	if !event.ValidSnowflake(roomID) {
		return Status{}, badRequest("room_id must be a Discord snowflake (decimal digits)")
	}
	b := c.pool.inRoom(roomID)
	if b == nil {
		return Status{}, conflict(CodeNotConnected, "no voice bot is in room %s", roomID)
	}
	b.leave(CallEnd{Reason: EndLeft, Message: "left on request"})
	return c.Status(), nil
}

// requestKeyframe passes a viewer's keyframe request to the bot in the room.
func (p *pool) requestKeyframe(roomID, userID string) bool {
	if b := p.inRoom(roomID); b != nil {
		return b.requestKeyframe(roomID, userID)
	}
	return false
}

// tableSessions tells the bot in the room how many watch it.
func (p *pool) tableSessions(roomID string, n int) {
	if b := p.inRoom(roomID); b != nil {
		b.tableSessions(roomID, n)
	}
}

// statuses is the status of every bot, the main bot first.
func (p *pool) statuses() []Status {
	out := make([]Status, len(p.bots))
	for i, b := range p.bots {
		out[i] = b.botStatus()
	}
	return out
}

// botStatus is the bot's own status, with its user id.
func (c *Controller) botStatus() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.statusLocked()
	st.BotID = c.botID
	return st
}

func (c *Controller) botIDNow() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.botID
}

// busy counts the bots in a call or joining one.
func (p *pool) busy() int {
	n := 0
	for _, b := range p.bots {
		b.mu.Lock()
		if b.roomLocked() != "" {
			n++
		}
		b.mu.Unlock()
	}
	return n
}

// totals sums the counters of every bot's calls.
func (p *pool) totals() CallStats {
	var t CallStats
	for _, b := range p.bots {
		addStats(&t, b.totals())
	}
	return t
}

// e2eeActive counts the calls whose media is end-to-end encrypted.
func (p *pool) e2eeActive() int {
	n := 0
	for _, b := range p.bots {
		if b.e2eeActive() {
			n++
		}
	}
	return n
}

// closeVoiceBots closes every voice bot but the main one.
func (p *pool) closeVoiceBots() {
	var wg sync.WaitGroup
	for _, b := range p.bots[1:] {
		wg.Go(b.Close)
	}
	wg.Wait()
}

// registerPoolMetrics registers coven_worker_voice_bots and coven_worker_voice_bots_busy.
func (p *pool) registerMetrics(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "coven_worker", Subsystem: "voice", Name: "bots",
			Help: "Voice bots: the main bot and the -voice-token-file bots; each relays one room at a time."},
			func() float64 { return float64(len(p.bots)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "coven_worker", Subsystem: "voice", Name: "bots_busy",
			Help: "Voice bots in a room's call or joining one."},
			func() float64 { return float64(p.busy()) }),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// errorCode is the code of a control error, for the metrics.
func errorCode(err error) string {
	if e, ok := err.(*Error); ok {
		return e.Code
	}
	return "error"
}
