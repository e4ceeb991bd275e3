package voicectl

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/voice"
)

// pendingJoin is a join waiting for Discord's answer to op 4.
type pendingJoin struct {
	room      event.Room
	sessionID string
	token     string
	endpoint  string
	// nullEndpoint reports a VOICE_SERVER_UPDATE whose endpoint was null: Discord is still
	// allocating a voice server and will send another.
	nullEndpoint bool
	updated      chan struct{}
	cancel       context.CancelFunc
	// dialing is the call being connected, once Discord answered.
	dialing *call
	// interrupted says why the join was cancelled.
	interrupted string
}

// interrupt cancels the join for reason; the Controller's mu is held.
func (p *pendingJoin) interrupt(reason string) {
	if p.interrupted == "" {
		p.interrupted = reason
	}
	p.cancel()
}

func (p *pendingJoin) signal() {
	select {
	case p.updated <- struct{}{}:
	default:
	}
}

// Join puts the bot in the room whose channel id is roomID and returns the status once the
// voice connection is established. Joining the room the bot is in already changes nothing.
// Failures are *Error: the room is not a room, Discord did not answer within JoinTimeout, the
// voice server refused the connection (encryption mode, DAVE, ...).
//
// With voice bots (Config.VoiceBots), the bot already in the room answers; else the main bot
// joins when it is free, else a free voice bot; with none free, 409 no_free_voice_bot.
func (c *Controller) Join(roomID string) (Status, error) {
	if c.pooled() {
		st, err := c.pool.join(roomID)
		if err != nil {
			return st, err
		}
		st.Bots = c.pool.statuses()
		return st, nil
	}
	return c.joinOne(roomID)
}

// joinOne puts this bot in the room.
func (c *Controller) joinOne(roomID string) (Status, error) {
	st, err := c.join(roomID)
	result := "ok"
	if e := (*Error)(nil); errors.As(err, &e) {
		result = e.Code
		c.log.Warn("voice: join failed", "room_id", roomID, "code", e.Code, "error", e.Message)
	}
	c.metrics.joins.WithLabelValues(result).Inc()
	return st, err
}

func (c *Controller) join(roomID string) (Status, error) {
	if !event.ValidSnowflake(roomID) {
		return Status{}, badRequest("room_id must be a Discord snowflake (decimal digits)")
	}
	if !c.joinMu.TryLock() {
		// A leave under way (the bot idle-leaving a room, say) ends by itself: wait for it. Another
		// join is refused.
		c.mu.Lock()
		leaving := c.leaving > 0
		c.mu.Unlock()
		if !leaving {
			return Status{}, conflict(CodeJoinInProgress, "another join is under way")
		}
		if c.onJoinWaits != nil {
			c.onJoinWaits()
		}
		c.joinMu.Lock()
	}
	defer c.joinMu.Unlock()
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return Status{}, newError(http.StatusServiceUnavailable, CodeNotReady, "the worker is stopping")
	case c.call != nil && c.call.room.ID == roomID:
		st := c.statusLocked()
		c.mu.Unlock()
		return st, nil
	case c.call != nil:
		room := c.call.room.ID
		c.mu.Unlock()
		return Status{}, conflict(CodeAlreadyConnected, "the bot is in room %s; leave it first", room)
	case c.botID == "":
		c.mu.Unlock()
		return Status{}, newError(http.StatusServiceUnavailable, CodeNotReady, "the worker has not connected to the Discord gateway yet")
	}
	c.mu.Unlock()

	room, ok, err := c.cfg.Rooms.LookupRoom(roomID)
	if err != nil {
		return Status{}, newError(http.StatusServiceUnavailable, CodeNotReady, "%v", err)
	}
	if !ok {
		return Status{}, newError(http.StatusNotFound, CodeNotARoom,
			"channel %s is not a room: no voice channel with that id under the rooms category (deleted, or another kind of channel)", roomID)
	}

	// jctx ends when Leave or Close interrupts the join; the wait for Discord is bounded by
	// JoinTimeout, the voice handshake by the voice configuration's HandshakeTimeout.
	jctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := &pendingJoin{room: room, updated: make(chan struct{}, 1), cancel: cancel}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return Status{}, newError(http.StatusServiceUnavailable, CodeNotReady, "the worker is stopping")
	}
	c.joining = p
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.joining == p {
			c.joining = nil
		}
		c.mu.Unlock()
	}()

	c.log.Info("voice: joining", "room_id", room.ID, "room", room.Name)
	if err := c.cfg.Gateway.UpdateVoiceState(c.cfg.GuildID, room.ID, false, false); err != nil {
		return Status{}, newError(http.StatusServiceUnavailable, CodeNotReady, "asking Discord to join: %v", err)
	}
	info, err := c.awaitServer(jctx, p)
	if err != nil {
		c.leaveVoice()
		return Status{}, err
	}
	cl := newCall(room, info, c.cfg.MaxRecordingBytes)
	if r := c.table.relay; r != nil {
		cl.media.table = r.Room(room.ID)
	}
	c.mu.Lock()
	p.dialing = cl
	c.mu.Unlock()
	vcfg := c.cfg.Voice
	vcfg.OnEvent = func(e voice.Event) { c.onVoiceEvent(cl, e) }
	vcfg.Media = cl.media
	vcfg.Logger = c.log.With("room_id", room.ID)
	conn, err := voice.Dial(jctx, info, vcfg)
	if err != nil {
		c.mu.Lock()
		e := dialError(err)
		if jctx.Err() != nil {
			e = interruptedError(p)
		}
		c.mu.Unlock()
		c.leaveVoice()
		return Status{}, e
	}
	c.mu.Lock()
	if jctx.Err() != nil || c.closed {
		e := interruptedError(p)
		c.mu.Unlock()
		conn.Close()
		c.leaveVoice()
		return Status{}, e
	}
	c.joining = nil
	cl.conn, cl.since = conn, time.Now()
	if cl.state == StateJoining {
		cl.state = StateConnected
	}
	c.call = cl
	c.metrics.setConnected(cl.state == StateConnected)
	c.wg.Add(1)
	go c.watch(cl)
	st := c.statusLocked()
	c.mu.Unlock()
	c.log.Info("voice: joined", "room_id", room.ID, "mode", string(conn.Mode()), "ssrc", conn.SSRC(), "e2ee", conn.DAVE() != nil)
	return st, nil
}

