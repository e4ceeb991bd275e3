// Package sandbox runs the whole Spell Coven stack on one machine, with no Discord account and no
// internet: the Discord emulator (in this process), a development identity provider with demo users
// (in this process), the worker (a coven-worker process) and the edge (a Caddy process with this
// repository's modules) serving the demo page over HTTPS with a locally issued certificate.
//
// `go run ./cmd/coven-sandbox` uses it to give a newcomer the running product in minutes; the
// browser tests (tests/browser) use it to drive the demo page in real Chromium against the same
// stack, killing and restarting the edge on the way.
package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/spellcoven/gateway/auth/authtest"
	"github.com/spellcoven/gateway/discordtest"
	"github.com/spellcoven/gateway/discordtest/voiceserver"
	"github.com/spellcoven/gateway/internal/freeport"
	"github.com/spellcoven/gateway/internal/proc"
)

// Stack is a running sandbox. Its accessors are safe for concurrent use; KillEdge, StartEdge and
// Close are meant to be called from one goroutine.
type Stack struct {
	cfg     Config
	runDir  string
	storage string
	rootCA  string
	secrets secrets

	caddyBin, workerBin string

	sink                                        *logSink
	log, discordLog, idpLog, edgeLog, workerLog *partLog

	emu        *discordtest.Server
	voice      *voiceserver.Server
	cameras    *cameras
	idp        *idp
	idpSrv     *http.Server
	idpURL     string
	workerAddr string
	client     *http.Client

	mu     sync.Mutex
	edge   *proc.Process
	worker *proc.Process
	// failed receives the first unexpected exit of a process.
	failed chan error

	closeOnce sync.Once
	closeErr  error
}

// secrets are generated for each run, handed to the processes in their environment, and never
// printed or logged.
type secrets struct {
	botToken, voiceBotToken, webhookSecret, controlToken string
}

func newSecrets() secrets {
	return secrets{
		botToken:      "sandbox-bot." + randomHex(24),
		voiceBotToken: "sandbox-voice-bot." + randomHex(24),
		webhookSecret: randomHex(32),
		controlToken:  "sandbox-control." + randomHex(24),
	}
}

// Start builds what it needs, starts every part in order (emulator, identity provider, edge,
// worker) and returns once each is healthy and the edge has an up-to-date view of Discord. On
// failure it stops what it started and the error says which part failed and why.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkPortFree(cfg.Port); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	sink := &logSink{w: cfg.Log, verbose: cfg.Verbose}
	s := &Stack{
		cfg: cfg, secrets: newSecrets(), sink: sink, failed: make(chan error, 1),
		log: sink.part("sandbox"), discordLog: sink.part("discord"), idpLog: sink.part("idp"),
		edgeLog: sink.part("edge", caddyRoutineWarnings...), workerLog: sink.part("worker"),
		caddyBin: cfg.CaddyBin, workerBin: cfg.WorkerBin,
	}
	// Caddy's storage, and so the local CA, outlives the run.
	s.storage = filepath.Join(cfg.Dir, "caddy")
	s.rootCA = filepath.Join(s.storage, "pki", "authorities", "local", "root.crt")
	for _, dir := range []string{cfg.Dir, s.storage} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
	}
	removeStaleRuns(cfg.Dir)
	if s.runDir, err = os.MkdirTemp(cfg.Dir, "run-"); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.runDir, "pid"), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		os.RemoveAll(s.runDir)
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = s.Close()
		}
	}()
	steps := []struct {
		part string
		run  func(context.Context) error
	}{
		{"building", s.buildBinaries},
		{"the Discord emulator", s.startDiscord},
		{"the identity provider", s.startIdP},
		{"the edge", s.configureAndStartEdge},
		{"the worker", s.startWorker},
		{"the edge", s.waitEdgeServing},
	}
	for _, step := range steps {
		if err := step.run(ctx); err != nil {
			return nil, fmt.Errorf("sandbox: %s: %w", step.part, err)
		}
	}
	s.log.say("every part is healthy")
	ok = true
	return s, nil
}

