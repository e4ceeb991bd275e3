package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/spellcoven/gateway/internal/ctxsleep"
	"github.com/spellcoven/gateway/internal/proc"
)

// startWorker starts the worker process: the emulated Discord's gateway on one side, the edge's
// ingest on the other, its outbox in the run's directory. It trusts the sandbox's local CA, which
// signed the edge's certificate, and waits until the worker is ready.
func (s *Stack) startWorker(ctx context.Context) error {
	if err := s.prepareVoice(); err != nil {
		return fmt.Errorf("preparing voice: %w", err)
	}
	level := "warn"
	if s.cfg.Verbose {
		level = "info"
	}
	args := []string{
		"-guild", GuildID, "-category", CategoryID,
		"-discord-api", s.emu.URL(),
		"-edge-url", s.URL() + "/internal/events",
		"-outbox", filepath.Join(s.runDir, "outbox"),
		"-listen", s.workerAddr,
		// An edge restarted by hand gets the events it missed within two seconds.
		"-backoff-max", "2s",
		"-reconnect-max", "5s",
		"-shutdown-timeout", "5s",
		"-log-level", level,
		// Voice calls reach the emulator's voice server, which speaks ws:// on loopback.
		"-voice-gateway-scheme", "ws",
		"-voice-media-dir", filepath.Join(s.runDir, "media"),
		"-voice-recordings-dir", s.RecordingsDir(),
		// Table view: the media of every viewer on one UDP port on loopback, for this machine's
		// browsers.
		"-table-listen", "127.0.0.1", "-table-udp-port", "0", "-table-tcp-port", "-1",
	}
	env := append(baseEnv(),
		"DISCORD_BOT_TOKEN="+s.secrets.botToken,
		// A second voice bot: two rooms' tables at once.
		"DISCORD_VOICE_BOT_TOKENS="+s.secrets.voiceBotToken,
		"COVEN_WEBHOOK_SECRET="+s.secrets.webhookSecret,
		// Go's crypto/x509 reads its roots from this file (and the system's certificate directories).
		"SSL_CERT_FILE="+s.rootCA,
	)
	s.workerLog.say("starting the worker")
	p, err := proc.Start("coven-worker", s.workerBin, args, proc.Options{Env: env, Output: s.workerLog, Detach: true, OnExit: s.partFailed})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.worker = p
	s.mu.Unlock()
	return s.waitWorkerReady(ctx, p)
}

// workerReadiness is the worker's /readyz body.
type workerReadiness struct {
	Ready  bool `json:"ready"`
	Checks map[string]struct {
		OK     bool   `json:"ok"`
		Detail string `json:"detail"`
	} `json:"checks"`
}

// waitWorkerReady waits until the worker's /readyz says it is connected to Discord and delivering
// to the edge.
func (s *Stack) waitWorkerReady(ctx context.Context, p *proc.Process) error {
	c := &http.Client{Timeout: 2 * time.Second}
	defer c.CloseIdleConnections()
	deadline := time.Now().Add(s.cfg.StartTimeout)
	var last workerReadiness
	for {
		if p.Exited() {
			return p.ExitError()
		}
		if r, err := readiness(ctx, c, s.WorkerHealthURL()+"/readyz"); err == nil {
			if r.Ready {
				return nil
			}
			last = r
		}
		if time.Now().After(deadline) {
			var failing []string
			for name, c := range last.Checks {
				if !c.OK {
					failing = append(failing, name+": "+c.Detail)
				}
			}
			return fmt.Errorf("the worker is not ready within %v (%s); its last lines:\n%s",
				s.cfg.StartTimeout, strings.Join(failing, "; "), s.workerLog.lastLines())
		}
		if err := ctxsleep.Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

func readiness(ctx context.Context, c *http.Client, url string) (workerReadiness, error) {
	var r workerReadiness
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return r, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	return r, json.NewDecoder(resp.Body).Decode(&r)
}
