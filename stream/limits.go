package stream

import (
	"sync"
	"time"

	"github.com/spellcoven/gateway/internal/tokenbucket"
)

// Refusal reasons, the reason labels of Observer.Rejected and Observer.Dropped for the limits.
const (
	ReasonMaxConnections     = "max_connections"     // the edge holds MaxConnections sockets
	ReasonMaxPerIP           = "max_per_ip"          // the client IP holds MaxPerIP sockets
	ReasonMaxUnauthenticated = "max_unauthenticated" // the client IP holds MaxUnauthenticated sockets waiting for their auth
	ReasonMaxPerSubject      = "max_per_subject"     // the token's subject holds MaxPerSubject streams
	ReasonMessageRate        = "message_rate"        // the client sent messages faster than MessageRate
	ReasonStreamRate         = "stream_rate"         // the token's subject opened streams faster than StreamRate
)

// RejectReasons lists the reasons of Observer.Rejected and DropReasons those of Observer.Dropped, for
// metrics that start each at zero.
var (
	RejectReasons = []string{"auth_timeout", "bad_message", "unauthorized", "read_limit", "subscribe",
		ReasonMaxConnections, ReasonMaxPerIP, ReasonMaxUnauthenticated, ReasonMaxPerSubject, ReasonStreamRate}
	DropReasons = []string{"ping_timeout", "read_limit", "bad_message", "unauthorized", "token_expired", ReasonMessageRate}
)

// RefusalLogInterval is the least time between two log lines about refusals of one key (a client IP
// or a subject), so that a client hammering a limit cannot flood the log.
const RefusalLogInterval = time.Minute

// minSweep is the number of subjects a Tracker remembers before it first forgets those that hold no
// stream and whose stream-rate bucket has refilled.
const minSweep = 1024

// maxLogKeys bounds the keys remembered for RefusalLogInterval; past it the oldest are forgotten.
const maxLogKeys = 4096

// Tracker counts the sockets of a process for the limits. One Tracker is shared by every Server of a
// process (coven_ws on several routes, and the configurations before and after a reload), so that a
// reload neither forgets nor doubles what clients hold.
type Tracker struct {
	mu       sync.Mutex
	total    int
	ips      map[string]*ipCount
	subjects map[string]*subjectState
	// streaming counts the subjects holding a stream; subjects also remembers those that held one
	// recently, until their stream-rate bucket has refilled (forgotten by a sweep past sweepAt).
	streaming int
	sweepAt   int
	logged    map[string]time.Time // last refusal logged, by key
}

type subjectState struct {
	streams int
	opens   tokenbucket.Bucket // new streams, for StreamRate
}

type ipCount struct {
	open   int // sockets from this IP, authenticated or not
	unauth int // of which still waiting for their auth message
}

// NewTracker returns an empty Tracker.
func NewTracker() *Tracker {
	return &Tracker{ips: map[string]*ipCount{}, subjects: map[string]*subjectState{}, sweepAt: minSweep, logged: map[string]time.Time{}}
}

// Counts is what a Tracker holds now.
type Counts struct {
	Total           int // sockets, authenticated or not
	Unauthenticated int // sockets waiting for their auth message
	IPs             int // client IPs with at least one socket
	Subjects        int // subjects with at least one stream
}

// Counts returns the current counts.
func (t *Tracker) Counts() Counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := Counts{Total: t.total, IPs: len(t.ips), Subjects: t.streaming}
	for _, ip := range t.ips {
		c.Unauthenticated += ip.unauth
	}
	return c
}

// Admission is one socket's place in a Tracker's counts, from before its upgrade until its session
// ends. Release gives it back.
type Admission struct {
	t       *Tracker
	ip      string
	subject string // set once authenticated
	done    bool
}

// admit counts a new socket from ip, or returns the reason it is refused.
func (t *Tracker) admit(ip string, cfg Config) (*Admission, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.ips[ip]
	switch {
	case cfg.MaxConnections > 0 && t.total >= cfg.MaxConnections:
		return nil, ReasonMaxConnections
	case c != nil && c.open >= cfg.MaxPerIP:
		return nil, ReasonMaxPerIP
	case c != nil && c.unauth >= cfg.MaxUnauthenticated:
		return nil, ReasonMaxUnauthenticated
	}
	if c == nil {
		c = &ipCount{}
		t.ips[ip] = c
	}
	c.open++
	c.unauth++
	t.total++
	return &Admission{t: t, ip: ip}, ""
}

// authenticate moves a from the unauthenticated sockets of its IP to the streams of subject, or
// returns the limit that refuses it: subject holds MaxPerSubject streams already, or opened streams
// faster than StreamRate.
func (a *Admission) authenticate(subject string, cfg Config, now time.Time) string {
	t := a.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if a.done || a.subject != "" {
		return "" // released (the session is ending anyway) or authenticated already
	}
	st := t.subjects[subject]
	if st == nil {
		if len(t.subjects) >= t.sweepAt {
			t.sweep(now, cfg)
		}
		st = &subjectState{}
		t.subjects[subject] = st
	}
	if st.streams >= cfg.MaxPerSubject {
		return ReasonMaxPerSubject
	}
	if !st.opens.Take(now, cfg.StreamRate, cfg.StreamBurst) {
		return ReasonStreamRate
	}
	if st.streams++; st.streams == 1 {
		t.streaming++
	}
	t.ips[a.ip].unauth--
	a.subject = subject
	return ""
}

// sweep forgets the subjects that hold no stream and whose bucket has refilled (they hold nothing a
// new entry would not), and sets the size of the next sweep.
func (t *Tracker) sweep(now time.Time, cfg Config) {
	for sub, st := range t.subjects {
		if st.streams == 0 && st.opens.Full(now, cfg.StreamRate, cfg.StreamBurst) {
			delete(t.subjects, sub)
		}
	}
	t.sweepAt = max(minSweep, 2*len(t.subjects))
}

// Release gives a's counts back. Calling it again does nothing.
func (a *Admission) Release() {
	t := a.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if a.done {
		return
	}
	a.done = true
	t.total--
	c := t.ips[a.ip]
	c.open--
	if a.subject == "" {
		c.unauth--
	} else if st := t.subjects[a.subject]; st != nil {
		if st.streams--; st.streams == 0 {
			t.streaming-- // the entry stays for its stream-rate bucket, until a sweep
		}
	}
	if c.open == 0 {
		delete(t.ips, a.ip)
	}
}

// shouldLog reports whether a refusal for key may be logged now, at most once per RefusalLogInterval.
func (t *Tracker) shouldLog(key string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if last, ok := t.logged[key]; ok && now.Sub(last) < RefusalLogInterval {
		return false
	}
	if len(t.logged) >= maxLogKeys {
		for k, at := range t.logged {
			if now.Sub(at) >= RefusalLogInterval {
				delete(t.logged, k)
			}
		}
		if len(t.logged) >= maxLogKeys {
			clear(t.logged) // a flood of distinct keys: start over rather than grow
		}
	}
	t.logged[key] = now
	return true
}
