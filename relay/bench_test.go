package relay

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/spellcoven/gateway/relay/relaytest"
)

// The relay's fan-out, measured with the viewers in another process, so that the relay's own
// CPU is what this process spends:
//
//	go test -run '^$' -bench Fanout -benchtime 1x ./relay
//
// It runs twice: with the relay's NACK responder as it is, and copying every packet as pion
// does by default (nack.go).
// Four members send a camera (VP8, 30 frames/s of 2,100 bytes: ~500 kbit/s, two packets a frame)
// and a voice (Opus, 50 packets/s), each on its own clock; 100 viewers watch all four (400 sessions). Each sent frame's
// first bytes and each voice packet carry the send time, so the viewers measure the delay from
// WriteVideo/WriteAudio to their receipt; they count what they missed by sequence number.

const (
	benchMembers   = 4
	benchFPS       = 30
	benchFrameSize = 2100
	benchSeconds   = 10
)

func BenchmarkFanout(b *testing.B) {
	viewers := 100
	if v, err := strconv.Atoi(os.Getenv("RELAY_BENCH_VIEWERS")); err == nil && v > 0 {
		viewers = v
	}
	// The NACK responder keeping packets as written (the relay's way, nack.go) and copying
	// them (pion's default), in one run so that the shared machine's load is alike.
	for _, c := range []struct {
		name string
		copy bool
	}{{"nack-kept", false}, {"nack-copied", true}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				runFanout(b, viewers, c.copy)
			}
		})
	}
}

// fanoutReport is what the viewers' process prints when done.
type fanoutReport struct {
	Sessions       int
	Packets        int64   // received
	Lost           int64   // missing by sequence number
	P50, P99, Max  float64 // delay, ms
	VideoFrames    int64
	AudioPackets   int64
	SessionsFailed int
}

