// Package outbox is the worker's durable, ordered store of produced events.
//
// The worker's producer appends every event it makes from Discord's dispatches; the outbox gives it
// the next seq of its epoch and writes and fsyncs it before Append returns, so an event the worker
// considers produced survives a crash. The delivery loop reads events from the cursor (the last event
// that needs no more delivery: delivered, or superseded by a later snapshot), and advances the cursor
// with Ack once the edge has them; segments wholly behind the cursor are deleted.
//
// The epoch is a random id created with the outbox. It changes only when the outbox is lost (a new,
// empty directory): the edge then sees an unknown epoch and asks for a snapshot.
//
// On disk, a directory holds EPOCH, CURSOR, LOCK and segment files named after their first seq
// ("00000000000000000001.seg"). See record.go for the record format and what Open recovers.
package outbox

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/internal/atomicfile"
)

// Defaults of Options.
const (
	DefaultSegmentBytes     = 8 << 20
	DefaultMaxPendingEvents = 100_000
	DefaultMaxPendingBytes  = 256 << 20
)

// Options configure an outbox.
type Options struct {
	// GuildID is the guild every event is about.
	GuildID string
	// SegmentBytes is the size past which a new segment file is started (default 8 MiB). Segments
	// are the unit of compaction.
	SegmentBytes int64
	// MaxPendingEvents and MaxPendingBytes bound the events not yet delivered (defaults 100,000
	// and 256 MiB). Past either, Full reports true; the producer decides what to do (see the
	// worker's documentation). Append itself never refuses an event for being over the bound.
	MaxPendingEvents int
	MaxPendingBytes  int64
	// Logger receives what Open recovered. Nil discards.
	Logger *slog.Logger
}

// Item is one event to append: its type and payload.
type Item struct {
	Type    event.Type
	Payload any
}

// Record is an event read back for delivery.
type Record struct {
	Seq  uint64
	Type event.Type
	// JSON is the event's canonical encoding, as written.
	JSON []byte
}

// Stats describe the outbox at one moment.
type Stats struct {
	Epoch string
	// Cursor is the last seq that needs no more delivery; Last the last seq appended.
	Cursor, Last uint64
	// PendingEvents and PendingBytes count the events after the cursor.
	PendingEvents int
	PendingBytes  int64
	// OldestPending is the time of the first event after the cursor; zero when none.
	OldestPending time.Time
	Segments      int
	Full          bool
}

// segment is one file of records in memory: where each record is.
type segment struct {
	first uint64
	path  string
	size  int64
	recs  []recordInfo
}

func (s *segment) last() uint64 { return s.first + uint64(len(s.recs)) - 1 }

// Outbox is an open outbox directory. Its methods are safe for concurrent use.
type Outbox struct {
	dir  string
	opts Options
	lock *dirLock

	mu       sync.Mutex
	epoch    string
	segments []*segment // in seq order; the last one is the active segment
	active   *os.File
	next     uint64 // seq of the next event
	cursor   uint64
	pending  int64 // bytes of the events after the cursor
	closed   bool
	appended chan struct{}
}

