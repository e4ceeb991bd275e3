package discordtest

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// benchClient is a gateway client that identifies, then reads and counts dispatches.
type benchClient struct {
	ws       *websocket.Conn
	received atomic.Int64
	done     chan struct{}
}

func newBenchClient(b *testing.B, s *Server, query string) *benchClient {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, s.GatewayURL()+"?"+query, nil)
	if err != nil {
		b.Fatal(err)
	}
	ws.SetReadLimit(1 << 20)
	identify, _ := json.Marshal(map[string]any{"op": opIdentify, "d": identifyPayload(testToken, IntentGuilds)})
	if err := ws.Write(ctx, websocket.MessageText, identify); err != nil {
		b.Fatal(err)
	}
	c := &benchClient{ws: ws, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				return
			}
			c.received.Add(1)
		}
	}()
	return c
}

// BenchmarkDispatchFanout measures one dispatch delivered to every connected session over real
// loopback WebSockets: encoded once, enveloped and buffered per session, written by each
// connection's writer. ns/op is per event; ns/delivery per event and session.
func BenchmarkDispatchFanout(b *testing.B) {
	for _, mode := range []struct{ name, query string }{{"plain", v10}, {"zlib-stream", v10 + "&compress=zlib-stream"}} {
		for _, n := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("%s/sessions=%d", mode.name, n), func(b *testing.B) {
				cfg := testConfig()
				cfg.Gateway.HeartbeatTimeout = time.Hour
				cfg.Gateway.ReplayBufferSize = 256
				s, err := New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Start("127.0.0.1:0"); err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				clients := make([]*benchClient, n)
				for i := range clients {
					clients[i] = newBenchClient(b, s, mode.query)
				}
				// Hello, READY and GUILD_CREATE come first.
				waitClients(b, clients, 3)
				channel := wireChannel(&s.State().Guilds[0].Channels[0])

				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					s.mu.Lock()
					s.dispatchLocked([]event{{name: "CHANNEL_UPDATE", intent: IntentGuilds, data: channel}})
					s.mu.Unlock()
					// Stay within the connections' queues: let the clients catch up now and then.
					if i%256 == 255 {
						waitClients(b, clients, int64(3+i+1-512))
					}
				}
				waitClients(b, clients, int64(3+b.N))
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
				for _, c := range clients {
					_ = c.ws.CloseNow()
					<-c.done
				}
			})
		}
	}
}

func waitClients(b *testing.B, clients []*benchClient, atLeast int64) {
	deadline := time.Now().Add(30 * time.Second)
	for _, c := range clients {
		for c.received.Load() < atLeast {
			if time.Now().After(deadline) {
				b.Fatalf("client received %d payloads, want %d", c.received.Load(), atLeast)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// BenchmarkRESTChannelCreateDelete measures a channel's creation and deletion over real HTTP,
// validation, the world update and the two dispatches to one connected session included.
func BenchmarkRESTChannelCreateDelete(b *testing.B) {
	cfg := testConfig()
	cfg.Gateway.HeartbeatTimeout = time.Hour
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	client := newBenchClient(b, s, v10)
	defer func() {
		_ = client.ws.CloseNow()
		<-client.done
	}()
	guild := s.Guilds()[0]
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		resp, body := apiCall{method: "POST", path: "/api/v10/guilds/" + guild.ID + "/channels", auth: botAuth,
			body: map[string]any{"name": "bench-" + strconv.Itoa(i), "type": 2, "parent_id": guild.RoomsCategoryID}}.do(b, s)
		if resp.StatusCode != 201 {
			b.Fatalf("create: %d %s", resp.StatusCode, body)
		}
		var ch struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(body, &ch)
		if resp, _ := (apiCall{method: "DELETE", path: "/api/v10/channels/" + ch.ID, auth: botAuth}).do(b, s); resp.StatusCode != 200 {
			b.Fatalf("delete: %d", resp.StatusCode)
		}
	}
}
