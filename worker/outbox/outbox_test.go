package outbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spellcoven/gateway/event"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const guild = "1100000000000000001"

func open(t *testing.T, dir string, mutate func(*Options)) *Outbox {
	t.Helper()
	opts := Options{GuildID: guild}
	if mutate != nil {
		mutate(&opts)
	}
	o, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func leftItem(i int) Item {
	return Item{Type: event.VoiceLeft, Payload: event.VoiceLeftPayload{RoomID: "1200000000000000001", UserID: fmt.Sprintf("13%017d", i)}}
}

func appendN(t *testing.T, o *Outbox, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		evs, err := o.Append(time.Now(), leftItem(i))
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		if evs[0].Epoch != o.Epoch() {
			t.Fatalf("event epoch %q, outbox %q", evs[0].Epoch, o.Epoch())
		}
	}
}

func seqs(recs []Record) []uint64 {
	var out []uint64
	for _, r := range recs {
		out = append(out, r.Seq)
	}
	return out
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	sort.Strings(m)
	return m
}

func TestAppendReadAckCompact(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, func(o *Options) { o.SegmentBytes = 1024 })
	appendN(t, o, 1, 40)
	st := o.Stats()
	if st.Last != 40 || st.Cursor != 0 || st.PendingEvents != 40 || st.Segments < 3 || st.OldestPending.IsZero() {
		t.Fatalf("stats after 40 appends: %+v", st)
	}
	if n := len(segmentFiles(t, dir)); n != st.Segments {
		t.Fatalf("%d segment files, stats say %d", n, st.Segments)
	}

	cases := []struct {
		name     string
		from     uint64
		max      int
		maxBytes int64
		want     string
	}{
		{"by count", 1, 5, 1 << 20, "[1 2 3 4 5]"},
		{"across segments", 5, 30, 1 << 20, fmt.Sprint(seqRange(5, 34))},
		{"by bytes, at least one", 7, 10, 1, "[7]"},
		{"from the last", 40, 10, 1 << 20, "[40]"},
		{"past the end", 41, 10, 1 << 20, "[]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			recs, err := o.Read(c.from, c.max, c.maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(seqs(recs)); got != c.want && !(c.want == "[]" && len(recs) == 0) {
				t.Fatalf("Read(%d) = %s, want %s", c.from, got, c.want)
			}
			for _, r := range recs {
				e, err := event.Decode(r.JSON)
				if err != nil || e.Seq != r.Seq || e.Type != r.Type || e.Type != event.VoiceLeft {
					t.Fatalf("record %d decodes to %+v, %v", r.Seq, e, err)
				}
			}
		})
	}

	covered, err := o.Ack(30)
	if err != nil || covered != 30 {
		t.Fatalf("Ack(30) = %d, %v", covered, err)
	}
	if covered, _ := o.Ack(10); covered != 0 {
		t.Fatalf("Ack backwards covered %d", covered)
	}
	st = o.Stats()
	if st.Cursor != 30 || st.PendingEvents != 10 {
		t.Fatalf("stats after ack: %+v", st)
	}
	files := segmentFiles(t, dir)
	if len(files) != st.Segments || len(files) > 3 {
		t.Fatalf("segments after compaction: %v (stats %d)", files, st.Segments)
	}
	if _, err := o.Read(1, 1, 1<<20); err == nil {
		t.Fatal("reading a compacted event succeeded")
	}
	if recs, err := o.Read(31, 100, 1<<20); err != nil || len(recs) != 10 {
		t.Fatalf("pending after compaction: %d records, %v", len(recs), err)
	}
	// Acking past the end stops at the last event.
	if covered, _ := o.Ack(1000); covered != 10 || o.Stats().Cursor != 40 || o.Stats().PendingBytes != 0 {
		t.Fatalf("Ack past the end covered %d, stats %+v", covered, o.Stats())
	}
}

