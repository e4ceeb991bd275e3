package discordtest

// boundedLog keeps the latest limit items in order, in amortized constant time per push: the
// replay buffer of a session, the ops it received, the audit log.
type boundedLog[T any] struct {
	items []T
	head  int
	limit int
}

func newBoundedLog[T any](limit int) boundedLog[T] {
	return boundedLog[T]{limit: limit}
}

func (l *boundedLog[T]) push(v T) {
	l.items = append(l.items, v)
	if len(l.items)-l.head > l.limit {
		l.head++
	}
	// Compact once the dropped prefix is as long as what is kept, so each item is copied a
	// bounded number of times.
	if l.head >= l.limit {
		n := copy(l.items, l.items[l.head:])
		clear(l.items[n:])
		l.items = l.items[:n]
		l.head = 0
	}
}

// all returns the kept items, oldest first. The slice is valid until the next push.
func (l *boundedLog[T]) all() []T {
	return l.items[l.head:]
}

func (l *boundedLog[T]) len() int {
	return len(l.items) - l.head
}
