package worker

import (
	"fmt"
	"log/slog"

	"github.com/bwmarrin/discordgo"
	"github.com/spellcoven/gateway/voice"
	"github.com/spellcoven/gateway/webhook"
	"github.com/spellcoven/gateway/worker/discordgw"
	"github.com/spellcoven/gateway/worker/voicectl"
)

// dispatchers hands each gateway dispatch to the producer, then to the voice controller, so
// that the controller sees the mirror of the guild already updated (a room deleted, a room
// created).
type dispatchers struct{ w *Worker }

func (d dispatchers) HandleDispatch(typ string, ev any) {
	d.noteBot(ev)
	d.w.prod.HandleDispatch(typ, ev)
	d.w.voice.HandleDispatch(typ, ev)
}

func (d dispatchers) HandleDispatchAt(pos discordgw.Position, typ string, ev any) {
	d.noteBot(ev)
	d.w.prod.HandleDispatchAt(pos, typ, ev)
	d.w.voice.HandleDispatch(typ, ev)
}

// noteBot keeps the bot's user id from READY: table view's mark names it.
func (d dispatchers) noteBot(ev any) {
	if r, ok := ev.(*discordgo.Ready); ok && r.User != nil {
		id := r.User.ID
		d.w.botID.Store(&id)
	}
}

func (d dispatchers) LinkDown() { d.w.prod.LinkDown() }

// newVoice creates the voice controller and its control endpoint, authenticated with the
// webhook secret and scheme the worker delivers events with.
func (w *Worker) newVoice(scheme webhook.Scheme, log *slog.Logger) error {
	cfg := w.cfg
	var err error
	var bots []voicectl.Gateway
	for _, b := range w.voiceBots {
		bots = append(bots, b.gw)
	}
	w.voice, err = voicectl.New(voicectl.Config{
		GuildID:           cfg.GuildID,
		Gateway:           w.gw,
		Rooms:             w.prod,
		VoiceBots:         bots,
		MediaDir:          cfg.VoiceMediaDir,
		RecordingsDir:     cfg.VoiceRecordingsDir,
		JoinTimeout:       cfg.VoiceJoinTimeout,
		MaxRecordingBytes: cfg.VoiceMaxRecordingBytes,
		Table:             cfg.tableConfig(),
		TableIdleTimeout:  cfg.TableIdleTimeout,
		Voice:             voice.Config{Scheme: cfg.VoiceGatewayScheme, HandshakeTimeout: cfg.VoiceHandshakeTimeout, TransportOnly: cfg.VoiceTransportOnly},
		Metrics:           w.m.Registry,
		Logger:            log,
	})
	if err != nil {
		return err
	}
	verifier, err := webhook.NewVerifier(webhook.VerifierConfig{Scheme: scheme, Secrets: []string{cfg.WebhookSecret}})
	if err != nil {
		return fmt.Errorf("webhook secret: %s", err.Error())
	}
	w.voiceControl, err = voicectl.NewHandler(w.voice, voicectl.HandlerConfig{
		Verifier:          verifier,
		MaxRequestBytes:   cfg.VoiceMaxRequestBytes,
		MaxRecentRequests: cfg.VoiceMaxRecentRequests,
		Logger:            log,
	})
	return err
}
