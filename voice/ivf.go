package voice

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// IVFHeader is the 32-byte header of an IVF file, the simple container of VP8 test streams.
type IVFHeader struct {
	// FourCC is the codec, "VP80" for VP8.
	FourCC string
	Width  uint16
	Height uint16
	// TimebaseDenominator / TimebaseNumerator is the unit of frame timestamps in seconds
	// (e.g. 30/1: timestamps count frames at 30 fps).
	TimebaseDenominator uint32
	TimebaseNumerator   uint32
	// Frames is the frame count the header announces (writers may leave it zero).
	Frames uint32
}

const (
	ivfHeaderSize      = 32
	ivfFrameHeaderSize = 12
)

// maxIVFFrameSize bounds a frame read from a file, so a corrupt length cannot exhaust memory.
const maxIVFFrameSize = 16 << 20

// IVFReader reads frames from an IVF file.
type IVFReader struct {
	r      io.Reader
	Header IVFHeader
	buf    [ivfFrameHeaderSize]byte
}

// NewIVFReader reads and checks an IVF file header.
func NewIVFReader(r io.Reader) (*IVFReader, error) {
	var h [ivfHeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, fmt.Errorf("voice: ivf header: %w", err)
	}
	if string(h[:4]) != "DKIF" {
		return nil, errors.New("voice: ivf: not an IVF file (no DKIF signature)")
	}
	if hl := binary.LittleEndian.Uint16(h[6:]); hl != ivfHeaderSize {
		return nil, fmt.Errorf("voice: ivf: header length %d, want 32", hl)
	}
	hdr := IVFHeader{
		FourCC:              string(h[8:12]),
		Width:               binary.LittleEndian.Uint16(h[12:]),
		Height:              binary.LittleEndian.Uint16(h[14:]),
		TimebaseDenominator: binary.LittleEndian.Uint32(h[16:]),
		TimebaseNumerator:   binary.LittleEndian.Uint32(h[20:]),
		Frames:              binary.LittleEndian.Uint32(h[24:]),
	}
	if hdr.TimebaseDenominator == 0 || hdr.TimebaseNumerator == 0 {
		return nil, errors.New("voice: ivf: zero time base")
	}
	return &IVFReader{r: r, Header: hdr}, nil
}

// NextFrame returns the next frame and its timestamp in time-base units; io.EOF at the end.
func (r *IVFReader) NextFrame() (frame []byte, timestamp uint64, err error) {
	if _, err := io.ReadFull(r.r, r.buf[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, 0, io.EOF
		}
		return nil, 0, fmt.Errorf("voice: ivf frame header: %w", err)
	}
	size := binary.LittleEndian.Uint32(r.buf[:])
	if size > maxIVFFrameSize {
		return nil, 0, fmt.Errorf("voice: ivf: %d-byte frame is larger than %d", size, maxIVFFrameSize)
	}
	frame = make([]byte, size)
	if _, err := io.ReadFull(r.r, frame); err != nil {
		return nil, 0, fmt.Errorf("voice: ivf frame: %w", err)
	}
	return frame, binary.LittleEndian.Uint64(r.buf[4:]), nil
}

// IVFWriter writes frames into an IVF file. The Recorder writes one per user.
type IVFWriter struct {
	w      io.Writer
	header IVFHeader
	// Frames counts the frames written.
	Frames int
}

// NewIVFWriter writes the file header. With a Frames of zero, Close rewrites the count when w
// is an io.WriteSeeker.
func NewIVFWriter(w io.Writer, h IVFHeader) (*IVFWriter, error) {
	if len(h.FourCC) != 4 {
		return nil, fmt.Errorf("voice: ivf writer: fourcc %q is not 4 bytes", h.FourCC)
	}
	if h.TimebaseDenominator == 0 || h.TimebaseNumerator == 0 {
		return nil, errors.New("voice: ivf writer: zero time base")
	}
	iw := &IVFWriter{w: w, header: h}
	if _, err := w.Write(iw.headerBytes()); err != nil {
		return nil, err
	}
	return iw, nil
}

func (w *IVFWriter) headerBytes() []byte {
	b := make([]byte, ivfHeaderSize)
	copy(b, "DKIF")
	binary.LittleEndian.PutUint16(b[6:], ivfHeaderSize)
	copy(b[8:], w.header.FourCC)
	binary.LittleEndian.PutUint16(b[12:], w.header.Width)
	binary.LittleEndian.PutUint16(b[14:], w.header.Height)
	binary.LittleEndian.PutUint32(b[16:], w.header.TimebaseDenominator)
	binary.LittleEndian.PutUint32(b[20:], w.header.TimebaseNumerator)
	binary.LittleEndian.PutUint32(b[24:], w.header.Frames)
	return b
}

// WriteFrame appends a frame with its timestamp in time-base units.
func (w *IVFWriter) WriteFrame(frame []byte, timestamp uint64) error {
	var fh [ivfFrameHeaderSize]byte
	binary.LittleEndian.PutUint32(fh[:], uint32(len(frame)))
	binary.LittleEndian.PutUint64(fh[4:], timestamp)
	if _, err := w.w.Write(fh[:]); err != nil {
		return err
	}
	if _, err := w.w.Write(frame); err != nil {
		return err
	}
	w.Frames++
	return nil
}

// Close records the frame count in the header when the writer can seek. It does not close the
// underlying writer.
func (w *IVFWriter) Close() error {
	ws, ok := w.w.(io.WriteSeeker)
	if !ok || w.header.Frames != 0 {
		return nil
	}
	w.header.Frames = uint32(w.Frames)
	end, err := ws.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if _, err := ws.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if _, err := ws.Write(w.headerBytes()); err != nil {
		return err
	}
	_, err = ws.Seek(end, io.SeekStart)
	return err
}

// ReadIVFFile returns the header and every frame of an IVF file, in order: for short clips, and for
// comparing what was sent or recorded with the file. Long files are better streamed with
// NewIVFReader.
func ReadIVFFile(path string) (IVFHeader, [][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return IVFHeader{}, nil, fmt.Errorf("voice: %w", err)
	}
	defer f.Close()
	r, err := NewIVFReader(f)
	if err != nil {
		return IVFHeader{}, nil, fmt.Errorf("%w (%s)", err, path)
	}
	var out [][]byte
	for {
		fr, _, err := r.NextFrame()
		if errors.Is(err, io.EOF) {
			return r.Header, out, nil
		}
		if err != nil {
			return IVFHeader{}, nil, fmt.Errorf("%w (%s)", err, path)
		}
		out = append(out, fr)
	}
}
