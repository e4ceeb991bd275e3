package covenhmac

import (
	"bytes"
	"net/http"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Bounds of the webhook-id memory.
const (
	// DefaultMaxIDs is how many delivered ids are remembered at most; past it the oldest are forgotten.
	DefaultMaxIDs = 10000
	// maxStoredAnswer bounds the body of an answer kept for replay; a longer one is replayed as its
	// status alone.
	maxStoredAnswer = 16 << 10
)

// deliveries remembers the webhook-ids of verified Standard Webhooks deliveries for as long as their
// signature could be replayed (the timestamp tolerance either way), with the answer the next handler
// gave, so that a repeated id never reaches it twice: a sender's retry of a delivery that went
// through gets the first answer again, and a replay gets nothing new.
type deliveries struct {
	window time.Duration
	max    int

	mu    sync.Mutex
	byID  map[string]*delivery
	order []*delivery // oldest first
}

type delivery struct {
	id     string
	at     time.Time
	done   bool
	status int
	ctype  string
	body   []byte // nil when too large to keep
}

func newDeliveries(window time.Duration, max int) *deliveries {
	return &deliveries{window: window, max: max, byID: make(map[string]*delivery)}
}

// begin claims id at now. It returns the delivery to finish, or the earlier one with that id (running
// if !done).
func (d *deliveries) begin(id string, now time.Time) (claimed, earlier *delivery) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(now)
	if e := d.byID[id]; e != nil {
		return nil, e
	}
	for len(d.order) >= d.max {
		d.forget(d.order[0])
	}
	e := &delivery{id: id, at: now}
	d.byID[id] = e
	d.order = append(d.order, e)
	return e, nil
}

// finish records the answer to e; an answer a retry could change (5xx, 429) is forgotten instead, so
// that the retry runs.
func (d *deliveries) finish(e *delivery, status int, ctype string, body []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if status >= 500 || status == http.StatusTooManyRequests {
		if d.byID[e.id] == e {
			d.forget(e)
		}
		return
	}
	e.done, e.status, e.ctype, e.body = true, status, ctype, body
}

// abandon forgets e, whose handler failed without answering.
func (d *deliveries) abandon(e *delivery) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.byID[e.id] == e {
		d.forget(e)
	}
}

func (d *deliveries) expire(now time.Time) {
	for len(d.order) > 0 && now.Sub(d.order[0].at) > d.window {
		d.forget(d.order[0])
	}
}

func (d *deliveries) forget(e *delivery) {
	delete(d.byID, e.id)
	for i, o := range d.order {
		if o == e {
			d.order = append(d.order[:i], d.order[i+1:]...)
			return
		}
	}
}

// replay answers a repeated id with the first delivery's answer, marked Webhook-Duplicate: true.
func replay(w http.ResponseWriter, e *delivery) {
	w.Header().Set("Webhook-Duplicate", "true")
	if e.ctype != "" {
		w.Header().Set("Content-Type", e.ctype)
	}
	w.WriteHeader(e.status)
	_, _ = w.Write(e.body)
}

// recorder passes an answer through while keeping a copy for replay.
type recorder struct {
	*caddyhttp.ResponseWriterWrapper
	status   int
	body     bytes.Buffer
	tooLarge bool
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriterWrapper.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if !r.tooLarge {
		if r.body.Len()+len(b) > maxStoredAnswer {
			r.tooLarge = true
			r.body.Reset()
		} else {
			r.body.Write(b)
		}
	}
	return r.ResponseWriterWrapper.Write(b)
}

// answer returns what was recorded.
func (r *recorder) answer() (status int, body []byte) {
	if r.tooLarge {
		return r.status, nil
	}
	return r.status, bytes.Clone(r.body.Bytes())
}
