package worker

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/worker/deadletter"
	"github.com/spellcoven/gateway/worker/discordgw"
	"github.com/spellcoven/gateway/worker/metrics"
	"github.com/spellcoven/gateway/worker/outbox"
	"github.com/spellcoven/gateway/worker/translate"
)

// ErrNotSynced reports that the worker does not know the guild's state yet: no GUILD_CREATE since
// the last READY.
var ErrNotSynced = errors.New("worker: the guild's state is not known yet (waiting for GUILD_CREATE)")

// Producer turns what the gateway session reports into events in the outbox. One lock orders the
// mirror of the guild and the outbox, so that a snapshot made at any moment describes exactly the
// events before it.
//
// When the outbox is full (the edge has been unreachable for a long time), the producer does not
// grow it further: it appends one snapshot of the current state in place of the new events and
// supersedes every undelivered event before it, which the edge would have replaced by that
// snapshot anyway. The outbox thus stays within its bound, the edge ends in Discord's exact
// state, and only the intermediate steps are lost, which is logged as an error and counted
// (events_superseded_total{reason="outbox_full"}, outbox_full_total). Before the first
// GUILD_CREATE there is no state to snapshot; events produced then are dropped and counted
// (events_dropped_total), and the snapshot that follows GUILD_CREATE replaces them.
type Producer struct {
	ob  *outbox.Outbox
	dl  *deadletter.Store
	m   *metrics.Metrics
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	guild   *translate.Guild
	guildID string
	synced  bool
	// link is the last system.status produced, "" before the first.
	link string
	// resync asks for a snapshot before the next events: some could not be written.
	resync bool
	// pos is the gateway session's position after the last dispatch handled; statePath the
	// file it is saved to with the mirror with every append ("" saves nothing).
	pos       discordgw.Position
	botID     string
	statePath string
	saveFails int
}

// NewProducer returns a producer for the guild and category of cfg.
func NewProducer(cfg translate.Config, ob *outbox.Outbox, dl *deadletter.Store, m *metrics.Metrics, log *slog.Logger) *Producer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Producer{ob: ob, dl: dl, m: m, log: log, now: time.Now, guild: translate.New(cfg), guildID: cfg.GuildID}
}

// Synced reports whether the producer knows the guild's state.
func (p *Producer) Synced() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.synced
}

// HandleDispatch handles one gateway dispatch (discordgw.Handler).
func (p *Producer) HandleDispatch(typ string, ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.handle(ev)
}

// HandleDispatchAt handles one gateway dispatch and records the session's position after it
// (discordgw.PositionHandler).
func (p *Producer) HandleDispatchAt(pos discordgw.Position, _ string, ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pos = pos
	p.handle(ev)
}

// SaveSessionTo makes the producer save the gateway session's state to path with every append
// (see sessionState).
func (p *Producer) SaveSessionTo(path string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.statePath = path
}

// Restore loads the mirror and the session position saved by an earlier run, so that the
// dispatches a resumed session replays become events as if the worker had never stopped.
func (p *Producer) Restore(st *sessionState) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.guild.Restore(st.Guild); err != nil {
		return err
	}
	p.pos = st.Position
	p.botID = st.BotID
	p.synced = true
	return nil
}

// TouchSessionState saves the session's state again, refreshing its time, when there is one
// to save: a quiet guild must not make a live session look stale to the next start.
func (p *Producer) TouchSessionState() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.saveState(p.ob.Stats().Last)
}

// saveState saves the session's state, with last the outbox's last seq once the append under
// way is done. It is saved before that append, so that no event reaches the edge before the
// state that covers it is on disk: a crash between the two leaves a state that names a last seq
// the outbox does not reach, which the next start does not resume (it identifies). Only a state
// that can be resumed is saved; a failure is logged and retried at the next append.
func (p *Producer) saveState(last uint64) {
	if p.statePath == "" || !p.synced || !p.pos.Resumable() {
		return
	}
	err := saveSessionState(p.statePath, sessionState{
		SavedAt: p.now(), Epoch: p.ob.Epoch(), Last: last, Position: p.pos, BotID: p.botID, Guild: p.guild.State(),
	})
	switch {
	case err != nil && p.saveFails == 0:
		p.log.Error("saving the gateway session for the next start failed; a restart will identify", "error", err.Error())
		p.saveFails++
	case err != nil:
		p.saveFails++
	case p.saveFails > 0:
		p.log.Info("the gateway session is saved again", "failures", p.saveFails)
		p.saveFails = 0
	}
}

