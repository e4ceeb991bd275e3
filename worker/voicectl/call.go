package voicectl

import (
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/voice"
)

// call is the bot's presence in one room: its voice connection, the media it receives, and the
// users with it. Fields are guarded by the Controller's mu, except what mediaRouter guards.
type call struct {
	room  event.Room
	info  voice.ServerInfo
	conn  *voice.Conn // nil while dialing
	media *mediaRouter
	state string
	since time.Time
	// users are the other users of the call, from the voice gateway's events.
	users map[string]*presence
	play  *playback
	ended bool
	// forTable is set when the call was joined for viewers: it ends when no one watches.
	forTable bool
	// counted is what the metrics took of the call's counters when it ended; the rest is added
	// once the connection is closed.
	counted CallStats
}

type presence struct {
	inCall, speaking, video bool
}

func newCall(room event.Room, info voice.ServerInfo, maxRecordingBytes int64) *call {
	return &call{
		room: room, info: info, media: newMediaRouter(maxRecordingBytes),
		state: StateJoining, users: make(map[string]*presence),
	}
}

func (cl *call) user(id string) *presence {
	p := cl.users[id]
	if p == nil {
		p = new(presence)
		cl.users[id] = p
	}
	return p
}

// onVoiceEvent follows the voice connection's state and the users of the call.
func (c *Controller) onVoiceEvent(cl *call, e voice.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl.ended {
		return
	}
	switch e := e.(type) {
	case *voice.StateEvent:
		switch e.State {
		case voice.StateReady, voice.StateResumed:
			cl.state = StateConnected
		case voice.StateReconnecting:
			cl.state = StateReconnecting
			c.log.Warn("voice: connection lost; recovering", "room_id", cl.room.ID, "error", e.Err)
		}
		if c.call == cl {
			c.metrics.setConnected(cl.state == StateConnected)
		}
	case *voice.ClientsConnectEvent:
		for _, id := range e.UserIDs {
			cl.user(id).inCall = true
		}
	case *voice.ClientDisconnectEvent:
		*cl.user(e.UserID) = presence{}
	case *voice.SpeakingEvent:
		u := cl.user(e.UserID)
		u.inCall, u.speaking = true, e.Speaking != 0
	case *voice.VideoEvent:
		u := cl.user(e.UserID)
		u.inCall, u.video = true, e.VideoSSRC != 0
	}
}

// watch waits for the call's voice connection to end; when it ends on its own (a close code
// that means stop, or recovery gave up), the call is over.
func (c *Controller) watch(cl *call) {
	defer c.wg.Done()
	<-cl.conn.Done()
	err := cl.conn.Err()
	if err == nil {
		return // closed by teardown
	}
	end := CallEnd{RoomID: cl.room.ID, Reason: EndVoiceClosed, Message: err.Error()}
	var ce *voice.CloseError
	if errors.As(err, &ce) {
		end.CloseCode = ce.Code
		if ce.Code == voice.CloseDisconnected {
			end.Reason = EndDisconnected
			end.Message = "the voice server disconnected the bot (4014): kicked, moved, or the call ended"
		}
	}
	c.mu.Lock()
	ended := c.endLocked(cl, end)
	c.mu.Unlock()
	if ended {
		// The bot may still be in the channel on the main gateway, without a connection.
		c.teardown(cl, true)
	}
}

// endLocked marks cl ended with end and detaches it; the caller then runs teardown, without
// the lock. It reports false when cl had ended already.
func (c *Controller) endLocked(cl *call, end CallEnd) bool {
	if cl.ended {
		return false
	}
	cl.ended = true
	if c.call == cl {
		c.call = nil
	}
	end.At = time.Now()
	c.lastEnd = &end
	cl.counted = cl.stats()
	addStats(&c.ended, cl.counted)
	c.metrics.ends.WithLabelValues(end.Reason).Inc()
	c.metrics.setConnected(false)
	level := c.log.Warn
	if end.Reason == EndLeft || end.Reason == EndShutdown {
		level = c.log.Info
	}
	level("voice: call ended", "room_id", end.RoomID, "reason", end.Reason, "detail", end.Message, "close_code", end.CloseCode)
	return true
}

// endLaterLocked ends cl from a dispatch: the teardown, which waits for the network, runs on
// its own goroutine.
func (c *Controller) endLaterLocked(cl *call, end CallEnd, leave bool) {
	if c.closed || !c.endLocked(cl, end) {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.teardown(cl, leave)
	}()
}

