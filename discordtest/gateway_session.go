package discordtest

import (
	"encoding/json"
	"strconv"
	"time"
)

// Gateway opcodes.
const (
	opDispatch            = 0
	opHeartbeat           = 1
	opIdentify            = 2
	opPresenceUpdate      = 3
	opVoiceStateUpdate    = 4
	opResume              = 6
	opReconnect           = 7
	opRequestGuildMembers = 8
	opInvalidSession      = 9
	opHello               = 10
	opHeartbeatACK        = 11
)

// Gateway close codes the emulator sends.
const (
	closeUnknownError         = 4000
	closeUnknownOpcode        = 4001
	closeDecodeError          = 4002
	closeNotAuthenticated     = 4003
	closeAuthenticationFailed = 4004
	closeAlreadyAuthenticated = 4005
	closeInvalidSeq           = 4007
	closeRateLimited          = 4008
	closeSessionTimedOut      = 4009
	closeInvalidShard         = 4010
	closeInvalidAPIVersion    = 4012
	closeInvalidIntents       = 4013
	closeDisallowedIntents    = 4014
)

// session is a gateway session: what an identify created and a resume continues. It outlives its
// connections: after a drop it waits, detached, for a resume within the resume window.
type session struct {
	id    string
	token string
	// userID is the bot user the token authenticates: the main bot or a voice bot.
	userID  string
	intents Intents
	// shard is [id, count]; count 0 means the client sent no shard.
	shard          [2]int
	largeThreshold int
	compress       bool
	version        int
	createdAt      time.Time

	seq int64
	// buffer holds the latest dispatches for replay, oldest first.
	buffer boundedLog[bufferedDispatch]

	conn       *gatewayConn
	detachedAt time.Time

	resumes    int
	heartbeats int
	ops        boundedLog[ReceivedOp]
}

type bufferedDispatch struct {
	seq     int64
	name    string
	payload []byte
}

// ReceivedOp is one payload a client sent on a session's connections.
type ReceivedOp struct {
	Op int       `json:"op"`
	At time.Time `json:"at"`
	// Connection numbers the session's connections from 1, so a test sees which ops came after
	// a resume.
	Connection int `json:"connection"`
}

// wants reports whether an event goes to this session: the right intent, and the guild on this
// session's shard.
func (sess *session) wants(ev event) bool {
	if ev.target != nil {
		return ev.target == sess
	}
	if ev.intent != 0 && sess.intents&ev.intent == 0 {
		return false
	}
	return ev.guildID == "" || sess.onShard(ev.guildID)
}

// onShard applies Discord's sharding formula: (guild_id >> 22) % shard_count == shard_id.
func (sess *session) onShard(guildID string) bool {
	if sess.shard[1] <= 1 {
		return true
	}
	id, err := strconv.ParseUint(guildID, 10, 64)
	if err != nil {
		return false
	}
	return int((id>>22)%uint64(sess.shard[1])) == sess.shard[0]
}

// push assigns the next sequence number to a dispatch, keeps it for replay and sends it to the
// connection, if any.
func (sess *session) push(name string, data []byte) {
	sess.seq++
	payload := dispatchPayload(name, sess.seq, data)
	sess.buffer.push(bufferedDispatch{seq: sess.seq, name: name, payload: payload})
	if sess.conn != nil {
		sess.conn.enqueue(outFrame{payload: payload, dispatch: true})
	}
}

// replayable reports whether every dispatch after seq is still buffered.
func (sess *session) replayable(seq int64) bool {
	if seq > sess.seq || seq < 0 {
		return false
	}
	if seq == sess.seq {
		return true
	}
	kept := sess.buffer.all()
	return len(kept) > 0 && kept[0].seq <= seq+1
}

func (sess *session) recordOp(op int) {
	sess.ops.push(ReceivedOp{Op: op, At: time.Now().UTC(), Connection: 1 + sess.resumes})
	if op == opHeartbeat {
		sess.heartbeats++
	}
}

// expired reports whether a detached session is past its resume window.
func (sess *session) expired(now time.Time, window time.Duration) bool {
	return sess.conn == nil && now.Sub(sess.detachedAt) > window
}

// dispatchLocked sends events to every session that wants them. Each event's data is encoded once;
// only the envelope differs per session. Called with s.mu held.
func (s *Server) dispatchLocked(events []event) {
	now := time.Now()
	for _, ev := range events {
		data, err := json.Marshal(ev.data)
		if err != nil {
			s.log.Error("encode dispatch", "event", ev.name, "error", err)
			continue
		}
		n := 0
		for id, sess := range s.sessions {
			if sess.expired(now, s.cfg.Gateway.ResumeWindow) {
				delete(s.sessions, id)
				continue
			}
			if sess.wants(ev) {
				sess.push(ev.name, data)
				n++
			}
		}
		s.obs.dispatched(ev.name, n)
		if ev.voice != nil && s.cfg.OnVoiceState != nil {
			s.cfg.OnVoiceState(*ev.voice)
		}
	}
}

// dispatchPayload builds an op 0 envelope around already encoded data.
func dispatchPayload(name string, seq int64, data []byte) []byte {
	b := make([]byte, 0, len(data)+len(name)+40)
	b = append(b, `{"t":"`...)
	b = append(b, name...)
	b = append(b, `","s":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `,"op":0,"d":`...)
	b = append(b, data...)
	return append(b, '}')
}

// opPayload builds a non-dispatch envelope; t and s are null, as Discord sends them.
func opPayload(op int, d any) []byte {
	data, err := json.Marshal(d)
	if err != nil {
		data = []byte("null")
	}
	b := make([]byte, 0, len(data)+40)
	b = append(b, `{"t":null,"s":null,"op":`...)
	b = strconv.AppendInt(b, int64(op), 10)
	b = append(b, `,"d":`...)
	b = append(b, data...)
	return append(b, '}')
}

// identifyThrottle enforces the identify rate (max_concurrency per window) and the daily session
// start limit. Guarded by Server.mu.
type identifyThrottle struct {
	recent []time.Time
	starts []time.Time
}

// allow reports whether an identify may start a session now, and records it if so. exhausted
// reports that the session start limit is used up.
func (t *identifyThrottle) allow(now time.Time, cfg GatewayConfig) (ok, exhausted bool) {
	t.starts = pruneBefore(t.starts, now.Add(-cfg.SessionStartReset))
	if len(t.starts) >= cfg.SessionStartLimit {
		return false, true
	}
	t.recent = pruneBefore(t.recent, now.Add(-cfg.IdentifyWindow))
	if len(t.recent) >= cfg.IdentifyMaxConcurrency {
		return false, false
	}
	t.recent = append(t.recent, now)
	t.starts = append(t.starts, now)
	return true, false
}

// sessionStartRemaining is what GET /gateway/bot reports in session_start_limit.
func (t *identifyThrottle) sessionStartRemaining(now time.Time, cfg GatewayConfig) (int, time.Duration) {
	t.starts = pruneBefore(t.starts, now.Add(-cfg.SessionStartReset))
	resetAfter := cfg.SessionStartReset
	if len(t.starts) > 0 {
		resetAfter = t.starts[0].Add(cfg.SessionStartReset).Sub(now)
	}
	return max(cfg.SessionStartLimit-len(t.starts), 0), resetAfter
}
