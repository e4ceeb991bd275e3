// Package worker is the gateway worker: one long-lived process per bot that holds the Discord
// gateway session, turns its dispatches into contract v1 events, keeps them in a durable outbox and
// delivers them to the edge, losing none across restarts of either side. cmd/coven-worker runs it.
//
// The parts, each in its own package:
//
//	gateway/    the discordgo session, reconnection and fatal close codes
//	translate/  dispatches to events (pure), the mirror of the guild's rooms and voice states
//	outbox/     the durable, ordered store of produced events (epoch, seq)
//	delivery/   the loop that signs and posts batches to the edge and acts on its answers
//	deadletter/ the events the edge refused for good, and their replay
//	metrics/    the Prometheus collectors
//	voicectl/   the bot's voice: joining rooms, playing and recording, and its control endpoint
//
// This package holds the configuration, the [Producer] that ties the gateway to the outbox, and
// [Worker], which runs everything and serves /healthz, /readyz, /metrics and the voice control
// endpoint (/voice, signed with the webhook secret; see package voicectl).
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/internal/backoff"
	"github.com/spellcoven/gateway/roomowner"
	"github.com/spellcoven/gateway/webhook"
	"github.com/spellcoven/gateway/worker/deadletter"
	"github.com/spellcoven/gateway/worker/delivery"
	"github.com/spellcoven/gateway/worker/discordgw"
	"github.com/spellcoven/gateway/worker/metrics"
	"github.com/spellcoven/gateway/worker/outbox"
	"github.com/spellcoven/gateway/worker/translate"
	"github.com/spellcoven/gateway/worker/voicectl"
)

// replayPoll is how often the worker looks for dead letters asked for replay.
const replayPoll = 2 * time.Second

// Worker is a configured worker. Run it once.
type Worker struct {
	cfg  Config
	log  *slog.Logger
	m    *metrics.Metrics
	ob   *outbox.Outbox
	dl   *deadletter.Store
	prod *Producer
	del  *delivery.Deliverer
	gw   *discordgw.Session
	// botID is the bot's user id, from READY: the table view mark names it.
	botID atomic.Pointer[string]
	ln    net.Listener
	srv   *http.Server

	// voice is the bot's voice, voiceControl its control endpoint.
	voice        *voicectl.Controller
	voiceControl *voicectl.Handler
	// voiceBots are the gateway sessions of the voice bots beside the main bot.
	voiceBots []voiceBot
}

