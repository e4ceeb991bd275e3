package outbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/internal/atomicfile"
)

// startSegment creates an empty segment for the next seq and makes it active.
func (o *Outbox) startSegment() error {
	path := filepath.Join(o.dir, fmt.Sprintf("%020d.seg", o.next))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := atomicfile.SyncDir(o.dir); err != nil {
		f.Close()
		return err
	}
	if o.active != nil {
		o.active.Close()
	}
	o.active = f
	o.segments = append(o.segments, &segment{first: o.next, path: path})
	return nil
}

// errClosed reports a use after Close.
var errClosed = errors.New("outbox: closed")

// Append gives items the next seqs, encodes them as events at time ts, writes them and fsyncs the
// segment, and returns the events. An item that does not make a valid event fails the whole call,
// writing nothing.
func (o *Outbox) Append(ts time.Time, items ...Item) ([]event.Event, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, errClosed
	}
	events := make([]event.Event, 0, len(items))
	encoded := make([][]byte, 0, len(items))
	for i, it := range items {
		e, err := event.New(event.Position{Epoch: o.epoch, Seq: o.next + uint64(i)}, o.opts.GuildID, ts, it.Type, it.Payload)
		if err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
		raw, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("outbox: encoding %s: %w", it.Type, err)
		}
		if len(raw) > maxRecordSize {
			return nil, fmt.Errorf("outbox: a %s event of %d bytes is larger than the %d-byte record limit", it.Type, len(raw), maxRecordSize)
		}
		events, encoded = append(events, e), append(encoded, raw)
	}
	for i, raw := range encoded {
		if err := o.write(raw, events[i]); err != nil {
			return nil, err
		}
	}
	if err := o.active.Sync(); err != nil {
		return nil, fmt.Errorf("outbox: fsync: %w", err)
	}
	select {
	case o.appended <- struct{}{}:
	default:
	}
	return events, nil
}

// write appends one record to the active segment, starting a new segment first when the active one
// is full. On a failed write the segment is cut back to its last whole record.
func (o *Outbox) write(raw []byte, e event.Event) error {
	seg := o.segments[len(o.segments)-1]
	if seg.size > 0 && seg.size+recordHeaderSize+int64(len(raw)) > o.opts.SegmentBytes {
		if err := o.active.Sync(); err != nil {
			return fmt.Errorf("outbox: fsync: %w", err)
		}
		if err := o.startSegment(); err != nil {
			return fmt.Errorf("outbox: starting a segment: %w", err)
		}
		seg = o.segments[len(o.segments)-1]
	}
	buf := appendRecord(make([]byte, 0, recordHeaderSize+len(raw)), raw)
	if _, err := o.active.Write(buf); err != nil {
		_ = o.active.Truncate(seg.size)
		return fmt.Errorf("outbox: writing: %w", err)
	}
	seg.recs = append(seg.recs, recordInfo{off: seg.size, size: int32(len(raw)), tsMillis: e.TS.UnixMilli(), snapshot: e.Type == event.Snapshot})
	seg.size += int64(len(buf))
	o.next++
	o.pending += int64(len(raw))
	return nil
}