func seqRange(from, to uint64) []uint64 {
	var out []uint64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func TestReopenKeepsEpochSeqAndCursor(t *testing.T) {
	dir := t.TempDir()
	o, err := Open(dir, Options{GuildID: guild, SegmentBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, o, 1, 25)
	if _, err := o.Ack(12); err != nil {
		t.Fatal(err)
	}
	epoch := o.Epoch()
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}

	o = open(t, dir, func(o *Options) { o.SegmentBytes = 2048 })
	if o.Epoch() != epoch {
		t.Fatalf("epoch changed on reopen: %s -> %s", epoch, o.Epoch())
	}
	st := o.Stats()
	if st.Cursor != 12 || st.Last != 25 || st.PendingEvents != 13 {
		t.Fatalf("stats after reopen: %+v", st)
	}
	evs, err := o.Append(time.Now(), leftItem(26))
	if err != nil || evs[0].Seq != 26 {
		t.Fatalf("append after reopen: %+v %v", evs, err)
	}

	// A lost outbox (a new directory) starts a new epoch.
	fresh := open(t, t.TempDir(), nil)
	if fresh.Epoch() == epoch || !validEpoch(fresh.Epoch()) {
		t.Fatalf("new outbox epoch %q (old %q)", fresh.Epoch(), epoch)
	}
}

func TestReopenAfterFullCompaction(t *testing.T) {
	dir := t.TempDir()
	o, err := Open(dir, Options{GuildID: guild, SegmentBytes: 512})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, o, 1, 20)
	if _, err := o.Ack(20); err != nil {
		t.Fatal(err)
	}
	o.Close()
	o = open(t, dir, nil)
	if evs, err := o.Append(time.Now(), leftItem(21)); err != nil || evs[0].Seq != 21 {
		t.Fatalf("seq after a compacted reopen: %+v %v", evs, err)
	}
}

// TestTornTailIsDropped simulates crashes in the middle of an append: whatever the last record's
// state, reopening drops it, keeps everything before it, and hands its seq to the next event.
func TestTornTailIsDropped(t *testing.T) {
	cases := []struct {
		name     string
		damage   func(t *testing.T, path string)
		wantLast uint64
	}{
		{"payload cut short", func(t *testing.T, path string) { truncateBy(t, path, 7) }, 9},
		{"header cut short", func(t *testing.T, path string) {
			truncateBy(t, path, 0)
			appendBytes(t, path, []byte{0, 0, 1})
		}, 10},
		{"checksum mismatch", func(t *testing.T, path string) { flipLastByte(t, path) }, 9},
		{"length beyond the file", func(t *testing.T, path string) { appendBytes(t, path, []byte{0, 0, 9, 0, 1, 2, 3, 4, '{'}) }, 10},
		{"zero length", func(t *testing.T, path string) { appendBytes(t, path, make([]byte, 16)) }, 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			o, err := Open(dir, Options{GuildID: guild})
			if err != nil {
				t.Fatal(err)
			}
			appendN(t, o, 1, 10)
			epoch := o.Epoch()
			o.Close()
			files := segmentFiles(t, dir)
			c.damage(t, files[len(files)-1])

			var logs bytes.Buffer
			o = open(t, dir, func(op *Options) { op.Logger = slogTo(&logs) })
			if o.Epoch() != epoch {
				t.Fatal("epoch changed")
			}
			if st := o.Stats(); st.Last != c.wantLast {
				t.Fatalf("last seq %d after recovery, want %d", st.Last, c.wantLast)
			}
			if !strings.Contains(logs.String(), "torn record") {
				t.Fatalf("recovery not logged: %s", logs.String())
			}
			evs, err := o.Append(time.Now(), leftItem(99))
			if err != nil || evs[0].Seq != c.wantLast+1 {
				t.Fatalf("next append %+v %v", evs, err)
			}
			recs, err := o.Read(1, 100, 1<<20)
			if err != nil || len(recs) != int(c.wantLast)+1 {
				t.Fatalf("read back %d records, %v", len(recs), err)
			}
		})
	}
}

// TestDamagedOutboxIsRefused checks that damage a crash cannot cause is an error that names the
// problem and changes no file.
func TestDamagedOutboxIsRefused(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
		msg    string
	}{
		{"corrupt record in an older segment", func(t *testing.T, dir string) { flipLastByte(t, segmentFiles(t, dir)[0]) }, "checksum mismatch"},
		{"missing segment", func(t *testing.T, dir string) { os.Remove(segmentFiles(t, dir)[1]) }, "was expected"},
		{"missing epoch", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "EPOCH")) }, "EPOCH is missing"},
		{"invalid epoch", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "EPOCH"), []byte("not an epoch!"), 0o600)
		}, "EPOCH does not hold"},
		{"cursor of another epoch", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "CURSOR"), []byte(`{"epoch":"other","cursor":3}`), 0o600)
		}, "CURSOR"},
		{"stray file", func(t *testing.T, dir string) { os.WriteFile(filepath.Join(dir, "12.seg"), nil, 0o600) }, "unexpected file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			o, err := Open(dir, Options{GuildID: guild, SegmentBytes: 600})
			if err != nil {
				t.Fatal(err)
			}
			appendN(t, o, 1, 12)
			if len(segmentFiles(t, dir)) < 3 {
				t.Fatal("fixture needs three segments")
			}
			o.Close()
			c.damage(t, dir)
			before := dirContents(t, dir)
			_, err = Open(dir, Options{GuildID: guild})
			if err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("Open error %v, want one mentioning %q", err, c.msg)
			}
			if after := dirContents(t, dir); after != before {
				t.Fatalf("refused Open changed the directory:\n%s\n%s", before, after)
			}
		})
	}
}

