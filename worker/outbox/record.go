package outbox

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"time"

	"github.com/spellcoven/gateway/event"
)

// A segment file is a sequence of records, each:
//
//	length  uint32, big endian: the size of the event's JSON
//	crc     uint32, big endian: CRC-32C of the event's JSON
//	event   the event's JSON (contract v1 envelope)
//
// A crash during an append can leave only the last record of the last segment incomplete: every
// append is written and fsync'd before it counts as produced. Opening the outbox checks each
// record's length and checksum and drops such a torn tail.
const recordHeaderSize = 8

// maxRecordSize bounds one record so that a corrupt length cannot make Open allocate gigabytes.
const maxRecordSize = 64 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendRecord appends the framed record of payload to buf.
func appendRecord(buf, payload []byte) []byte {
	var h [recordHeaderSize]byte
	binary.BigEndian.PutUint32(h[0:4], uint32(len(payload)))
	binary.BigEndian.PutUint32(h[4:8], crc32.Checksum(payload, castagnoli))
	return append(append(buf, h[:]...), payload...)
}

// recordInfo is what the outbox keeps in memory of each record.
type recordInfo struct {
	off      int64 // of the record's header in its segment
	size     int32 // of the event's JSON
	tsMillis int64
	snapshot bool
}

// recordEnd is the offset just past the record.
func (r recordInfo) end() int64 { return r.off + recordHeaderSize + int64(r.size) }

// envelope is the part of an event the outbox reads back when it opens a segment.
type envelope struct {
	Epoch string     `json:"epoch"`
	Seq   uint64     `json:"seq"`
	Type  event.Type `json:"type"`
	TS    time.Time  `json:"ts"`
}

// errTorn reports a record that is incomplete or fails its checksum.
var errTorn = errors.New("incomplete or corrupt record")

// scanSegment reads every record of the segment file at path, checking that they are events of
// epoch numbered from first without a gap. It returns the records read and the offset after the last
// good one; err is errTorn (wrapped, with the offset) when the file continues past that offset with
// something that is not a good record.
func scanSegment(path, epoch string, first uint64) (recs []recordInfo, good int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := st.Size()
	var h [recordHeaderSize]byte
	var payload []byte
	for good < size {
		if size-good < recordHeaderSize {
			return recs, good, fmt.Errorf("%w at offset %d: %d bytes of a header", errTorn, good, size-good)
		}
		if _, err := f.ReadAt(h[:], good); err != nil {
			return recs, good, err
		}
		n := int64(binary.BigEndian.Uint32(h[0:4]))
		if n == 0 || n > maxRecordSize || good+recordHeaderSize+n > size {
			return recs, good, fmt.Errorf("%w at offset %d: length %d does not fit the file", errTorn, good, n)
		}
		payload = append(payload[:0], make([]byte, n)...)
		if _, err := f.ReadAt(payload, good+recordHeaderSize); err != nil && !errors.Is(err, io.EOF) {
			return recs, good, err
		}
		if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(h[4:8]) {
			return recs, good, fmt.Errorf("%w at offset %d: checksum mismatch", errTorn, good)
		}
		var env envelope
		if err := json.Unmarshal(payload, &env); err != nil {
			return recs, good, fmt.Errorf("%w at offset %d: %v", errTorn, good, err)
		}
		want := first + uint64(len(recs))
		if env.Epoch != epoch || env.Seq != want {
			return recs, good, fmt.Errorf("%w at offset %d: event %s/%d where %s/%d was expected", errTorn, good, env.Epoch, env.Seq, epoch, want)
		}
		recs = append(recs, recordInfo{off: good, size: int32(n), tsMillis: env.TS.UnixMilli(), snapshot: env.Type == event.Snapshot})
		good += recordHeaderSize + n
	}
	return recs, good, nil
}
