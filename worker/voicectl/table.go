package voicectl

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/relay"
	"github.com/spellcoven/gateway/worker/control"
)

// Table view: browsers watch the members of the room the bot is in, through the relay. The
// edge checks who may watch whom and speaks WHEP to the browser; it asks the worker with Watch
// and Unwatch, signed like every control request.

// WatchRequest, WatchAnswer and UnwatchRequest are table view's requests (package control's).
type (
	WatchRequest   = control.WatchRequest
	WatchAnswer    = control.WatchAnswer
	UnwatchRequest = control.UnwatchRequest
)

// TableStatus is table view's part of the Status.
type TableStatus struct {
	// Sessions counts the viewing sessions of the room the bot is in (all rooms: Total).
	Sessions int `json:"sessions"`
	Total    int `json:"total"`
	// Media says what the relay receives of each member of the call.
	Media []relay.MemberMedia `json:"media"`
	// Sources are the cameras published from the page (WHIP), in every room.
	Sources []relay.SourceInfo `json:"sources"`
	// IdleLeaveAt is when the bot leaves a room joined for viewers that no one watches.
	IdleLeaveAt time.Time `json:"idle_leave_at,omitzero"`
}

// tableState is table view's part of the Controller, guarded by its mu.
type tableState struct {
	relay  *relay.Relay
	idle   *time.Timer
	idleAt time.Time
}

// newRelay starts the relay of table view, when configured.
func (c *Controller) newRelay() error {
	if c.cfg.Table == nil {
		return nil
	}
	rc := *c.cfg.Table
	rc.OnKeyframeRequest = c.pool.requestKeyframe
	rc.OnSessionsChange = c.pool.tableSessions
	rc.OnForward = func(took time.Duration, _ int) { c.metrics.forward.Observe(took.Seconds()) }
	if rc.Logger == nil {
		rc.Logger = c.log
	}
	r, err := relay.New(rc)
	if err != nil {
		return err
	}
	c.table.relay = r
	return nil
}

// Relay is table view's relay (nil when off).
func (c *Controller) Relay() *relay.Relay { return c.table.relay }

// Watch starts a viewing session, bringing a bot into the room first when none is there. A
// bot is in one room at a time: the bot already in the room relays it, else a free one joins
// (the voice bots first, the main bot last); with none free, 409 no_free_voice_bot.
func (c *Controller) Watch(ctx context.Context, req WatchRequest) (WatchAnswer, error) {
	if req.Source != "" {
		return c.watchSource(ctx, req) // a published source needs no bot in the call
	}
	r, err := c.tableRelay()
	if err != nil {
		return WatchAnswer{}, err
	}
	for _, f := range []struct{ name, v string }{{"room_id", req.RoomID}, {"member_id", req.MemberID}, {"viewer_id", req.ViewerID}} {
		if !event.ValidSnowflake(f.v) {
			return WatchAnswer{}, badRequest("%s must be a Discord snowflake (decimal digits)", f.name)
		}
	}
	if req.Offer == "" {
		return WatchAnswer{}, badRequest("offer (SDP) is required")
	}
	// A bad offer changes nothing: checked before the bot is asked in.
	if err := offerError(r.CheckOffer(req.Offer)); err != nil {
		return WatchAnswer{}, err
	}
	if err := c.tableOn(req.RoomID); err != nil {
		return WatchAnswer{}, err
	}
	if _, err := c.pool.forTable(req.RoomID); err != nil {
		return WatchAnswer{}, err
	}
	s, answer, err := r.Watch(ctx, req.RoomID, req.MemberID, req.ViewerID, req.Offer)
	if e := offerError(err); e != nil {
		return WatchAnswer{}, e
	}
	switch {
	case errors.Is(err, relay.ErrViewerLimit):
		return WatchAnswer{}, newError(http.StatusTooManyRequests, CodeTooManySessions, "%v", err)
	case errors.Is(err, relay.ErrFull), errors.Is(err, relay.ErrClosed):
		return WatchAnswer{}, newError(http.StatusServiceUnavailable, CodeRelayFull, "%v", err)
	case err != nil:
		return WatchAnswer{}, err
	}
	return WatchAnswer{SessionID: s.ID, Answer: answer}, nil
}

