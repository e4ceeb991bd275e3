package voice

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/pion/opus/pkg/oggreader"
)

// OggOpusReader reads Opus packets from an Ogg Opus file (RFC 7845), for Conn.PlayOpus. It
// wraps pion/opus's Ogg reader, which checks page checksums and reassembles packets that span
// pages.
type OggOpusReader struct {
	ogg *oggreader.OggReader
	// Channels and PreSkip come from the file's ID header.
	Channels uint8
	PreSkip  uint16
}

// NewOggOpusReader reads the ID header of an Ogg Opus stream.
func NewOggOpusReader(r io.Reader) (*OggOpusReader, error) {
	ogg, head, err := oggreader.NewWith(r)
	if err != nil {
		return nil, fmt.Errorf("voice: ogg opus: %w", err)
	}
	if head.Channels == 0 || head.Channels > 2 || head.ChannelMap != 0 {
		return nil, fmt.Errorf("voice: ogg opus: %d channels with mapping family %d; Discord takes mono or stereo (family 0)", head.Channels, head.ChannelMap)
	}
	return &OggOpusReader{ogg: ogg, Channels: head.Channels, PreSkip: head.PreSkip}, nil
}

// NextOpus returns the next Opus packet; io.EOF at the end of the stream. The comment header
// (OpusTags) is skipped.
func (r *OggOpusReader) NextOpus() ([]byte, error) {
	for {
		packet, _, err := r.ogg.ParseNextPacket()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("voice: ogg opus: %w", err)
		}
		if bytes.HasPrefix(packet, []byte("OpusTags")) || len(packet) == 0 {
			continue
		}
		return packet, nil
	}
}

// ReadOggOpusFile returns every Opus packet of an Ogg Opus file, in order: for short sounds, and
// for comparing what was sent with the file. Long files are better streamed with
// NewOggOpusReader and Conn.PlayOpus.
func ReadOggOpusFile(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("voice: %w", err)
	}
	defer f.Close()
	r, err := NewOggOpusReader(f)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	var out [][]byte
	for {
		p, err := r.NextOpus()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w (%s)", err, path)
		}
		out = append(out, p)
	}
}

// oggCRCTable is Ogg's CRC-32: polynomial 0x04C11DB7, not reflected, initial value 0 (unlike
// hash/crc32's IEEE table, which is reflected).
var oggCRCTable = func() *[256]uint32 {
	var t [256]uint32
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04C11DB7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return &t
}()

func oggCRC(crc uint32, b []byte) uint32 {
	for _, v := range b {
		crc = crc<<8 ^ oggCRCTable[byte(crc>>24)^v]
	}
	return crc
}

// OggOpusWriter writes Opus packets into an Ogg Opus file, one page per packet, with granule
// positions counted from each packet's duration. The Recorder writes one per user.
type OggOpusWriter struct {
	w        io.Writer
	serial   uint32
	seq      uint32
	granule  uint64
	preSkip  uint16
	pending  []byte // the last packet, held back so that Close can mark its page end-of-stream
	havePend bool
	page     []byte
	closed   bool
	// Packets counts the audio packets written.
	Packets int
}

// NewOggOpusWriter writes the ID and comment headers of a stream with the given channel count
// (1 or 2) and serial number.
func NewOggOpusWriter(w io.Writer, channels uint8, serial uint32) (*OggOpusWriter, error) {
	if channels != 1 && channels != 2 {
		return nil, fmt.Errorf("voice: ogg opus writer: %d channels, want 1 or 2", channels)
	}
	o := &OggOpusWriter{w: w, serial: serial, preSkip: 0}
	head := make([]byte, 19)
	copy(head, "OpusHead")
	head[8] = 1
	head[9] = channels
	binary.LittleEndian.PutUint16(head[10:], o.preSkip)
	binary.LittleEndian.PutUint32(head[12:], OpusClockRate)
	if err := o.writePage(head, 0, 0x02); err != nil {
		return nil, err
	}
	vendor := "spellcoven voice"
	tags := make([]byte, 0, 8+4+len(vendor)+4)
	tags = append(tags, "OpusTags"...)
	tags = binary.LittleEndian.AppendUint32(tags, uint32(len(vendor)))
	tags = append(tags, vendor...)
	tags = binary.LittleEndian.AppendUint32(tags, 0)
	if err := o.writePage(tags, 0, 0); err != nil {
		return nil, err
	}
	o.granule = uint64(o.preSkip)
	return o, nil
}

// WritePacket appends one Opus packet. Its duration (from its TOC byte) advances the granule
// position; an invalid packet is refused and nothing is written.
func (o *OggOpusWriter) WritePacket(packet []byte) error {
	if o.closed {
		return errors.New("voice: ogg opus writer: closed")
	}
	if len(packet) > 255*255 {
		return fmt.Errorf("voice: ogg opus writer: %d-byte packet does not fit a page", len(packet))
	}
	samples, err := OpusPacketSamples(packet)
	if err != nil {
		return err
	}
	if o.havePend {
		if err := o.writePage(o.pending, o.granule, 0); err != nil {
			return err
		}
	}
	o.pending = append(o.pending[:0], packet...)
	o.havePend = true
	o.granule += uint64(samples)
	o.Packets++
	return nil
}

// Close writes the last page, marked end-of-stream. It does not close the underlying writer.
func (o *OggOpusWriter) Close() error {
	if o.closed {
		return nil
	}
	o.closed = true
	if !o.havePend {
		return o.writePage(nil, o.granule, 0x04)
	}
	return o.writePage(o.pending, o.granule, 0x04)
}

// writePage writes one page holding one packet (or none).
func (o *OggOpusWriter) writePage(packet []byte, granule uint64, flags byte) error {
	segments := len(packet)/255 + 1
	if packet == nil {
		segments = 0
	}
	p := o.page[:0]
	p = append(p, "OggS"...)
	p = append(p, 0, flags)
	p = binary.LittleEndian.AppendUint64(p, granule)
	p = binary.LittleEndian.AppendUint32(p, o.serial)
	p = binary.LittleEndian.AppendUint32(p, o.seq)
	p = append(p, 0, 0, 0, 0, byte(segments))
	for i := 0; i < segments-1; i++ {
		p = append(p, 255)
	}
	if segments > 0 {
		p = append(p, byte(len(packet)%255))
	}
	p = append(p, packet...)
	binary.LittleEndian.PutUint32(p[22:], oggCRC(0, p))
	o.page = p
	o.seq++
	_, err := o.w.Write(p)
	return err
}