func (s *Stack) buildBinaries(ctx context.Context) error {
	bin := filepath.Join(s.cfg.Dir, "bin")
	var err error
	if s.caddyBin == "" {
		s.log.say("building the edge (./cmd/caddy); the first build takes several minutes, later ones seconds")
		if s.caddyBin, err = proc.Build(ctx, s.cfg.RepoRoot, "./cmd/caddy", bin, s.log); err != nil {
			return err
		}
	}
	if s.workerBin == "" {
		s.log.say("building the worker (./cmd/coven-worker)")
		if s.workerBin, err = proc.Build(ctx, s.cfg.RepoRoot, "./cmd/coven-worker", bin, s.log); err != nil {
			return err
		}
	}
	return nil
}

func (s *Stack) startDiscord(context.Context) error {
	emu, vs, cams, err := startDiscord(s.secrets.botToken, s.secrets.voiceBotToken, s.secrets.controlToken, s.discordLog, s.cfg.Verbose)
	if err != nil {
		return err
	}
	s.emu, s.voice, s.cameras = emu, vs, cams
	s.discordLog.say("emulated Discord at " + emu.URL())
	return nil
}

func (s *Stack) startIdP(context.Context) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.idpURL = "http://" + ln.Addr().String()
	issuer, err := authtest.NewIssuer(s.idpURL)
	if err != nil {
		ln.Close()
		return err
	}
	s.idp = newIdP(issuer, s.cfg.TokenTTL, s.idpLog)
	s.idpSrv = &http.Server{Handler: s.idp, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.idpSrv.Serve(ln) }()
	s.idpLog.say("identity provider at " + s.idpURL)
	return nil
}

// configureAndStartEdge writes the edge's Caddyfile and starts it.
func (s *Stack) configureAndStartEdge(ctx context.Context) error {
	level := "WARN"
	if s.cfg.Verbose {
		level = "INFO"
	}
	// The worker's address is chosen now: the edge's coven_media names it.
	port, err := freeport.Pick()
	if err != nil {
		return err
	}
	s.workerAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	conf, err := renderCaddyfile(edgeLayout{
		Port: s.cfg.Port, Bind: loopbackBind(), Origin: s.URL(),
		Storage: s.storage, LogLevel: level,
		GuildID: GuildID, CategoryID: CategoryID, DiscordAPI: s.emu.URL() + "/api/v10",
		IdP: s.idpURL, IdPAddr: s.idpURL[len("http://"):], DiscordAddr: s.emu.URL()[len("http://"):],
		WebRoot: filepath.Join(s.cfg.RepoRoot, "web"), Audience: Audience, Redis: s.cfg.RedisURL != "",
		WorkerAddr: s.workerAddr,
		VoiceBotID: VoiceBotID,
	})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.runDir, "Caddyfile"), []byte(conf), 0o600); err != nil {
		return err
	}
	return s.startEdge(ctx)
}

// URL is the edge's base URL, https://localhost:<port>: the demo page, /ws, /api/rooms, /healthz.
func (s *Stack) URL() string { return "https://localhost:" + strconv.Itoa(s.cfg.Port) }

// RootCA is the PEM file of the local certificate authority that signed the edge's certificate.
// It stays the same across runs that share Config.Dir.
func (s *Stack) RootCA() string { return s.rootCA }

// Client returns an HTTP client that trusts RootCA.
func (s *Stack) Client() *http.Client { return s.client }

// IdPURL is the identity provider's own base URL (the page reaches it through the edge, at
// /dev-idp/).
func (s *Stack) IdPURL() string { return s.idpURL }

// Issuer is the identity provider's signing side: tests mint tokens and rotate keys with it.
func (s *Stack) Issuer() *authtest.Issuer { return s.idp.issuer }

// TokensIssued is how many tokens the identity provider signed for a demo user (by subject).
func (s *Stack) TokensIssued(sub string) int { return s.idp.tokensIssued(sub) }

// Emulator is the emulated Discord. Its control methods change the world as Discord users would;
// its State is the truth the page's view is compared with.
func (s *Stack) Emulator() *discordtest.Server { return s.emu }