// Unwatch ends a viewing session of req.ViewerID.
func (c *Controller) Unwatch(req UnwatchRequest) error {
	r := c.table.relay
	if r == nil {
		return newError(http.StatusNotImplemented, CodeNotConfigured, "table view is not configured on this worker")
	}
	switch err := r.Stop(req.SessionID, req.ViewerID); {
	case errors.Is(err, relay.ErrNoSession):
		return newError(http.StatusNotFound, CodeNoSession, "no viewing session %q", req.SessionID)
	case errors.Is(err, relay.ErrNotYours):
		return newError(http.StatusForbidden, CodeNotYours, "the session belongs to another viewer")
	default:
		return err
	}
}

// requestKeyframe passes a viewer's keyframe request to the member, through the voice server.
func (c *Controller) requestKeyframe(roomID, userID string) bool {
	c.mu.Lock()
	cl := c.call
	c.mu.Unlock()
	if cl == nil || cl.room.ID != roomID || cl.conn == nil {
		return false
	}
	if err := cl.conn.RequestKeyframe(userID); err != nil {
		c.log.Debug("voice: keyframe request", "room_id", roomID, "user_id", userID, "error", err.Error())
		return false
	}
	return true
}

// tableSessions follows the number of viewing sessions of a room: a call joined for viewers
// is left TableIdleTimeout after its last viewer went.
func (c *Controller) tableSessions(roomID string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.table.idle; t != nil && n > 0 {
		t.Stop()
		c.table.idle, c.table.idleAt = nil, time.Time{}
	}
	cl := c.call
	if n > 0 || cl == nil || cl.room.ID != roomID || !cl.forTable || c.closed || c.table.idle != nil {
		return
	}
	c.table.idleAt = time.Now().Add(c.cfg.TableIdleTimeout)
	c.table.idle = time.AfterFunc(c.cfg.TableIdleTimeout, func() { c.leaveIdle(cl) })
}

// leaveIdle leaves a call joined for viewers that no one watches.
func (c *Controller) leaveIdle(cl *call) {
	c.mu.Lock()
	c.table.idle, c.table.idleAt = nil, time.Time{}
	watching := c.table.relay.CallSessions(cl.room.ID)
	if c.call != cl || watching > 0 || c.closed {
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.leave(CallEnd{RoomID: cl.room.ID, Reason: EndIdle, Message: "no one watched the table for " + c.cfg.TableIdleTimeout.String()})
}

// tableStatusLocked is table view's status, nil when off.
func (c *Controller) tableStatusLocked() *TableStatus {
	r := c.table.relay
	if r == nil {
		return nil
	}
	ts := &TableStatus{Media: []relay.MemberMedia{}, IdleLeaveAt: c.table.idleAt}
	room := ""
	if c.call != nil {
		room = c.call.room.ID
		ts.Media = r.Room(room).Media()
	}
	ts.Total, ts.Sessions = r.Sessions(room)
	ts.Sources = r.Sources("")
	return ts
}

// tableSessionCount is the number of viewing sessions, for the metrics.
func (c *Controller) tableSessionCount() (int, bool) {
	if c.table.relay == nil {
		return 0, false
	}
	n, _ := c.table.relay.Sessions("")
	return n, true
}

// tableSwitched follows a room's table view: turned off, its viewers' sessions end, and a call
// joined for them is left. It runs on the gateway's goroutine, after the mirror took the change.
func (c *Controller) tableSwitched(roomID string) {
	r := c.table.relay
	if r == nil {
		return
	}
	rm, ok, err := c.cfg.Rooms.LookupRoom(roomID)
	if err != nil || (ok && rm.TableView) {
		return
	}
	b := c.pool.inRoom(roomID)
	var cl *call
	leave := false
	if b != nil {
		b.mu.Lock()
		cl = b.call
		leave = cl != nil && cl.room.ID == roomID && cl.forTable && !b.closed
		b.mu.Unlock()
	}
	if _, n := r.Sessions(roomID); n > 0 {
		c.log.Info("voice: table view turned off; ending its viewers' sessions", "room_id", roomID, "sessions", n)
	}
	c.roomGone(roomID, "table view turned off")
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		r.EndRoom(roomID, "table view turned off")
		if leave {
			b.mu.Lock()
			same := b.call == cl
			b.mu.Unlock()
			if same {
				b.leave(CallEnd{Reason: EndTableOff, Message: "the room's table view was turned off"})
			}
		}
	}()
}

// offerError answers the relay's refusals of an offer, nil for the others.
func offerError(err error) error {
	switch {
	case errors.Is(err, relay.ErrBadOffer):
		return newError(http.StatusBadRequest, CodeBadOffer, "%v", err)
	case errors.Is(err, relay.ErrNothingToReceive):
		return newError(http.StatusUnprocessableEntity, CodeNothingToReceive, "%v", err)
	}
	return nil
}
