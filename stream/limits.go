package stream

import (
	"sync"
	"time"
)

// Refusal reasons, the reason labels of Observer.Rejected and Observer.Dropped for the limits.
const (
	ReasonMaxConnections     = "max_connections"     // the edge holds MaxConnections sockets
	ReasonMaxPerIP           = "max_per_ip"          // the client IP holds MaxPerIP sockets
	ReasonMaxUnauthenticated = "max_unauthenticated" // the client IP holds MaxUnauthenticated sockets waiting for their auth
	ReasonMaxPerSubject      = "max_per_subject"     // the token's subject holds MaxPerSubject streams
	ReasonMessageRate        = "message_rate"        // the client sent messages faster than MessageRate
)

// RefusalLogInterval is the least time between two log lines about refusals of one key (a client IP
// or a subject), so that a client hammering a limit cannot flood the log.
const RefusalLogInterval = time.Minute

// maxLogKeys bounds the keys remembered for RefusalLogInterval; past it the oldest are forgotten.
const maxLogKeys = 4096

// Tracker counts the sockets of a process for the limits. One Tracker is shared by every Server of a
// process (coven_ws on several routes, and the configurations before and after a reload), so that a
// reload neither forgets nor doubles what clients hold.
type Tracker struct {
	mu       sync.Mutex
	total    int
	ips      map[string]*ipCount
	subjects map[string]int
	logged   map[string]time.Time // last refusal logged, by key
}

type ipCount struct {
	open   int // sockets from this IP, authenticated or not
	unauth int // of which still waiting for their auth message
}

// NewTracker returns an empty Tracker.
func NewTracker() *Tracker {
	return &Tracker{ips: map[string]*ipCount{}, subjects: map[string]int{}, logged: map[string]time.Time{}}
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
	c := Counts{Total: t.total, IPs: len(t.ips), Subjects: len(t.subjects)}
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

// authenticate moves a from the unauthenticated sockets of its IP to the streams of subject, unless
// subject holds max streams already.
func (a *Admission) authenticate(subject string, max int) bool {
	t := a.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if a.done || a.subject != "" {
		return !a.done
	}
	if t.subjects[subject] >= max {
		return false
	}
	t.subjects[subject]++
	t.ips[a.ip].unauth--
	a.subject = subject
	return true
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
	} else if t.subjects[a.subject]--; t.subjects[a.subject] == 0 {
		delete(t.subjects, a.subject)
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
