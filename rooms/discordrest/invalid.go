package discordrest

import "time"

// invalidWindow counts the invalid answers (401, 403, 429) Discord gave this client over a sliding
// window, in one-second slots: memory stays fixed however many answers come. Its methods are called
// with Client.mu held.
type invalidWindow struct {
	window time.Duration
	// slots[i] counts the answers of second stamps[i]; a slot is reused when its second is over.
	slots  []int
	stamps []int64
}

func newInvalidWindow(window time.Duration) *invalidWindow {
	n := int((window + time.Second - 1) / time.Second)
	return &invalidWindow{window: window, slots: make([]int, n), stamps: make([]int64, n)}
}

// add counts one invalid answer at now.
func (w *invalidWindow) add(now time.Time) {
	sec := now.Unix()
	i := int(sec % int64(len(w.slots)))
	if w.stamps[i] != sec {
		w.stamps[i], w.slots[i] = sec, 0
	}
	w.slots[i]++
}

// count is how many invalid answers came within the window ending at now.
func (w *invalidWindow) count(now time.Time) int {
	oldest := now.Unix() - int64(len(w.slots)) + 1
	n := 0
	for i, c := range w.slots {
		if w.stamps[i] >= oldest {
			n += c
		}
	}
	return n
}

// belowAfter returns how long until fewer than limit answers remain in the window (0 if already so).
func (w *invalidWindow) belowAfter(limit int, now time.Time) time.Duration {
	excess := w.count(now) - limit + 1
	if excess <= 0 {
		return 0
	}
	sec := now.Unix()
	oldest := sec - int64(len(w.slots)) + 1
	// Walk the seconds from the oldest: each slot leaves the window when its second is a window old.
	for s := oldest; s <= sec; s++ {
		i := int(s % int64(len(w.slots)))
		if w.stamps[i] != s {
			continue
		}
		excess -= w.slots[i]
		if excess <= 0 {
			leaves := time.Unix(s+int64(len(w.slots)), 0)
			return max(leaves.Sub(now), time.Second)
		}
	}
	return w.window
}
