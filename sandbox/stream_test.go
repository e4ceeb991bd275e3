package sandbox

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/spellcoven/gateway/event"
)

// stream is a browser-like client of the edge's /ws over TLS.
type stream struct {
	t       *testing.T
	conn    *websocket.Conn
	pending []frame
}

// frame is one message of the stream: hello, an event or an error.
type frame struct {
	Type     string                 `json:"type"`
	Resumed  bool                   `json:"resumed"`
	Snapshot *event.SnapshotPayload `json:"snapshot"`
	Data     json.RawMessage        `json:"data"`
	Code     string                 `json:"code"`
	raw      string
}

// openStream connects with the page's origin and authenticates with token; it returns the hello.
func openStream(t *testing.T, s *Stack, token string) (*stream, frame) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(s.URL(), "https")+"/ws", &websocket.DialOptions{
		HTTPClient: s.Client(), HTTPHeader: http.Header{"Origin": {s.URL()}},
	})
	if err != nil {
		t.Fatalf("dial /ws: %v", err)
	}
	st := &stream{t: t, conn: c}
	t.Cleanup(func() { c.CloseNow() })
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"auth","token":"`+token+`"}`)); err != nil {
		t.Fatal(err)
	}
	hello := st.next(10 * time.Second)
	if hello.Type != "hello" {
		t.Fatalf("first frame %s, want hello", hello.raw)
	}
	return st, hello
}

// next returns the next frame, failing the test after d.
func (st *stream) next(d time.Duration) frame {
	st.t.Helper()
	f, err := st.read(d)
	if err != nil {
		st.t.Fatalf("reading the stream: %v", err)
	}
	return f
}

func (st *stream) read(d time.Duration) (frame, error) {
	if len(st.pending) == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		_, msg, err := st.conn.Read(ctx)
		if err != nil {
			return frame{}, err
		}
		// One message may hold several frames, one per line.
		for _, line := range strings.Split(string(msg), "\n") {
			var f frame
			if err := json.Unmarshal([]byte(line), &f); err != nil {
				return frame{}, err
			}
			f.raw = line
			st.pending = append(st.pending, f)
		}
	}
	f := st.pending[0]
	st.pending = st.pending[1:]
	return f, nil
}

// until returns the first frame of type typ whose raw text holds contains, within d.
func (st *stream) until(typ, contains string, d time.Duration) frame {
	st.t.Helper()
	deadline := time.Now().Add(d)
	for {
		f, err := st.read(time.Until(deadline))
		if err != nil {
			st.t.Fatalf("no %s frame holding %q within %v: %v", typ, contains, d, err)
		}
		if f.Type == typ && strings.Contains(f.raw, contains) {
			return f
		}
	}
}
