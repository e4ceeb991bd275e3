package hub

import (
	"errors"
	"fmt"

	"github.com/spellcoven/gateway/event"
)

// ErrUnavailable reports that events cannot be accepted now: the broker is unreachable, or the hub is
// not running. The ingest adapter answers 503 so that the worker retries later. Test with errors.Is.
var ErrUnavailable = errors.New("hub: unavailable")

// IngestResult counts the events of an accepted batch: Applied were new, Skipped were already held.
type IngestResult struct {
	Applied int `json:"applied"`
	Skipped int `json:"skipped"`
}

// SnapshotRequiredError refuses a batch that does not continue what the hub holds. The worker answers
// it by sending a snapshot event followed by the rest.
type SnapshotRequiredError struct {
	// Expected is the position the hub would accept next: its epoch and last seq + 1, or the zero
	// Position when it holds nothing yet.
	Expected event.Position
}

func (e *SnapshotRequiredError) Error() string {
	if e.Expected.IsZero() {
		return "snapshot_required: nothing is held yet; the first batch must start with a snapshot event"
	}
	return fmt.Sprintf("snapshot_required: expected %s or a snapshot event", e.Expected)
}

// Admit applies the sequencing rules to records, a batch of one epoch in seq order, for a receiver whose
// last applied position is last (zero when it holds nothing). It returns how many leading records are
// already held, so that records[skipped:] are the ones to apply, or a *SnapshotRequiredError:
//
//   - records of last's epoch with seq <= last.Seq are held (replays after retries are normal);
//   - a batch overlapping last applies only its tail after last.Seq;
//   - a batch whose first new seq leaves a gap, or of another epoch, is accepted only if its first new
//     record is a snapshot event, which replaces the projection (within the epoch or starting a new one);
//   - a receiver holding nothing has no projection to apply events to, so it accepts only a batch that
//     starts with a snapshot event.
//
// An empty batch is accepted and changes nothing. Brokers call Admit inside their atomic step.
func Admit(last event.Position, records []*Record) (skipped int, err error) {
	if len(records) == 0 {
		return 0, nil
	}
	first := records[0].pos
	if !last.IsZero() && first.Epoch == last.Epoch && first.Seq <= last.Seq+1 {
		held := last.Seq + 1 - first.Seq // records before the one at last.Seq+1
		return int(min(held, uint64(len(records)))), nil
	}
	if records[0].typ == event.Snapshot {
		return 0, nil
	}
	expected := event.Position{}
	if !last.IsZero() {
		expected = event.Position{Epoch: last.Epoch, Seq: last.Seq + 1}
	}
	return 0, &SnapshotRequiredError{Expected: expected}
}

// newRecords builds the records of b, checking the shape that Admit relies on: one epoch, seqs
// consecutive. event.DecodeBatch has checked it already; a batch built in code may not have been.
func newRecords(b *event.Batch) ([]*Record, error) {
	records := make([]*Record, len(b.Events))
	for i := range b.Events {
		e := &b.Events[i]
		if e.Epoch != b.Epoch {
			return nil, &event.Error{Path: fmt.Sprintf("events[%d].epoch", i), Msg: fmt.Sprintf("is %q but the batch is of epoch %q", e.Epoch, b.Epoch)}
		}
		if i > 0 && e.Seq != b.Events[i-1].Seq+1 {
			return nil, &event.Error{Path: fmt.Sprintf("events[%d].seq", i), Msg: fmt.Sprintf("is %d but must follow %d without a gap", e.Seq, b.Events[i-1].Seq)}
		}
		r, err := NewRecord(e)
		if err != nil {
			var ve *event.Error
			if errors.As(err, &ve) {
				return nil, &event.Error{Path: fmt.Sprintf("events[%d].%s", i, ve.Path), Msg: ve.Msg}
			}
			return nil, err
		}
		records[i] = r
	}
	return records, nil
}
