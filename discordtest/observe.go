package discordtest

import (
	"maps"
	"sync"
	"time"
)

// Stats are the emulator's counters since it started, for tests to assert on what clients did.
type Stats struct {
	// RESTRequests counts every answered REST request; RESTStatus splits them by HTTP status.
	RESTRequests int64         `json:"rest_requests"`
	RESTStatus   map[int]int64 `json:"rest_status"`
	// InvalidRequests counts 401, 403 and 429 answers within the last
	// RESTConfig.InvalidRequestWindow: what Cloudflare bans at RESTConfig.InvalidRequestLimit.
	InvalidRequests int `json:"invalid_requests"`

	GatewayConnections int64 `json:"gateway_connections"`
	// Ops counts client payloads by opcode.
	Ops            map[int]int64 `json:"ops"`
	Identifies     int64         `json:"identifies"`
	Resumes        int64         `json:"resumes"`
	FailedResumes  int64         `json:"failed_resumes"`
	InvalidSession int64         `json:"invalid_sessions"`
	Heartbeats     int64         `json:"heartbeats"`
	HeartbeatACKs  int64         `json:"heartbeat_acks"`
	// Dispatches counts dispatch events by type, once per receiving session.
	Dispatches map[string]int64 `json:"dispatches"`
	// ServerCloseCodes counts the close codes the gateway sent; ClientCloseCodes those clients sent.
	ServerCloseCodes map[int]int64 `json:"server_close_codes"`
	ClientCloseCodes map[int]int64 `json:"client_close_codes"`
	// Drops counts connections the gateway dropped without a close frame (faults, slow clients).
	Drops int64 `json:"drops"`
}

// AuditEntry is one change made over REST, with its X-Audit-Log-Reason.
type AuditEntry struct {
	Action   string    `json:"action"`
	TargetID string    `json:"target_id"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
}

// observations collects Stats and the audit log. It has its own lock because REST answers are
// counted outside the world lock.
type observations struct {
	mu    sync.Mutex
	stats Stats
	audit boundedLog[AuditEntry]
}

func (o *observations) init(limit int) {
	o.audit = newBoundedLog[AuditEntry](limit)
	o.stats.RESTStatus = make(map[int]int64)
	o.stats.Ops = make(map[int]int64)
	o.stats.Dispatches = make(map[string]int64)
	o.stats.ServerCloseCodes = make(map[int]int64)
	o.stats.ClientCloseCodes = make(map[int]int64)
}

func (o *observations) update(f func(*Stats)) {
	o.mu.Lock()
	f(&o.stats)
	o.mu.Unlock()
}

func (o *observations) restAnswered(status int) {
	o.update(func(s *Stats) { s.RESTRequests++; s.RESTStatus[status]++ })
}

func (o *observations) connectionOpened() { o.update(func(s *Stats) { s.GatewayConnections++ }) }
func (o *observations) opReceived(op int) { o.update(func(s *Stats) { s.Ops[op]++ }) }
func (o *observations) identified()       { o.update(func(s *Stats) { s.Identifies++ }) }
func (o *observations) resumed()          { o.update(func(s *Stats) { s.Resumes++ }) }
func (o *observations) resumeFailed()     { o.update(func(s *Stats) { s.FailedResumes++ }) }
func (o *observations) invalidSessionSent() {
	o.update(func(s *Stats) { s.InvalidSession++ })
}
func (o *observations) dropped() { o.update(func(s *Stats) { s.Drops++ }) }
func (o *observations) serverClosed(code int) {
	o.update(func(s *Stats) { s.ServerCloseCodes[code]++ })
}
func (o *observations) clientClosed(code int) {
	o.update(func(s *Stats) { s.ClientCloseCodes[code]++ })
}

func (o *observations) heartbeat(acked bool) {
	o.update(func(s *Stats) {
		s.Heartbeats++
		if acked {
			s.HeartbeatACKs++
		}
	})
}

func (o *observations) dispatched(name string, sessions int) {
	if sessions > 0 {
		o.update(func(s *Stats) { s.Dispatches[name] += int64(sessions) })
	}
}

func (o *observations) recordAudit(e AuditEntry) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.audit.push(e)
}

// snapshot copies the counters.
func (o *observations) snapshot() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	st := o.stats
	st.RESTStatus = maps.Clone(o.stats.RESTStatus)
	st.Ops = maps.Clone(o.stats.Ops)
	st.Dispatches = maps.Clone(o.stats.Dispatches)
	st.ServerCloseCodes = maps.Clone(o.stats.ServerCloseCodes)
	st.ClientCloseCodes = maps.Clone(o.stats.ClientCloseCodes)
	return st
}

func (s *Server) recordAudit(action, targetID, reason string) {
	s.obs.recordAudit(AuditEntry{Action: action, TargetID: targetID, Reason: reason, At: time.Now().UTC()})
}

// Stats returns the emulator's counters.
func (s *Server) Stats() Stats {
	st := s.obs.snapshot()
	st.InvalidRequests = s.limiter.invalidCount(time.Now())
	return st
}

// AuditLog returns the latest REST changes with their audit-log reasons, oldest first.
func (s *Server) AuditLog() []AuditEntry {
	s.obs.mu.Lock()
	defer s.obs.mu.Unlock()
	return append([]AuditEntry(nil), s.obs.audit.all()...)
}