func (p *Producer) handle(ev any) {
	switch v := ev.(type) {
	case *discordgo.Ready:
		// A new gateway session: the state is unknown until the guild's GUILD_CREATE.
		p.synced = false
		if v.User != nil {
			p.botID = v.User.ID
		}
		found := false
		for _, g := range v.Guilds {
			found = found || (g != nil && g.ID == p.guildID)
		}
		if !found {
			p.log.Error("the bot is not in the configured guild: add it, or fix the guild id", "guild", p.guildID)
		}
	case *discordgo.GuildCreate:
		if snap, ok := p.guild.Load(v.Guild); ok {
			p.synced = true
			p.produceSnapshot("ready", snap)
			p.setLink(event.DiscordUp)
			p.log.Info("guild state loaded", "rooms", len(snap.Rooms))
		}
	case *discordgo.GuildDelete:
		if v.Guild != nil && v.ID == p.guildID {
			p.synced = false
			p.log.Warn("the guild is unavailable or the bot was removed from it", "guild", p.guildID)
		}
	case *discordgo.Resumed:
		if p.synced {
			p.produceSnapshot("resumed", p.guild.Snapshot())
		}
		p.setLink(event.DiscordUp)
	case *discordgo.ChannelCreate:
		p.produce(p.guild.ChannelCreate(v.Channel))
	case *discordgo.ChannelUpdate:
		p.produce(p.guild.ChannelUpdate(v.Channel))
	case *discordgo.ChannelDelete:
		p.produce(p.guild.ChannelDelete(v.Channel))
	case *discordgo.VoiceStateUpdate:
		p.produce(p.guild.VoiceStateUpdate(v.VoiceState))
	}
}

// LinkDown reports a lost gateway connection (gateway.Handler).
func (p *Producer) LinkDown() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.link != event.DiscordDown {
		p.setLink(event.DiscordReconnecting)
	}
}

// Stop reports that the worker is stopping: the Discord link is down.
func (p *Producer) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setLink(event.DiscordDown)
}

// AppendSnapshot appends a snapshot of the current state (delivery.Snapshotter).
func (p *Producer) AppendSnapshot(reason string) (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.synced {
		return 0, ErrNotSynced
	}
	// The guild's state may have loaded since the caller looked: its snapshot, and the link
	// status after it, are then pending already, and a new snapshot would supersede both.
	if seq, ok := p.ob.LatestSnapshot(); ok {
		return seq, nil
	}
	evs, err := p.write([]outbox.Item{{Type: event.Snapshot, Payload: p.guild.Snapshot()}})
	if err != nil {
		return 0, err
	}
	p.m.Snapshots.WithLabelValues(reason).Inc()
	return evs[0].Seq, nil
}

// ReplayLetters appends again the events of the dead letters asked for replay, followed by a
// snapshot (they describe the past; the snapshot restores the present), and removes the letters.
// A letter whose events are not valid events is put back among the waiting letters.
func (p *Producer) ReplayLetters() (int, error) {
	letters, err := p.dl.Replays()
	if err != nil {
		return 0, err
	}
	replayed := 0
	for _, l := range letters {
		items, err := letterItems(l)
		if err != nil {
			p.log.Error("a dead letter cannot be replayed; it is back in the store", "letter", l.ID, "error", err.Error())
			if err := p.dl.Return(l.ID); err != nil {
				return replayed, err
			}
			continue
		}
		if err := p.replay(items); err != nil {
			return replayed, err
		}
		if err := p.dl.Replayed(l.ID); err != nil {
			return replayed, err
		}
		p.log.Info("dead letter replayed", "letter", l.ID, "events", len(items))
		replayed++
	}
	return replayed, nil
}

func (p *Producer) replay(items []outbox.Item) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.synced {
		items = append(items, outbox.Item{Type: event.Snapshot, Payload: p.guild.Snapshot()})
		p.m.Snapshots.WithLabelValues("replay").Inc()
	}
	_, err := p.write(items)
	return err
}

func letterItems(l deadletter.Letter) ([]outbox.Item, error) {
	items := make([]outbox.Item, 0, len(l.Events))
	for i, raw := range l.Events {
		e, err := event.Decode(raw)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		payload, _ := e.Payload()
		items = append(items, outbox.Item{Type: e.Type, Payload: payload})
	}
	return items, nil
}