// awaitServer waits for the bot's session id and a voice server endpoint, within JoinTimeout.
func (c *Controller) awaitServer(jctx context.Context, p *pendingJoin) (voice.ServerInfo, error) {
	ctx, cancel := context.WithTimeout(jctx, c.cfg.JoinTimeout)
	defer cancel()
	for {
		c.mu.Lock()
		info := voice.ServerInfo{
			GuildID: c.cfg.GuildID, ChannelID: p.room.ID, UserID: c.botID,
			SessionID: p.sessionID, Token: p.token, Endpoint: p.endpoint,
		}
		null := p.nullEndpoint
		c.mu.Unlock()
		if info.SessionID != "" && info.Endpoint != "" {
			return info, nil
		}
		select {
		case <-p.updated:
			continue
		case <-ctx.Done():
		}
		if jctx.Err() != nil {
			c.mu.Lock()
			defer c.mu.Unlock()
			return info, interruptedError(p)
		}
		var missing []string
		if info.SessionID == "" {
			missing = append(missing, "the bot's VOICE_STATE_UPDATE")
		}
		switch {
		case info.Endpoint == "" && null:
			missing = append(missing, "a VOICE_SERVER_UPDATE with an endpoint (the last one was null: no voice server allocated)")
		case info.Endpoint == "":
			missing = append(missing, "VOICE_SERVER_UPDATE")
		}
		return info, newError(http.StatusGatewayTimeout, CodeJoinTimeout,
			"Discord did not send %s for room %s within %v", strings.Join(missing, " nor "), p.room.ID, c.cfg.JoinTimeout)
	}
}

// interruptedError describes a cancelled join; the Controller's mu is held.
func interruptedError(p *pendingJoin) *Error {
	return conflict(CodeJoinCancelled, "the join was interrupted: %s", p.interrupted)
}

// dialError describes why voice.Dial failed.
func dialError(err error) *Error {
	var ce *voice.CloseError
	switch {
	case errors.As(err, &ce) && ce.Code == voice.CloseUnknownEncryptionMode:
		return newError(http.StatusBadGateway, CodeEncryptionRefused, "the voice server refused the encryption mode: %v", err)
	case errors.As(err, &ce) && ce.Code == voice.CloseDAVERequired:
		return newError(http.StatusBadGateway, CodeDAVERequired, "the voice server requires end-to-end encryption (DAVE), which transport-only mode (for stage channels) turns off: %v", err)
	case errors.As(err, &ce):
		return newError(http.StatusBadGateway, CodeVoiceRefused, "the voice server refused the connection: %v", err)
	case errors.Is(err, voice.ErrNoCommonMode):
		return newError(http.StatusBadGateway, CodeEncryptionRefused, "%v", err)
	case errors.Is(err, context.DeadlineExceeded):
		return newError(http.StatusGatewayTimeout, CodeJoinTimeout, "the voice server did not complete the handshake: %v", err)
	}
	return newError(http.StatusBadGateway, CodeVoiceRefused, "connecting to the voice server: %v", err)
}
