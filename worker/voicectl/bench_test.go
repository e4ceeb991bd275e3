package voicectl

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/spellcoven/gateway/voice"
	"github.com/spellcoven/gateway/webhook"
	"github.com/spellcoven/gateway/worker/control"
)

// BenchmarkMediaRouter measures what the controller adds to each received Opus packet (20 ms
// of one member's audio): counting only, and counting plus writing the member's Ogg file.
func BenchmarkMediaRouter(b *testing.B) {
	packet := make([]byte, 120) // a 20 ms Opus frame at about 48 kbit/s
	packet[0] = 0xFC
	for _, recording := range []bool{false, true} {
		name := "counting"
		if recording {
			name = "recording"
		}
		b.Run(name, func(b *testing.B) {
			r := newMediaRouter(1 << 40)
			if recording {
				rec, err := voice.NewRecorder(voice.RecorderConfig{Dir: b.TempDir(), MemoryLimit: -1})
				if err != nil {
					b.Fatal(err)
				}
				defer rec.Close()
				r.startRecording(&activeRecording{recorder: rec, members: map[string]*memberCounts{}})
			}
			f := &voice.AudioFrame{UserID: testUser1, SSRC: 1000, Opus: packet}
			b.ReportAllocs()
			b.SetBytes(int64(len(packet)))
			for b.Loop() {
				f.Sequence++
				f.Timestamp += 960
				r.HandleAudio(f)
			}
		})
	}
}

// BenchmarkControlStatus measures one signed GET /voice: reading, verifying the signature,
// checking the request id, answering the status.
func BenchmarkControlStatus(b *testing.B) {
	f := &fakeDiscord{}
	ctl, err := New(Config{GuildID: testGuild, Gateway: f, Rooms: f})
	if err != nil {
		b.Fatal(err)
	}
	defer ctl.Close()
	v, _ := webhook.NewVerifier(webhook.VerifierConfig{Scheme: webhook.SchemeCoven, Secrets: []string{testSecret}})
	h, err := NewHandler(ctl, HandlerConfig{Verifier: v, MaxRecentRequests: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	signer, _ := webhook.NewSigner(webhook.SchemeCoven, testSecret)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		req := httptest.NewRequest(http.MethodGet, "/voice", nil)
		if err := control.SignRequest(req, nil, signer, time.Now()); err != nil {
			b.Fatal(err)
		}
		rec := httptest.NewRecorder()
		b.StartTimer()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("answer %d: %s", rec.Code, rec.Body)
		}
	}
}