// New opens the outbox and the dead-letter store, prepares the gateway session and the delivery
// loop, and listens on cfg.Listen. It connects to nothing yet.
func New(cfg Config, log *slog.Logger) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Worker{cfg: cfg, log: log, m: metrics.New()}
	var err error
	w.ob, err = outbox.Open(cfg.OutboxDir, outbox.Options{
		GuildID:          cfg.GuildID,
		SegmentBytes:     cfg.SegmentBytes,
		MaxPendingEvents: cfg.MaxPendingEvents,
		MaxPendingBytes:  cfg.MaxPendingBytes,
		Logger:           log,
	})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Worker, error) {
		w.ob.Close()
		return nil, err
	}
	if w.dl, err = deadletter.Open(cfg.DeadLetterDir, cfg.MaxDeadLetters); err != nil {
		return fail(err)
	}
	w.prod = NewProducer(translate.Config{GuildID: cfg.GuildID, CategoryID: cfg.CategoryID, Owner: roomOwner, TableView: w.tableView}, w.ob, w.dl, w.m, log)
	resume := w.restoreSession()
	scheme, _ := webhook.ParseScheme(cfg.WebhookScheme)
	signer, err := webhook.NewSigner(scheme, cfg.WebhookSecret)
	if err != nil {
		return fail(fmt.Errorf("webhook secret: %s", err.Error()))
	}
	w.del, err = delivery.New(delivery.Config{
		URL:            cfg.EdgeURL,
		Signer:         signer,
		MaxBatchEvents: cfg.MaxBatchEvents,
		MaxBatchBytes:  cfg.MaxBatchBytes,
		Timeout:        cfg.DeliveryTimeout,
		Backoff:        backoff.Policy{Initial: cfg.BackoffInitial, Max: cfg.BackoffMax},
		Keepalive:      cfg.Keepalive,
		Logger:         log,
	}, w.ob, w.dl, w.prod, w.m)
	if err != nil {
		return fail(err)
	}
	w.gw, err = discordgw.New(discordgw.Config{
		Token:           cfg.Token,
		APIBase:         cfg.DiscordAPI,
		OpenTimeout:     cfg.GatewayOpenTimeout,
		Reconnect:       backoff.Policy{Initial: cfg.ReconnectInitial, Max: cfg.ReconnectMax},
		Logger:          log,
		Metrics:         w.m,
		LibraryLogLevel: libraryLogLevel(cfg.Level()),
		Resume:          resume,

		InvalidSessionWaitMin: cfg.InvalidSessionWaitMin,
		InvalidSessionWaitMax: cfg.InvalidSessionWaitMax,
		IdentifyInterval:      cfg.IdentifyInterval,
	}, dispatchers{w})
	if err != nil {
		return fail(err)
	}
	if err := w.newVoiceBots(log); err != nil {
		return fail(err)
	}
	if err := w.newVoice(scheme, log); err != nil {
		return fail(fmt.Errorf("voice: %w", err))
	}
	if id := w.botID.Load(); id != nil {
		// A resumed session sends no READY: voice learns the bot's id from the saved session.
		w.voice.SetBotID(*id)
	}
	w.registerGauges()
	if w.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return fail(fmt.Errorf("-listen ($COVEN_WORKER_LISTEN): %w", err))
	}
	w.srv = &http.Server{Handler: w.routes(), ReadHeaderTimeout: 5 * time.Second}
	return w, nil
}

// Addr returns the address /healthz, /readyz and /metrics are served on.
func (w *Worker) Addr() string { return w.ln.Addr().String() }

// Epoch returns the outbox's epoch.
func (w *Worker) Epoch() string { return w.ob.Epoch() }

// Run runs the worker until ctx ends (a graceful stop: it returns nil) or the gateway session ends
// for good (it returns the *discordgw.FatalCloseError). Either way it produces a system.status
// "down", delivers what it can within ShutdownTimeout, and closes the outbox; what could not be
// delivered stays in the outbox for the next start.
func (w *Worker) Run(ctx context.Context) error {
	st := w.ob.Stats()
	w.log.Info("worker starting", "config", w.cfg, "epoch", st.Epoch, "pending_events", st.PendingEvents, "health", w.Addr())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := w.srv.Serve(w.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			w.log.Error("health server stopped", "error", err.Error())
		}
	})
	loops, stopLoops := context.WithCancel(context.Background())
	var loopsDone sync.WaitGroup
	loopsDone.Go(func() { w.del.Run(loops) })
	loopsDone.Go(func() { w.replayLoop(loops) })
	loopsDone.Go(func() { w.touchLoop(loops) })

	gwCtx, stopGateways := context.WithCancel(ctx)
	var voiceFatal error
	var voiceFatalOnce sync.Once
	voiceBots := w.runVoiceBots(gwCtx, func(err error) {
		voiceFatalOnce.Do(func() { voiceFatal = err })
		stopGateways()
	})
	err := w.gw.Run(gwCtx)
	stopGateways()
	// The call ends with the gateway session: recordings are finished, the connection closed.
	w.voice.Close()
	voiceBots.Wait()
	if err == nil && voiceFatal != nil {
		err = voiceFatal
	}
	var fatal *discordgw.FatalCloseError
	if errors.As(err, &fatal) {
		w.log.Error("stopping: "+err.Error(), "close_code", fatal.Code)
	} else {
		w.log.Info("stopping")
	}
	w.prod.Stop()
	stopLoops()
	loopsDone.Wait()
	drainCtx, cancel := context.WithTimeout(context.Background(), w.cfg.ShutdownTimeout)
	if derr := w.del.Drain(drainCtx); derr != nil {
		w.log.Warn("events remain undelivered; they will be delivered after the next start", "error", derr.Error())
	}
	cancel()
	shutCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	w.srv.Shutdown(shutCtx)
	cancel()
	wg.Wait()
	if cerr := w.ob.Close(); cerr != nil {
		w.log.Error("closing the outbox", "error", cerr.Error())
	}
	w.log.Info("stopped", "pending_events", w.ob.Stats().PendingEvents)
	return err
}

