package discordtest

import (
	"bytes"
	"compress/zlib"

	"github.com/coder/websocket"
)

// frameEncoder turns payloads into WebSocket messages, compressing them the way the connection
// asked: not at all (text frames), per message (identify's compress:true: each compressed payload
// is a whole zlib stream in a binary frame), or zlib-stream (one zlib context for the whole
// connection, each payload flushed with Z_SYNC_FLUSH so it ends with 00 00 FF FF).
type frameEncoder struct {
	stream *zlib.Writer
	buf    bytes.Buffer
}

func newFrameEncoder(zlibStream bool) *frameEncoder {
	e := &frameEncoder{}
	if zlibStream {
		e.stream = zlib.NewWriter(&e.buf)
	}
	return e
}

// encode returns the message for one payload, valid until the next call. perMessage asks for a whole zlib stream; it is
// ignored under zlib-stream, as transport compression and payload compression exclude each other.
func (e *frameEncoder) encode(payload []byte, perMessage bool) (websocket.MessageType, []byte, error) {
	switch {
	case e.stream != nil:
		e.buf.Reset()
		if _, err := e.stream.Write(payload); err != nil {
			return 0, nil, err
		}
		if err := e.stream.Flush(); err != nil {
			return 0, nil, err
		}
		return websocket.MessageBinary, e.buf.Bytes(), nil
	case perMessage:
		e.buf.Reset()
		w := zlib.NewWriter(&e.buf)
		if _, err := w.Write(payload); err != nil {
			return 0, nil, err
		}
		if err := w.Close(); err != nil {
			return 0, nil, err
		}
		return websocket.MessageBinary, e.buf.Bytes(), nil
	default:
		return websocket.MessageText, payload, nil
	}
}
