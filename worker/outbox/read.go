package outbox

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/internal/atomicfile"
)

// Read returns up to maxEvents events from seq from on, stopping before maxBytes of event JSON
// (but always returning at least one event when there is one). Events before the cursor may be read
// too; events compacted away are an error.
func (o *Outbox) Read(from uint64, maxEvents int, maxBytes int64) ([]Record, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, errClosed
	}
	if from >= o.next || maxEvents <= 0 {
		return nil, nil
	}
	i := sort.Search(len(o.segments), func(i int) bool { return o.segments[i].last() >= from || len(o.segments[i].recs) == 0 })
	if i == len(o.segments) || from < o.segments[i].first {
		return nil, fmt.Errorf("outbox: seq %d is no longer held", from)
	}
	var out []Record
	var total int64
	for ; i < len(o.segments) && len(out) < maxEvents; i++ {
		s := o.segments[i]
		start := int(from - s.first)
		if len(out) > 0 {
			start = 0
		}
		end := start
		for end < len(s.recs) && len(out)+(end-start) < maxEvents {
			size := int64(s.recs[end].size)
			if len(out)+(end-start) > 0 && total+size > maxBytes {
				break
			}
			total += size
			end++
		}
		if end == start {
			break
		}
		recs, err := readRecords(s, start, end)
		if err != nil {
			return nil, fmt.Errorf("outbox: reading %s: %w", filepath.Base(s.path), err)
		}
		out = append(out, recs...)
		if end < len(s.recs) {
			break
		}
	}
	return out, nil
}

// readRecords reads records [start, end) of a segment in one read.
func readRecords(s *segment, start, end int) ([]Record, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	from, to := s.recs[start].off, s.recs[end-1].end()
	buf := make([]byte, to-from)
	if _, err := f.ReadAt(buf, from); err != nil {
		return nil, err
	}
	out := make([]Record, 0, end-start)
	for i := start; i < end; i++ {
		r := s.recs[i]
		p := buf[r.off-from+recordHeaderSize : r.end()-from]
		typ := event.Type("")
		if r.snapshot {
			typ = event.Snapshot
		} else {
			var env envelope
			if err := json.Unmarshal(p, &env); err != nil {
				return nil, err
			}
			typ = env.Type
		}
		out = append(out, Record{Seq: s.first + uint64(i), Type: typ, JSON: p})
	}
	return out, nil
}

// Ack moves the cursor to seq (never backwards, never past the last event), persists it, and
// deletes the segments wholly behind it. It returns how many events it newly covered.
func (o *Outbox) Ack(seq uint64) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, errClosed
	}
	seq = min(seq, o.next-1)
	if seq <= o.cursor {
		return 0, nil
	}
	covered := int(seq - o.cursor)
	for _, s := range o.segments {
		if len(s.recs) == 0 || s.last() <= o.cursor || s.first > seq {
			continue
		}
		from, to := max(o.cursor+1, s.first)-s.first, min(seq, s.last())-s.first
		for _, r := range s.recs[from : to+1] {
			o.pending -= int64(r.size)
		}
	}
	o.cursor = seq
	raw, _ := json.Marshal(cursorFile{Epoch: o.epoch, Cursor: seq})
	if err := atomicfile.Write(filepath.Join(o.dir, "CURSOR"), raw); err != nil {
		return covered, fmt.Errorf("outbox: saving the cursor: %w", err)
	}
	return covered, o.compact()
}

// compact deletes the segments whose events are all at or behind the cursor, except the active one.
func (o *Outbox) compact() error {
	keep := o.segments[:0]
	var firstErr error
	removed := false
	for i, s := range o.segments {
		if i < len(o.segments)-1 && len(s.recs) > 0 && s.last() <= o.cursor {
			if err := os.Remove(s.path); err != nil && firstErr == nil {
				firstErr = err
			}
			removed = true
			continue
		}
		keep = append(keep, s)
	}
	o.segments = keep
	if removed {
		if err := atomicfile.SyncDir(o.dir); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return fmt.Errorf("outbox: compacting: %w", firstErr)
	}
	return nil
}

// LatestSnapshot returns the seq of the newest snapshot event after the cursor.
func (o *Outbox) LatestSnapshot() (uint64, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.segments) - 1; i >= 0; i-- {
		s := o.segments[i]
		for j := len(s.recs) - 1; j >= 0; j-- {
			seq := s.first + uint64(j)
			if seq <= o.cursor {
				return 0, false
			}
			if s.recs[j].snapshot {
				return seq, true
			}
		}
	}
	return 0, false
}
