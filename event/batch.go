package event

import "fmt"

// DefaultMaxBatchEvents is the default bound on events in one webhook batch.
const DefaultMaxBatchEvents = 1000

// Batch is the body of a webhook delivery from the worker: events of one epoch in seq order.
type Batch struct {
	Epoch  string  `json:"epoch"`
	Events []Event `json:"events"`
}

// DecodeBatch parses and validates a webhook body. Every event must carry the batch's epoch and the
// seqs must be consecutive, so that a batch is either applied whole or refused whole. maxEvents bounds
// the number of events (0 means DefaultMaxBatchEvents).
func DecodeBatch(data []byte, maxEvents int) (*Batch, error) {
	if maxEvents <= 0 {
		maxEvents = DefaultMaxBatchEvents
	}
	var b Batch
	if err := decodeStrict(data, &b); err != nil {
		return nil, err
	}
	if err := b.Validate(maxEvents); err != nil {
		return nil, err
	}
	return &b, nil
}

// Validate checks the batch as DecodeBatch does.
func (b *Batch) Validate(maxEvents int) error {
	if !validEpoch(b.Epoch) {
		return errAt("epoch", "must be 1-%d characters of letters, digits, '-', '_', '.' or ':'", MaxEpochLength)
	}
	if b.Events == nil {
		return errAt("events", "required")
	}
	if len(b.Events) > maxEvents {
		return errAt("events", "%d events is more than the limit of %d per batch", len(b.Events), maxEvents)
	}
	for i := range b.Events {
		e := &b.Events[i]
		path := fmt.Sprintf("events[%d]", i)
		if err := e.Validate(); err != nil {
			return prefixed(path, err)
		}
		if e.Epoch != b.Epoch {
			return errAt(path+".epoch", "is %q but the batch is of epoch %q", e.Epoch, b.Epoch)
		}
		if i > 0 && e.Seq != b.Events[i-1].Seq+1 {
			return errAt(path+".seq", "is %d but must follow %d without a gap", e.Seq, b.Events[i-1].Seq)
		}
	}
	return nil
}
