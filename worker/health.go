package worker

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Check is one readiness check's result.
type Check struct {
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	// Advisory checks are reported without making the worker unready: what they watch is not
	// needed for its main work.
	Advisory bool `json:"advisory,omitempty"`
}

// Readiness is the body of /readyz.
type Readiness struct {
	Ready  bool             `json:"ready"`
	Checks map[string]Check `json:"checks"`
}

// Readiness evaluates the readiness checks: the gateway is connected and the guild's state known;
// the edge accepted a delivery within EdgeStaleAfter; the outbox is under its bound; the
// dead-letter store is not full. The voice bots' sessions are reported, advisory.
func (w *Worker) Readiness() Readiness {
	r := Readiness{Ready: true, Checks: map[string]Check{}}
	add := func(name string, ok bool, detail string) {
		r.Checks[name] = Check{OK: ok, Detail: detail}
		r.Ready = r.Ready && ok
	}

	switch connected, synced := w.gw.Connected(), w.prod.Synced(); {
	case !connected:
		if left, why, waiting := w.gw.IdentifyWait(); waiting {
			add("gateway", false, fmt.Sprintf("not connected: %s (%s left)", why, left.Round(time.Second)))
			break
		}
		add("gateway", false, "not connected to the Discord gateway")
	case !synced:
		add("gateway", false, "connected; waiting for the guild's state")
	default:
		add("gateway", true, "connected")
	}

	if last := w.del.LastSuccess(); last.IsZero() {
		add("edge", false, "no delivery accepted by the edge yet")
	} else if age := time.Since(last); age > w.cfg.EdgeStaleAfter {
		add("edge", false, fmt.Sprintf("no delivery accepted for %s", age.Round(time.Second)))
	} else {
		add("edge", true, fmt.Sprintf("last delivery accepted %s ago", age.Round(time.Millisecond)))
	}

	st := w.ob.Stats()
	detail := fmt.Sprintf("%d events (%d bytes) pending of at most %d (%d bytes)", st.PendingEvents, st.PendingBytes, w.cfg.MaxPendingEvents, w.cfg.MaxPendingBytes)
	add("outbox", !st.Full, detail)

	if len(w.voiceBots) > 0 {
		// The voice bots relay rooms beyond the main bot's one: without them fewer rooms can be
		// watched at once, but events and the main bot's voice go on.
		var down []string
		for _, b := range w.voiceBots {
			if !b.gw.Connected() {
				down = append(down, strconv.Itoa(b.n))
			}
		}
		detail := fmt.Sprintf("%d of %d voice bots connected", len(w.voiceBots)-len(down), len(w.voiceBots))
		if len(down) > 0 {
			detail += "; not connected: " + strings.Join(down, ", ") + " (table view has as many fewer rooms at once)"
		}
		r.Checks["voice_bots"] = Check{OK: len(down) == 0, Detail: detail, Advisory: true}
	}

	if n, err := w.dl.Count(); err != nil {
		add("dead_letters", false, err.Error())
	} else {
		add("dead_letters", n < w.cfg.MaxDeadLetters, fmt.Sprintf("%d letters of at most %d", n, w.cfg.MaxDeadLetters))
	}
	return r
}

func (w *Worker) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		writeJSON(rw, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, _ *http.Request) {
		r := w.Readiness()
		code := http.StatusOK
		if !r.Ready {
			code = http.StatusServiceUnavailable
		}
		writeJSON(rw, code, r)
	})
	mux.Handle("GET /metrics", w.m.Handler())
	mux.Handle("/voice", w.voiceControl)
	mux.Handle("/voice/", w.voiceControl)
	return mux
}

func writeJSON(rw http.ResponseWriter, code int, v any) {
	rw.Header().Set("Content-Type", "application/json")
	rw.Header().Set("Cache-Control", "no-store")
	rw.WriteHeader(code)
	json.NewEncoder(rw).Encode(v)
}

// registerGauges exposes the outbox and the dead-letter store as gauges read at scrape time.
func (w *Worker) registerGauges() {
	w.m.GaugeFunc("outbox_pending_events", "Events in the outbox not yet delivered.", func() float64 {
		return float64(w.ob.Stats().PendingEvents)
	})
	w.m.GaugeFunc("outbox_pending_bytes", "Bytes of events in the outbox not yet delivered.", func() float64 {
		return float64(w.ob.Stats().PendingBytes)
	})
	w.m.GaugeFunc("outbox_oldest_pending_age_seconds", "Age of the oldest undelivered event; 0 when none.", func() float64 {
		if t := w.ob.Stats().OldestPending; !t.IsZero() {
			return time.Since(t).Seconds()
		}
		return 0
	})
	w.m.GaugeFunc("outbox_last_seq", "Seq of the last event produced.", func() float64 { return float64(w.ob.Stats().Last) })
	w.m.GaugeFunc("dead_letters", "Letters in the dead-letter store.", func() float64 {
		n, _ := w.dl.Count()
		return float64(n)
	})
}