// teardown stops an ended call's playback and recording, closes its voice connection and, when
// leave is set, sends op 4 with no channel.
func (c *Controller) teardown(cl *call, leave bool) {
	c.mu.Lock()
	pb := cl.play
	c.mu.Unlock()
	if pb != nil {
		pb.cancel()
		<-pb.done
	}
	if rec := cl.media.stopRecording(time.Now()); rec != nil {
		c.mu.Lock()
		c.lastRecording = rec
		c.mu.Unlock()
	}
	if cl.conn != nil {
		cl.conn.Close()
	}
	if r := c.table.relay; r != nil {
		// Viewers of the members' cameras see their sessions end, and ask again: the bot rejoins
		// for them. Viewers of published sources need no call.
		r.EndCall(cl.room.ID, "the call ended")
	}
	c.mu.Lock()
	final := cl.stats()
	addStats(&c.ended, subStats(final, cl.counted))
	cl.counted = final
	c.mu.Unlock()
	if leave {
		c.leaveVoice()
	}
}

// stats returns the call's counters.
func (cl *call) stats() CallStats {
	_, lost := cl.media.counts()
	st := CallStats{PacketsLost: lost}
	if cl.conn != nil {
		s := cl.conn.Stats()
		st.PacketsSent, st.SendDropped, st.PacketsReceived = s.PacketsSent, s.SendDropped, s.PacketsReceived
		st.Undecryptable, st.Resumes, st.Reconnects = s.Undecryptable, s.Resumes, s.Reconnects
	}
	return st
}

func addStats(to *CallStats, s CallStats) {
	to.PacketsSent += s.PacketsSent
	to.SendDropped += s.SendDropped
	to.PacketsReceived += s.PacketsReceived
	to.PacketsLost += s.PacketsLost
	to.Undecryptable += s.Undecryptable
	to.Resumes += s.Resumes
	to.Reconnects += s.Reconnects
}

func subStats(a, b CallStats) CallStats {
	return CallStats{
		PacketsSent: a.PacketsSent - b.PacketsSent, SendDropped: a.SendDropped - b.SendDropped,
		PacketsReceived: a.PacketsReceived - b.PacketsReceived, PacketsLost: a.PacketsLost - b.PacketsLost,
		Undecryptable: a.Undecryptable - b.Undecryptable, Resumes: a.Resumes - b.Resumes, Reconnects: a.Reconnects - b.Reconnects,
	}
}

// totals returns the counters of every call so far, for the metrics.
func (c *Controller) totals() CallStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.ended
	if cl := c.call; cl != nil {
		addStats(&t, cl.stats())
	}
	return t
}

// e2eeActive reports whether the current call's media is end-to-end encrypted.
func (c *Controller) e2eeActive() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.call == nil || c.call.conn == nil {
		return false
	}
	s := c.call.conn.DAVE()
	return s != nil && s.Ready()
}

func (c *Controller) statusLocked() Status {
	st := Status{
		State: StateIdle, Members: []Member{},
		LastEnd: clone(c.lastEnd), LastPlayback: clone(c.lastPlayback), LastRecording: clone(c.lastRecording),
	}
	if p := c.joining; p != nil {
		st.State, st.RoomID, st.RoomName = StateJoining, p.room.ID, p.room.Name
	}
	cl := c.call
	if cl == nil {
		st.Table = c.tableStatusLocked()
		return st
	}
	st.State, st.RoomID, st.RoomName, st.Since = cl.state, cl.room.ID, cl.room.Name, cl.since
	st.Mode, st.SSRC = string(cl.conn.Mode()), cl.conn.SSRC()
	if s := cl.conn.DAVE(); s != nil {
		e := &E2EE{ProtocolVersion: s.ProtocolVersion(), Active: s.Ready(), Epoch: s.Epoch()}
		if e.Active {
			e.PrivacyCode = s.PrivacyCode()
		}
		st.E2EE = e
	}
	st.Table = c.tableStatusLocked()
	if pb := cl.play; pb != nil {
		p := pb.status
		p.Frames = int(pb.frames.Load())
		st.Playing = &p
	}
	st.Recording = cl.media.recording()
	st.Stats = cl.stats()
	counts, _ := cl.media.counts()
	ids := slices.Collect(maps.Keys(cl.users))
	for id := range counts {
		if cl.users[id] == nil {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, compareIDs)
	for _, id := range ids {
		m := Member{UserID: id}
		if u := cl.users[id]; u != nil {
			m.InCall, m.Speaking, m.Video = u.inCall, u.speaking, u.video
		}
		n := counts[id]
		m.AudioPackets, m.AudioLost, m.VideoFrames = n.audio, n.lost, n.video
		st.Members = append(st.Members, m)
	}
	return st
}

// clone returns a copy of *v, or nil.
func clone[T any](v *T) *T {
	if v == nil {
		return nil
	}
	c := *v
	return &c
}