func TestOneProcessAtATime(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, nil)
	if _, err := Open(dir, Options{GuildID: guild}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open: %v", err)
	}
	o.Close()
	open(t, dir, nil)
}

func TestFullByEventsAndBytes(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Options)
	}{
		{"events", func(o *Options) { o.MaxPendingEvents = 3 }},
		{"bytes", func(o *Options) { o.MaxPendingBytes = 500 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := open(t, t.TempDir(), c.mutate)
			appendN(t, o, 1, 2)
			if o.Stats().Full {
				t.Fatalf("full after 2 events: %+v", o.Stats())
			}
			appendN(t, o, 3, 1)
			if !o.Stats().Full {
				t.Fatalf("not full after 3 events: %+v", o.Stats())
			}
			o.Ack(2)
			if o.Stats().Full {
				t.Fatalf("still full after ack: %+v", o.Stats())
			}
		})
	}
}

func TestInvalidItemWritesNothing(t *testing.T) {
	o := open(t, t.TempDir(), nil)
	appendN(t, o, 1, 1)
	_, err := o.Append(time.Now(), leftItem(2), Item{Type: event.RoomCreated, Payload: event.RoomPayload{Room: event.Room{ID: "x"}}})
	if err == nil {
		t.Fatal("invalid item appended")
	}
	if st := o.Stats(); st.Last != 1 {
		t.Fatalf("last %d after a refused append", st.Last)
	}
	if evs, err := o.Append(time.Now(), leftItem(2)); err != nil || evs[0].Seq != 2 {
		t.Fatalf("append after refusal %+v %v", evs, err)
	}
}

func TestLatestSnapshot(t *testing.T) {
	o := open(t, t.TempDir(), nil)
	snap := Item{Type: event.Snapshot, Payload: event.SnapshotPayload{Rooms: []event.RoomState{}}}
	if _, ok := o.LatestSnapshot(); ok {
		t.Fatal("snapshot in an empty outbox")
	}
	appendN(t, o, 1, 2)
	o.Append(time.Now(), snap) // 3
	appendN(t, o, 4, 2)
	o.Append(time.Now(), snap) // 6
	appendN(t, o, 7, 1)
	if seq, ok := o.LatestSnapshot(); !ok || seq != 6 {
		t.Fatalf("LatestSnapshot = %d %v", seq, ok)
	}
	o.Ack(6)
	if _, ok := o.LatestSnapshot(); ok {
		t.Fatal("a snapshot behind the cursor counts")
	}
	recs, _ := o.Read(3, 1, 1<<20)
	if recs[0].Type != event.Snapshot {
		t.Fatalf("record type %s", recs[0].Type)
	}
}

func TestClosedOutbox(t *testing.T) {
	o := open(t, t.TempDir(), nil)
	o.Close()
	if _, err := o.Append(time.Now(), leftItem(1)); err == nil {
		t.Fatal("append after close")
	}
	if _, err := o.Ack(1); err == nil {
		t.Fatal("ack after close")
	}
}

func TestRecordsAreCanonicalEvents(t *testing.T) {
	o := open(t, t.TempDir(), nil)
	ts := time.Date(2026, 1, 2, 3, 4, 5, 678_900_000, time.UTC)
	evs, err := o.Append(ts, leftItem(1))
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := o.Read(1, 1, 1<<20)
	want, _ := json.Marshal(evs[0])
	if !bytes.Equal(recs[0].JSON, want) || !strings.Contains(string(want), `"ts":"2026-01-02T03:04:05.678Z"`) {
		t.Fatalf("record %s, want %s", recs[0].JSON, want)
	}
}