// produce appends the changes of one dispatch.
func (p *Producer) produce(changes []translate.Change) {
	if len(changes) == 0 {
		return
	}
	if !p.synced {
		p.m.Dropped.WithLabelValues("not_synced").Add(float64(len(changes)))
		p.log.Debug("dispatch before the guild's state is known; the coming snapshot covers it", "events", len(changes))
		return
	}
	items := make([]outbox.Item, len(changes))
	for i, c := range changes {
		items[i] = outbox.Item{Type: c.Type, Payload: c.Payload}
	}
	p.write(items)
}

func (p *Producer) produceSnapshot(reason string, snap event.SnapshotPayload) {
	if _, err := p.write([]outbox.Item{{Type: event.Snapshot, Payload: snap}}); err == nil {
		p.m.Snapshots.WithLabelValues(reason).Inc()
	}
}

// setLink produces a system.status when the link state changes.
func (p *Producer) setLink(state string) {
	if p.link == state {
		return
	}
	p.link = state
	p.write([]outbox.Item{{Type: event.SystemStatus, Payload: event.SystemStatusPayload{Discord: state}}})
}

// write appends items, or collapses the outbox into a snapshot when it is full. Errors are logged
// and counted here; callers that need the events check the error.
func (p *Producer) write(items []outbox.Item) ([]event.Event, error) {
	st := p.ob.Stats()
	if st.Full {
		return p.collapse(items, st)
	}
	if p.resync && p.synced {
		// The snapshot already holds these changes; only a link status still follows it.
		items = withSnapshot(p.guild.Snapshot(), items)
	}
	p.saveState(st.Last + uint64(len(items)))
	evs, err := p.ob.Append(p.now(), items...)
	if err != nil {
		// The mirror has moved on without these events: the next write starts with a snapshot.
		p.resync = true
		p.m.Dropped.WithLabelValues("outbox_error").Add(float64(len(items)))
		p.log.Error("events could not be written to the outbox; a snapshot will replace them", "events", len(items), "error", err.Error())
		return nil, err
	}
	p.resync = false
	for _, e := range evs {
		p.m.Produced.WithLabelValues(string(e.Type)).Inc()
	}
	return evs, nil
}

// collapse handles a full outbox (see Producer).
func (p *Producer) collapse(items []outbox.Item, st outbox.Stats) ([]event.Event, error) {
	p.m.OutboxFull.Inc()
	if !p.synced {
		p.m.Dropped.WithLabelValues("outbox_full").Add(float64(len(items)))
		p.log.Error("outbox full and the guild's state unknown: events dropped; the next snapshot replaces them",
			"pending_events", st.PendingEvents, "pending_bytes", st.PendingBytes, "dropped", len(items))
		return nil, errors.New("worker: outbox full")
	}
	collapsed := withSnapshot(p.guild.Snapshot(), items)
	folded := len(items) - (len(collapsed) - 1)
	p.saveState(st.Last + uint64(len(collapsed)))
	evs, err := p.ob.Append(p.now(), collapsed...)
	if err != nil {
		p.resync = true
		p.m.Dropped.WithLabelValues("outbox_error").Add(float64(len(items)))
		p.log.Error("outbox full, and the snapshot replacing it could not be written", "error", err.Error())
		return nil, err
	}
	p.resync = false
	covered, err := p.ob.Ack(evs[0].Seq - 1)
	if err != nil {
		p.log.Error("saving the outbox cursor", "error", err.Error())
	}
	p.m.Superseded.WithLabelValues("outbox_full").Add(float64(covered + folded))
	p.m.Snapshots.WithLabelValues("outbox_full").Inc()
	for _, e := range evs {
		p.m.Produced.WithLabelValues(string(e.Type)).Inc()
	}
	p.log.Error("outbox full: the undelivered events are replaced by one snapshot of the current state; is the edge reachable?",
		"pending_events", st.PendingEvents, "pending_bytes", st.PendingBytes, "superseded", covered+folded, "snapshot_seq", evs[0].Seq)
	return evs, nil
}

// withSnapshot replaces items by a snapshot of the state that already includes their changes,
// keeping the link statuses among them, which a snapshot does not carry.
func withSnapshot(snap event.SnapshotPayload, items []outbox.Item) []outbox.Item {
	out := []outbox.Item{{Type: event.Snapshot, Payload: snap}}
	for _, it := range items {
		if it.Type == event.SystemStatus {
			out = append(out, it)
		}
	}
	return out
}

// LookupRoom returns the room whose channel id is id (voicectl.Rooms).
func (p *Producer) LookupRoom(id string) (event.Room, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.synced {
		return event.Room{}, false, ErrNotSynced
	}
	r, ok := p.guild.Room(id)
	return r, ok, nil
}