// CallUser returns the emulated user userID in their voice channel's call (nil when not in
// voice): their camera and microphone follow their voice state.
func (s *Stack) CallUser(userID string) *voiceserver.User { return s.cameras.user(userID) }

// VoiceServer returns the emulator's voice server.
func (s *Stack) VoiceServer() *voiceserver.Server { return s.voice }

// WorkerHealthURL is the base URL of the worker's /healthz, /readyz and /metrics.
func (s *Stack) WorkerHealthURL() string { return "http://" + s.workerAddr }

// Failed receives an error when the edge or the worker exits without being asked to.
func (s *Stack) Failed() <-chan error { return s.failed }

// partFailed reports an unexpected exit; only the first one is kept.
func (s *Stack) partFailed(err error) {
	select {
	case s.failed <- err:
	default:
	}
}

// KillEdge ends the edge with SIGKILL, as a crash would: it keeps nothing in memory, and the worker
// keeps the events it could not deliver in its outbox until StartEdge.
func (s *Stack) KillEdge() error {
	s.mu.Lock()
	p := s.edge
	s.mu.Unlock()
	if p == nil || p.Exited() {
		return errors.New("sandbox: the edge is not running")
	}
	s.log.say("killing the edge (SIGKILL)")
	p.Kill()
	return nil
}

// StartEdge starts the edge again after KillEdge, on the same port and certificate, and returns once
// it holds Discord's state again: the worker has delivered its snapshot.
func (s *Stack) StartEdge(ctx context.Context) error {
	s.mu.Lock()
	p := s.edge
	s.mu.Unlock()
	if p != nil && !p.Exited() {
		return errors.New("sandbox: the edge is already running")
	}
	if err := s.startEdge(ctx); err != nil {
		return fmt.Errorf("sandbox: the edge: %w", err)
	}
	if err := s.waitEdgeServing(ctx); err != nil {
		return fmt.Errorf("sandbox: the edge: %w", err)
	}
	return nil
}

// Close stops every part, in order: the worker (SIGTERM: it delivers what it holds), the edge
// (SIGTERM), the emulator, the identity provider. It removes the run's directory and returns what
// did not stop cleanly. Calling it again returns the same result.
func (s *Stack) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		worker, edge := s.worker, s.edge
		s.mu.Unlock()
		var errs []error
		if worker != nil {
			errs = append(errs, worker.Stop(syscall.SIGTERM, s.cfg.StopTimeout))
		}
		// An edge that is not running was killed by KillEdge, or its exit was reported already.
		if edge != nil && !edge.Exited() {
			errs = append(errs, edge.Stop(syscall.SIGTERM, s.cfg.StopTimeout))
		}
		if s.emu != nil {
			if err := stopDiscord(s.emu, s.cfg.StopTimeout); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				errs = append(errs, fmt.Errorf("the Discord emulator: %w", err))
			}
		}
		if s.cameras != nil {
			s.cameras.close()
		}
		if s.voice != nil {
			errs = append(errs, s.voice.Close())
		}
		if s.idpSrv != nil {
			errs = append(errs, s.idpSrv.Close())
		}
		if s.client != nil {
			s.client.CloseIdleConnections()
		}
		if s.runDir != "" {
			errs = append(errs, os.RemoveAll(s.runDir))
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// removeStaleRuns removes the run directories of sandboxes that died without Close (killed, or
// the machine stopped). A run directory names its sandbox's process in its "pid" file; one whose
// process is alive belongs to a sandbox still running and is left alone.
func removeStaleRuns(dir string) {
	runs, _ := filepath.Glob(filepath.Join(dir, "run-*"))
	for _, run := range runs {
		b, err := os.ReadFile(filepath.Join(run, "pid"))
		if err != nil {
			continue // being created, or not a run directory of ours
		}
		pid, err := strconv.Atoi(string(b))
		if err != nil || pid <= 0 || proc.Alive(pid) {
			continue
		}
		_ = os.RemoveAll(run)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