// Open opens the outbox in dir, creating the directory and a new epoch if it holds no outbox. It
// drops a torn record at the end of the last segment (logged) and refuses, changing nothing, an
// outbox damaged anywhere else. One process at a time may hold an outbox open.
func Open(dir string, opts Options) (*Outbox, error) {
	if !event.ValidSnowflake(opts.GuildID) {
		return nil, errors.New("outbox: the guild id must be a Discord snowflake")
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	if opts.MaxPendingEvents <= 0 {
		opts.MaxPendingEvents = DefaultMaxPendingEvents
	}
	if opts.MaxPendingBytes <= 0 {
		opts.MaxPendingBytes = DefaultMaxPendingBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("outbox %s: %w", dir, err)
	}
	o := &Outbox{dir: dir, opts: opts, lock: lock, appended: make(chan struct{}, 1)}
	if err := o.load(); err != nil {
		lock.release()
		return nil, fmt.Errorf("outbox %s: %w", dir, err)
	}
	return o, nil
}

// cursorFile is the content of CURSOR.
type cursorFile struct {
	Epoch  string `json:"epoch"`
	Cursor uint64 `json:"cursor"`
}

func (o *Outbox) load() error {
	names, err := o.segmentNames()
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(filepath.Join(o.dir, "EPOCH"))
	switch {
	case errors.Is(err, os.ErrNotExist) && len(names) == 0:
		if err := o.newEpoch(); err != nil {
			return err
		}
	case errors.Is(err, os.ErrNotExist):
		return errors.New("segment files exist but EPOCH is missing; the outbox is damaged: move the directory aside to start a new epoch (the edge will get a snapshot)")
	case err != nil:
		return err
	default:
		o.epoch = strings.TrimSpace(string(raw))
		if !validEpoch(o.epoch) {
			return errors.New("EPOCH does not hold a valid epoch; the outbox is damaged: move the directory aside to start a new epoch")
		}
	}
	if raw, err := os.ReadFile(filepath.Join(o.dir, "CURSOR")); err == nil {
		var c cursorFile
		if err := json.Unmarshal(raw, &c); err != nil || c.Epoch != o.epoch {
			return errors.New("CURSOR is unreadable or of another epoch; the outbox is damaged: move the directory aside to start a new epoch")
		}
		o.cursor = c.Cursor
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	expect := uint64(0)
	for i, name := range names {
		first, _ := strconv.ParseUint(strings.TrimSuffix(name, ".seg"), 10, 64)
		path := filepath.Join(o.dir, name)
		if expect != 0 && first != expect {
			return fmt.Errorf("segment %s starts at seq %d where %d was expected; the outbox is damaged", name, first, expect)
		}
		recs, good, err := scanSegment(path, o.epoch, first)
		if err != nil {
			if !errors.Is(err, errTorn) || i != len(names)-1 {
				return fmt.Errorf("segment %s: %v; the outbox is damaged: move the directory aside to start a new epoch", name, err)
			}
			// Only the very end of the outbox can be torn by a crash; that event was never produced.
			st, _ := os.Stat(path)
			o.opts.Logger.Warn("outbox: dropping a torn record at the end of the last segment (an append interrupted by a crash)",
				"segment", name, "offset", good, "bytes_dropped", st.Size()-good, "detail", err.Error())
			if err := os.Truncate(path, good); err != nil {
				return err
			}
		}
		o.segments = append(o.segments, &segment{first: first, path: path, size: good, recs: recs})
		expect = first + uint64(len(recs))
	}
	if len(o.segments) > 0 && o.segments[0].first > o.cursor+1 {
		return fmt.Errorf("the events after the cursor (seq %d) are missing; the outbox is damaged: move the directory aside to start a new epoch", o.cursor)
	}
	o.next = max(expect, o.cursor+1, 1)
	for _, s := range o.segments {
		for i, r := range s.recs {
			if s.first+uint64(i) > o.cursor {
				o.pending += int64(r.size)
			}
		}
	}
	return o.openActive()
}

// segmentNames lists the segment files in seq order.
func (o *Outbox) segmentNames() ([]string, error) {
	entries, err := os.ReadDir(o.dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".seg") {
			continue
		}
		if _, err := strconv.ParseUint(strings.TrimSuffix(name, ".seg"), 10, 64); err != nil || len(name) != 24 {
			return nil, fmt.Errorf("unexpected file %s among the segments", name)
		}
		names = append(names, name)
	}
	sort.Strings(names) // fixed-width names sort in seq order
	return names, nil
}

func (o *Outbox) newEpoch() error {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	o.epoch = hex.EncodeToString(b[:])
	o.opts.Logger.Info("outbox: new epoch", "epoch", o.epoch)
	return atomicfile.Write(filepath.Join(o.dir, "EPOCH"), []byte(o.epoch+"\n"))
}

// openActive opens the last segment for appending, or starts one.
func (o *Outbox) openActive() error {
	if n := len(o.segments); n > 0 && o.segments[n-1].size < o.opts.SegmentBytes {
		f, err := os.OpenFile(o.segments[n-1].path, os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		o.active = f
		return nil
	}
	return o.startSegment()
}

// Epoch returns the outbox's epoch.
func (o *Outbox) Epoch() string { return o.epoch }

// Appended is signalled (without blocking, coalesced) after each append, for the delivery loop.
func (o *Outbox) Appended() <-chan struct{} { return o.appended }

// Stats describes the outbox now.
func (o *Outbox) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	st := Stats{Epoch: o.epoch, Cursor: o.cursor, Last: o.next - 1, PendingBytes: o.pending, Segments: len(o.segments)}
	st.PendingEvents = int(st.Last - st.Cursor)
	if st.PendingEvents > 0 {
		if r, ok := o.recordLocked(o.cursor + 1); ok {
			st.OldestPending = time.UnixMilli(r.tsMillis)
		}
	}
	st.Full = st.PendingEvents >= o.opts.MaxPendingEvents || st.PendingBytes >= o.opts.MaxPendingBytes
	return st
}

func (o *Outbox) recordLocked(seq uint64) (recordInfo, bool) {
	for _, s := range o.segments {
		if len(s.recs) > 0 && seq >= s.first && seq <= s.last() {
			return s.recs[seq-s.first], true
		}
	}
	return recordInfo{}, false
}

// Close flushes and closes the outbox and releases its lock.
func (o *Outbox) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	var err error
	if o.active != nil {
		err = errors.Join(o.active.Sync(), o.active.Close())
	}
	return errors.Join(err, o.lock.release())
}

// validEpoch matches the contract's epoch syntax.
func validEpoch(s string) bool {
	if len(s) == 0 || len(s) > event.MaxEpochLength {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.:", c)) {
			return false
		}
	}
	return true
}
