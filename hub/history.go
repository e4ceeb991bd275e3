package hub

// history is a ring of the most recent records of one unbroken run of positions: every record in it
// follows the one before by one seq in the same epoch. A record that does not follow (a snapshot that
// starts a new epoch or skips ahead) empties it first, so a client resuming from before the break is
// never served events with a hole in between.
type history struct {
	ring  []*Record
	start int // index of the oldest record
	n     int
}

func newHistory(size int) history { return history{ring: make([]*Record, size)} }

func (h *history) len() int { return h.n }

func (h *history) push(r *Record) {
	i := h.start + h.n
	if i >= len(h.ring) {
		i -= len(h.ring)
	}
	h.ring[i] = r
	if h.n < len(h.ring) {
		h.n++
		return
	}
	h.start++ // overwrote the oldest
	if h.start == len(h.ring) {
		h.start = 0
	}
}

// reset forgets every record, releasing them to the garbage collector.
func (h *history) reset() {
	clear(h.ring)
	h.start, h.n = 0, 0
}

// at returns the i-th record, oldest first.
func (h *history) at(i int) *Record {
	i += h.start
	if i >= len(h.ring) {
		i -= len(h.ring)
	}
	return h.ring[i]
}

// appendNewest appends the k newest records, oldest first, to run.
func (h *history) appendNewest(run []*Record, k int) []*Record {
	for i := h.n - k; i < h.n; i++ {
		run = append(run, h.at(i))
	}
	return run
}

// records returns the records oldest first.
func (h *history) records() []*Record {
	out := make([]*Record, h.n)
	for i := range out {
		out[i] = h.at(i)
	}
	return out
}
