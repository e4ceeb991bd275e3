package hub

// initialQueueSlots is the capacity a subscriber's queue starts with. It doubles only for subscribers
// that fall behind, and goes back once they have caught up, so an idle connection holds a few slots
// rather than QueueLength of them.
const initialQueueSlots = 4

// runQueue is what waits for one subscriber: runs of records in order, each run being the records of
// one delivery (an ingested batch, shared by every subscriber, or one control frame). A delivery costs
// one slot whatever its size, so a large catch-up batch neither copies frames per subscriber nor
// overflows the queue of a client that is keeping up.
type runQueue struct {
	runs   [][]*Record // ring
	head   int         // slot of the oldest run
	n      int         // runs waiting
	off    int         // frames of the oldest run already taken
	frames int         // frames waiting
}

// push appends a run of at least one record.
func (q *runQueue) push(run []*Record) {
	if q.n == len(q.runs) {
		q.grow()
	}
	i := q.head + q.n
	if i >= len(q.runs) {
		i -= len(q.runs)
	}
	q.runs[i] = run
	q.n++
	q.frames += len(run)
}

func (q *runQueue) grow() {
	runs := make([][]*Record, max(2*len(q.runs), initialQueueSlots))
	for i := range q.n {
		runs[i] = q.run(i)
	}
	q.runs, q.head = runs, 0
}

// run returns the i-th oldest run.
func (q *runQueue) run(i int) []*Record {
	i += q.head
	if i >= len(q.runs) {
		i -= len(q.runs)
	}
	return q.runs[i]
}

// drop removes the k oldest frames, clearing finished slots so that the queue keeps no run alive.
func (q *runQueue) drop(k int) {
	q.frames -= k
	for k > 0 {
		run := q.runs[q.head]
		take := min(k, len(run)-q.off)
		q.off += take
		k -= take
		if q.off == len(run) {
			q.runs[q.head] = nil
			q.head++
			if q.head == len(q.runs) {
				q.head = 0
			}
			q.n--
			q.off = 0
		}
	}
	if q.n == 0 && len(q.runs) > initialQueueSlots {
		// Emptied after falling behind: give the grown ring back rather than keep it for the
		// connection's life (the next run starts a small one).
		q.runs, q.head = nil, 0
	}
}

// queueCursor reads waiting frames in order without removing them.
type queueCursor struct {
	q   *runQueue
	run int // runs past the oldest
	off int // frame within that run
}

func (q *runQueue) cursor() queueCursor { return queueCursor{q: q, off: q.off} }

func (c *queueCursor) next() (*Record, bool) {
	for c.run < c.q.n {
		run := c.q.run(c.run)
		if c.off < len(run) {
			c.off++
			return run[c.off-1], true
		}
		c.run++
		c.off = 0
	}
	return nil, false
}