func runFanout(b *testing.B, viewers int, copyNACKPackets bool) {
	var (
		fmu      sync.Mutex
		forwards []float64 // ms, measured window only
		measure  bool
		written  int64 // packets per viewer, measured window
	)
	onForward := func(took time.Duration, packets int) {
		fmu.Lock()
		if measure {
			forwards = append(forwards, float64(took.Microseconds())/1000)
			written += int64(packets)
		}
		fmu.Unlock()
	}
	r, err := New(Config{ListenIP: "127.0.0.1", TCPPort: -1, MaxSessions: viewers * benchMembers, MaxSessionsPerViewer: benchMembers,
		OnForward: onForward, copyNACKPackets: copyNACKPackets})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	// A bare signalling endpoint for the viewers' process: POST /{member}/{viewer} with the offer.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var member, viewer string
		fmt.Sscanf(req.URL.Path, "/%s", &member)
		member, viewer, _ = cut(member, '/')
		offer, _ := io.ReadAll(req.Body)
		_, answer, err := r.Watch(req.Context(), "room", member, viewer, string(offer))
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		w.WriteHeader(201)
		io.WriteString(w, answer)
	})}
	go srv.Serve(ln)
	defer srv.Close()

	// The viewers stand for browsers on other machines: they run at a lower priority (nice 19,
	// RELAY_BENCH_VIEWERS_NICE=0 for the same as the relay), so that the relay's forwarding delay
	// is the relay's own and not the wait for a core the viewers' decryption holds.
	args := []string{os.Args[0], "-test.run", "^TestFanoutViewers$", "-test.v"}
	niceness := 19
	if v, err := strconv.Atoi(os.Getenv("RELAY_BENCH_VIEWERS_NICE")); err == nil {
		niceness = v
	}
	if niceness != 0 {
		nice, err := exec.LookPath("nice")
		if err != nil {
			b.Fatalf("the viewers run under nice(1), which is missing (RELAY_BENCH_VIEWERS_NICE=0 runs them without): %v", err)
		}
		args = append([]string{nice, "-n", strconv.Itoa(niceness)}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "RELAY_FANOUT_URL=http://"+ln.Addr().String(), "RELAY_FANOUT_VIEWERS="+strconv.Itoa(viewers))
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(out)
	waitLine := func(prefix string) string {
		for lines.Scan() {
			if l := lines.Text(); len(l) >= len(prefix) && l[:len(prefix)] == prefix {
				return l[len(prefix):]
			}
		}
		b.Fatalf("the viewers' process ended before %q: %v", prefix, lines.Err())
		return ""
	}
	// The viewers connect while the members send (a connection needs media to be counted up).
	stop := make(chan struct{})
	var sent sync.WaitGroup
	rm := r.Room("room")
	sent.Go(func() { sendMembers(rm, stop) })
	waitLine("CONNECTED ")
	close(stop)
	sent.Wait()

	// Measured: benchSeconds of media to every viewer.
	b.ResetTimer()
	fmu.Lock()
	measure = true
	fmu.Unlock()
	var msBefore, msAfter runtime.MemStats
	runtime.ReadMemStats(&msBefore)
	before := cpuTime()
	start := time.Now()
	stop = make(chan struct{})
	sent.Go(func() { sendMembers(rm, stop) })
	time.Sleep(benchSeconds * time.Second)
	close(stop)
	sent.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - before
	runtime.ReadMemStats(&msAfter)
	if hp := os.Getenv("RELAY_BENCH_HEAP_PROFILE"); hp != "" {
		f, err := os.Create(hp)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	fmu.Lock()
	measure = false
	fmu.Unlock()
	b.StopTimer()
	slices.Sort(forwards)
	fp := func(p float64) float64 { return forwards[min(len(forwards)-1, int(p*float64(len(forwards))))] }
	fmt.Fprintln(stdin)
	var rep fanoutReport
	if err := json.Unmarshal([]byte(waitLine("REPORT ")), &rep); err != nil {
		b.Fatal(err)
	}
	// Every viewer watches every member: what was written once went to each viewer.
	outPackets := float64(written) * float64(viewers)
	b.ReportMetric(fp(0.99), "relay-p99-ms")
	b.ReportMetric(rep.P99, "e2e-p99-ms")
	b.ReportMetric(float64(rep.Lost), "lost")
	b.ReportMetric(cpu.Seconds()/elapsed.Seconds(), "relay-cores")
	b.ReportMetric(float64(cpu.Microseconds())/outPackets, "relay-µs/packet/viewer")
	b.Logf("viewers at nice %d; %d viewers x %d members (%d sessions, %d failed): relay forward (received to written to every viewer) p50 %.2f p99 %.2f max %.2f ms; "+
		"to the viewers' process p50 %.2f p99 %.2f max %.2f ms; %d packets written per viewer, %d received in all of %.0f sent, %d lost by sequence; "+
		"relay CPU %.2f cores, %.2f µs per packet per viewer",
		niceness, viewers, benchMembers, viewers*benchMembers, rep.SessionsFailed, fp(0.5), fp(0.99), forwards[len(forwards)-1],
		rep.P50, rep.P99, rep.Max, written, rep.Packets, outPackets, rep.Lost,
		cpu.Seconds()/elapsed.Seconds(), float64(cpu.Microseconds())/outPackets)
	b.Logf("relay's garbage collection in the window: %d cycles, heap %d MiB live after the last, %.1f%% of the CPU",
		msAfter.NumGC-msBefore.NumGC, msAfter.HeapAlloc>>20, 100*msAfter.GCCPUFraction)
	_ = cmd.Wait()
}

func cut(s string, sep byte) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// sendMembers sends every member's camera and voice, stamped with the send time, until stop.
// Each member sends on its own clock, as members of a call do (each camera and microphone runs on
// its own device): their frames are spread over the frame interval rather than all sent at the
// same instant, and so are their voice packets.
func sendMembers(rm *Room, stop chan struct{}) {
	var wg sync.WaitGroup
	for m := range benchMembers {
		wg.Go(func() { sendMember(rm, strconv.Itoa(m+1), m, stop) })
	}
	wg.Wait()
}

// sendMember sends the camera and voice of member, the i-th of benchMembers, until stop.
func sendMember(rm *Room, member string, i int, stop chan struct{}) {
	frame := make([]byte, benchFrameSize)
	frame[0] = 0x10
	opus := make([]byte, 80)
	opus[0] = 0xfc
	frameEvery, voiceEvery := time.Second/benchFPS, 20*time.Millisecond
	// The i-th member's phase: i/benchMembers of each interval.
	t := time.NewTimer(frameEvery * time.Duration(i) / benchMembers)
	select {
	case <-stop:
		t.Stop()
		return
	case <-t.C:
	}
	video := time.NewTicker(frameEvery)
	defer video.Stop()
	t.Reset(voiceEvery * time.Duration(i) / benchMembers)
	var audio *time.Ticker
	audioC := t.C
	defer func() {
		if audio != nil {
			audio.Stop()
		}
	}()
	var vts, ats uint32
	for {
		select {
		case <-stop:
			return
		case <-video.C:
			vts += 90000 / benchFPS
			binary.BigEndian.PutUint64(frame[10:], uint64(time.Now().UnixNano()))
			rm.WriteVideo(member, vts, frame)
		case <-audioC:
			if audio == nil {
				audio = time.NewTicker(voiceEvery)
				audioC = audio.C
			}
			ats += 960
			binary.BigEndian.PutUint64(opus[1:], uint64(time.Now().UnixNano()))
			rm.WriteAudio(member, ats, opus)
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestFanoutViewers is the viewers' process of BenchmarkFanout; it does nothing in a test run.
func TestFanoutViewers(t *testing.T) {
	url := os.Getenv("RELAY_FANOUT_URL")
	if url == "" {
		return // run by BenchmarkFanout only
	}
	n, _ := strconv.Atoi(os.Getenv("RELAY_FANOUT_VIEWERS"))
	var (
		mu     sync.Mutex
		delays []float64
		rep    fanoutReport
	)
	type track struct {
		last  uint16
		begun bool
	}
	connected := make(chan struct{}, n*benchMembers)
	var wg sync.WaitGroup
	for v := range n {
		for m := range benchMembers {
			wg.Go(func() {
				viewer := relaytest.NewViewer(t, relaytest.Video, relaytest.Audio)
				pc := viewer.PC
				pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
					var st track
					var vp8 codecs.VP8Packet
					for {
						p, _, err := tr.ReadRTP()
						if err != nil {
							return
						}
						now := time.Now().UnixNano()
						var stamp int64
						if tr.Kind() == webrtc.RTPCodecTypeAudio && len(p.Payload) >= 9 {
							stamp = int64(binary.BigEndian.Uint64(p.Payload[1:]))
						} else if b, err := vp8.Unmarshal(p.Payload); err == nil && vp8.S == 1 && len(b) >= 18 {
							stamp = int64(binary.BigEndian.Uint64(b[10:]))
						}
						mu.Lock()
						rep.Packets++
						// A retransmission or a late packet comes back in order; a gap ahead is loss
						// until then (NACKed packets that arrive later are counted back).
						switch d := int16(p.SequenceNumber - st.last); {
						case !st.begun:
							st.last, st.begun = p.SequenceNumber, true
						case d > 0:
							rep.Lost += int64(d - 1)
							st.last = p.SequenceNumber
						case d < 0:
							rep.Lost--
						}
						if stamp > 0 {
							delays = append(delays, float64(now-stamp)/1e6)
							if tr.Kind() == webrtc.RTPCodecTypeVideo {
								rep.VideoFrames++
							} else {
								rep.AudioPackets++
							}
						}
						mu.Unlock()
					}
				})
				pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
					if s == webrtc.PeerConnectionStateConnected {
						connected <- struct{}{}
					}
				})
				resp, err := http.Post(fmt.Sprintf("%s/%d/%d", url, m+1, v+1), "application/sdp", strings.NewReader(viewer.Offer))
				if err != nil || resp.StatusCode != 201 {
					mu.Lock()
					rep.SessionsFailed++
					mu.Unlock()
					return
				}
				answer, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				viewer.Answer(t, string(answer))
			})
		}
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for range n*benchMembers - rep.SessionsFailed {
		select {
		case <-connected:
		case <-ctx.Done():
			t.Fatal("viewers did not connect within 2 minutes")
		}
	}
	mu.Lock()
	delays = delays[:0]
	rep = fanoutReport{SessionsFailed: rep.SessionsFailed}
	mu.Unlock()
	fmt.Println("CONNECTED", n*benchMembers)
	// The measured run ends when the benchmark writes a line.
	bufio.NewReader(os.Stdin).ReadString('\n')
	time.Sleep(200 * time.Millisecond) // packets in flight
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(delays)
	pct := func(p float64) float64 {
		if len(delays) == 0 {
			return 0
		}
		return delays[min(len(delays)-1, int(p*float64(len(delays))))]
	}
	rep.Sessions = n * benchMembers
	rep.P50, rep.P99 = pct(0.50), pct(0.99)
	if len(delays) > 0 {
		rep.Max = delays[len(delays)-1]
	}
	out, _ := json.Marshal(rep)
	fmt.Println("REPORT", string(out))
}