// restoreSession reads the gateway session saved by the last run. When it may be resumed, the
// producer gets its mirror of the guild back and the returned position is resumed; otherwise the
// zero position makes the session identify. Either way the producer saves the session from now on.
func (w *Worker) restoreSession() discordgw.Position {
	defer w.prod.SaveSessionTo(filepath.Join(w.cfg.OutboxDir, SessionStateFile))
	st, why := loadSessionState(w.cfg.OutboxDir, w.ob.Epoch(), w.ob.Stats().Last, w.cfg.GatewayResumeMaxAge, time.Now())
	if st == nil {
		if why != "" {
			w.log.Info("gateway: not resuming the last run's session; identifying", "reason", why)
		}
		return discordgw.Position{}
	}
	if err := w.prod.Restore(st); err != nil {
		w.log.Warn("gateway: the saved session cannot be restored; identifying", "error", err.Error())
		return discordgw.Position{}
	}
	w.log.Info("gateway: resuming the last run's session", "session", st.SessionID, "seq", st.Seq,
		"saved", time.Since(st.SavedAt).Round(time.Millisecond))
	if event.ValidSnowflake(st.BotID) {
		id := st.BotID
		w.botID.Store(&id)
	}
	return st.Position
}

// sessionTouch is how often the saved gateway session's time is refreshed while nothing is
// appended, so that a quiet guild's live session is not taken for a stale one.
const sessionTouch = 10 * time.Second

func (w *Worker) touchLoop(ctx context.Context) {
	t := time.NewTicker(sessionTouch)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if w.gw.Connected() {
				w.prod.TouchSessionState()
			}
		}
	}
}

func (w *Worker) replayLoop(ctx context.Context) {
	t := time.NewTicker(replayPoll)
	defer t.Stop()
	for {
		if _, err := w.prod.ReplayLetters(); err != nil {
			w.log.Error("replaying dead letters", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// libraryLogLevel maps the worker's log level onto discordgo's: its warnings (read errors,
// reconnections) are worth seeing; its informational logs are noise at 200 events/s.
func libraryLogLevel(l slog.Level) int {
	if l <= slog.LevelWarn {
		return 1 // discordgo.LogWarning
	}
	return 0 // discordgo.LogError
}

// roomOwner reads a room's owner from the member permission overwrite the rooms API records at
// creation (roomowner states the rule), so owners survive restarts of both processes.
func roomOwner(c *discordgo.Channel) string { return roomowner.ID(overwrites(c)) }

// tableView reads a room's table view switch: the owner's overwrite letting the bot in.
func (w *Worker) tableView(c *discordgo.Channel) bool {
	id := w.botID.Load()
	return id != nil && roomowner.TableOn(overwrites(c), *id)
}

func overwrites(c *discordgo.Channel) []roomowner.Overwrite {
	ows := make([]roomowner.Overwrite, 0, len(c.PermissionOverwrites))
	for _, o := range c.PermissionOverwrites {
		ows = append(ows, roomowner.Overwrite{ID: o.ID, Type: int(o.Type), Allow: uint64(o.Allow), Deny: uint64(o.Deny)})
	}
	return ows
}
