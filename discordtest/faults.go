package discordtest

import (
	"fmt"
	"sync"
	"time"
)

// FaultKind says what an injected REST fault does.
type FaultKind string

// The REST fault kinds.
const (
	// FaultServerError answers with a 5xx status instead of serving the request.
	FaultServerError FaultKind = "server_error"
	// FaultDelay holds the request for a while, then serves it normally.
	FaultDelay FaultKind = "delay"
	// FaultRateLimit answers 429, as in a storm of rate limits the client did not cause.
	FaultRateLimit FaultKind = "rate_limit"
)

// RESTFault makes the REST API misbehave on purpose. Faults apply in the order they were added,
// one per request; a fault is spent after Count requests, or when For has passed since it was
// added, whichever comes first. A fault with neither lasts until ClearRESTFaults.
type RESTFault struct {
	Kind FaultKind
	// Route limits the fault to one route, named like "POST /guilds/{guild.id}/channels";
	// empty means every route.
	Route string
	// Count is how many requests the fault affects; 0 means no count limit.
	Count int
	// For is how long the fault lasts; 0 means no time limit.
	For time.Duration
	// Status is the FaultServerError status, 500 to 599 (default 502, as Cloudflare answers).
	Status int
	// Delay is how long FaultDelay holds each request.
	Delay time.Duration
	// RetryAfter is what a FaultRateLimit answer asks the client to wait (default 1 s).
	RetryAfter time.Duration
	// Global makes a FaultRateLimit answer a global one (X-RateLimit-Global, scope "global").
	Global bool
	// Scope is the X-RateLimit-Scope of a FaultRateLimit answer that is not Global: "shared"
	// (the default), a limit on the resource that Discord does not count towards the invalid
	// requests and that leaves the route's bucket as it was, or "user", as if the bot had used up
	// its bucket.
	Scope string
}

// normalize checks a fault and fills its defaults.
func (f RESTFault) normalize() (RESTFault, error) {
	if f.Route != "" && !routeNames()[f.Route] {
		return f, fmt.Errorf("discordtest: unknown route %q in REST fault", f.Route)
	}
	if f.Count < 0 || f.For < 0 {
		return f, fmt.Errorf("discordtest: REST fault Count and For must not be negative")
	}
	switch f.Kind {
	case FaultServerError:
		if f.Status == 0 {
			f.Status = 502
		}
		if f.Status < 500 || f.Status > 599 {
			return f, fmt.Errorf("discordtest: REST fault status %d is not 5xx", f.Status)
		}
	case FaultDelay:
		if f.Delay <= 0 {
			return f, fmt.Errorf("discordtest: a delay fault needs a positive Delay")
		}
	case FaultRateLimit:
		switch {
		case f.Global && f.Scope != "" && f.Scope != "global":
			return f, fmt.Errorf("discordtest: a global REST fault has scope global, not %q", f.Scope)
		case f.Global:
			f.Scope = "global"
		case f.Scope == "":
			f.Scope = "shared"
		case f.Scope != "shared" && f.Scope != "user":
			return f, fmt.Errorf("discordtest: REST fault scope %q is not shared or user", f.Scope)
		}
		if f.RetryAfter < 0 {
			return f, fmt.Errorf("discordtest: REST fault RetryAfter must not be negative")
		}
		if f.RetryAfter == 0 {
			f.RetryAfter = time.Second
		}
	default:
		return f, fmt.Errorf("discordtest: unknown REST fault kind %q", f.Kind)
	}
	return f, nil
}

// faultSet holds the active REST faults.
type faultSet struct {
	mu     sync.Mutex
	active []*activeFault
}

type activeFault struct {
	RESTFault
	left    int
	expires time.Time
}

func (fs *faultSet) add(f RESTFault, now time.Time) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	a := &activeFault{RESTFault: f, left: f.Count}
	if f.For > 0 {
		a.expires = now.Add(f.For)
	}
	fs.active = append(fs.active, a)
}

func (fs *faultSet) clear() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.active = nil
}

// take returns the first live fault matching route and spends one of its requests.
func (fs *faultSet) take(route string, now time.Time) (RESTFault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	live := fs.active[:0]
	for _, a := range fs.active {
		if a.expires.IsZero() || now.Before(a.expires) {
			live = append(live, a)
		}
	}
	fs.active = live
	for i, a := range fs.active {
		if a.Route != "" && a.Route != route {
			continue
		}
		if a.Count > 0 {
			a.left--
			if a.left == 0 {
				fs.active = append(fs.active[:i], fs.active[i+1:]...)
			}
		}
		return a.RESTFault, true
	}
	return RESTFault{}, false
}
