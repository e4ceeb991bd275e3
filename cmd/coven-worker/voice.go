package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spellcoven/gateway/webhook"
	"github.com/spellcoven/gateway/worker/voicectl"
)

const voiceUsage = `Usage:
  coven-worker voice join ROOM_ID       put the bot in a room (the id of its voice channel)
  coven-worker voice leave [ROOM_ID]    take the bot out of its room; with ROOM_ID, the voice
                                        bot in that room (with -voice-token-file bots)
  coven-worker voice play FILE          play an Ogg Opus file of the worker's -voice-media-dir
  coven-worker voice play -stop         stop the file playing
  coven-worker voice record start [DIR] record each member into DIR under -voice-recordings-dir
  coven-worker voice record stop        stop recording and finish the files
  coven-worker voice status             show the bot's voice (each voice bot's, with a pool)

With voice bots (-voice-token-file), join takes the bot already in the room, else the main bot,
else a free voice bot; play and record act on the main bot's call.

Flags, after the command (each also read from the environment variable shown):
  -addr HOST:PORT        the running worker's -listen address ($COVEN_WORKER_LISTEN, default 127.0.0.1:9464)
  -webhook-secret S      the worker's webhook secret ($COVEN_WEBHOOK_SECRET)
  -webhook-secret-file F file holding it ($COVEN_WEBHOOK_SECRET_FILE)
  -webhook-scheme S      coven or standard ($COVEN_WEBHOOK_SCHEME, default coven)
  -timeout D             bound of the request (default 60s; a join waits for Discord and the voice server)
  -json                  print the worker's answer as JSON

Requests are signed with the webhook secret, as the worker signs its deliveries.
Exit status: 0 on success, 1 when the worker refused or could not be reached, 2 on bad usage.
`

// voiceCommand runs `coven-worker voice ...`: one signed request to a running worker.
func voiceCommand(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	usage := func(format string, a ...any) int {
		if format != "" {
			fmt.Fprintf(stderr, "coven-worker voice: "+format+"\n", a...)
		}
		fmt.Fprint(stderr, voiceUsage)
		return exitUsage
	}
	if len(args) == 0 {
		return usage("")
	}
	verb, rest := args[0], args[1:]
	if verb == "-h" || verb == "-help" || verb == "--help" || verb == "help" {
		fmt.Fprint(stdout, voiceUsage)
		return 0
	}
	if verb == "record" {
		if len(rest) == 0 || (rest[0] != voicectl.ActionStart && rest[0] != voicectl.ActionStop) {
			return usage("record takes start or stop")
		}
		verb, rest = "record "+rest[0], rest[1:]
	}
	fs := flag.NewFlagSet("coven-worker voice "+verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("addr", or(getenv("COVEN_WORKER_LISTEN"), "127.0.0.1:9464"), "")
	secret := fs.String("webhook-secret", getenv("COVEN_WEBHOOK_SECRET"), "")
	secretFile := fs.String("webhook-secret-file", getenv("COVEN_WEBHOOK_SECRET_FILE"), "")
	scheme := fs.String("webhook-scheme", or(getenv("COVEN_WEBHOOK_SCHEME"), string(webhook.SchemeCoven)), "")
	timeout := fs.Duration("timeout", 60*time.Second, "")
	asJSON := fs.Bool("json", false, "")
	stop := fs.Bool("stop", false, "")
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, voiceUsage)
			return 0
		}
		return usage("%v", err)
	}
	operands := fs.Args()
	want := map[string]int{"join": 1, "leave": -1, "play": 1, "record start": -1, "record stop": 0, "status": 0}
	n, known := want[verb]
	switch {
	case !known:
		return usage("unknown command %q", verb)
	case verb == "play" && *stop:
		n = 0
	case *stop:
		return usage("-stop goes with play only")
	}
	if (n >= 0 && len(operands) != n) || (n < 0 && len(operands) > 1) {
		return usage("%s: wrong number of arguments", verb)
	}
	signer, err := voiceSigner(*secret, *secretFile, *scheme)
	if err != nil {
		return usage("%v", err)
	}
	client, err := voicectl.NewClient(*addr, signer, nil)
	if err != nil {
		return usage("-addr ($COVEN_WORKER_LISTEN): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var st voicectl.Status
	switch {
	case verb == "join":
		st, err = client.Join(ctx, operands[0])
	case verb == "leave" && len(operands) == 1:
		st, err = client.LeaveRoom(ctx, operands[0])
	case verb == "leave":
		st, err = client.Leave(ctx)
	case verb == "play" && *stop:
		st, err = client.StopPlayback(ctx)
	case verb == "play":
		st, err = client.Play(ctx, operands[0])
	case verb == "record start":
		st, err = client.StartRecording(ctx, strings.Join(operands, ""))
	case verb == "record stop":
		st, err = client.StopRecording(ctx)
	default:
		st, err = client.Status(ctx)
	}
	if err != nil {
		fmt.Fprintf(stderr, "coven-worker voice %s: %v\n", verb, err)
		return exitFailure
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(st)
		return 0
	}
	printVoice(stdout, verb, *stop, st)
	return 0
}

// voiceSigner builds the signer from the secret given directly or in a file (one of them).
func voiceSigner(secret, file, scheme string) (*webhook.Signer, error) {
	switch {
	case secret != "" && file != "":
		return nil, errors.New("-webhook-secret ($COVEN_WEBHOOK_SECRET) and -webhook-secret-file ($COVEN_WEBHOOK_SECRET_FILE): set one, not both")
	case file != "":
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("-webhook-secret-file ($COVEN_WEBHOOK_SECRET_FILE): %v", err)
		}
		secret = strings.TrimRight(string(raw), "\r\n")
	case secret == "":
		return nil, errors.New("-webhook-secret ($COVEN_WEBHOOK_SECRET) or -webhook-secret-file ($COVEN_WEBHOOK_SECRET_FILE): required")
	}
	s, err := webhook.ParseScheme(scheme)
	if err != nil {
		return nil, errors.New("-webhook-scheme ($COVEN_WEBHOOK_SCHEME): must be coven or standard")
	}
	signer, err := webhook.NewSigner(s, secret)
	if err != nil {
		// The signer's errors describe the secret's shape, never its content.
		return nil, fmt.Errorf("-webhook-secret: %s", strings.TrimPrefix(err.Error(), "webhook: "))
	}
	return signer, nil
}

func or(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// printVoice describes the outcome of a command for people.
func printVoice(w io.Writer, verb string, stop bool, st voicectl.Status) {
	switch {
	case verb == "join" && len(st.Bots) > 0:
		fmt.Fprintf(w, "joined room %s%s with bot %s (mode %s, ssrc %d)\n", st.RoomID, roomName(st), st.BotID, st.Mode, st.SSRC)
	case verb == "join":
		fmt.Fprintf(w, "joined room %s%s (mode %s, ssrc %d)\n", st.RoomID, roomName(st), st.Mode, st.SSRC)
	case verb == "leave" && len(st.Bots) > 0:
		printStatus(w, st)
	case verb == "leave":
		if e := st.LastEnd; e != nil && e.Reason == voicectl.EndLeft {
			fmt.Fprintf(w, "left room %s\n", e.RoomID)
		} else {
			fmt.Fprintln(w, "in no room")
		}
	case verb == "play" && stop && st.LastPlayback != nil:
		fmt.Fprintf(w, "%s: %s\n", st.LastPlayback.File, describePlayback(*st.LastPlayback))
	case verb == "play" && st.Playing != nil:
		fmt.Fprintf(w, "playing %s in room %s\n", st.Playing.File, st.RoomID)
	case verb == "record start" && st.Recording != nil:
		fmt.Fprintf(w, "recording room %s into %s\n", st.RoomID, st.Recording.Dir)
	case verb == "record stop" && st.LastRecording != nil:
		printRecording(w, *st.LastRecording)
	default:
		printStatus(w, st)
	}
}

func roomName(st voicectl.Status) string {
	if st.RoomName == "" {
		return ""
	}
	return " (" + st.RoomName + ")"
}

func describePlayback(p voicectl.Playback) string {
	switch {
	case p.Error != "":
		return fmt.Sprintf("failed after %d frames: %s", p.Frames, p.Error)
	case p.Stopped:
		return fmt.Sprintf("stopped after %d frames", p.Frames)
	}
	return fmt.Sprintf("played, %d frames", p.Frames)
}

func printRecording(w io.Writer, r voicectl.Recording) {
	state := "recorded"
	if r.EndedAt.IsZero() {
		state = "recording"
	}
	fmt.Fprintf(w, "%s %s: %d members, %d bytes", state, r.Dir, len(r.Members), r.Bytes)
	if r.Truncated {
		fmt.Fprint(w, " (size limit reached: truncated)")
	}
	fmt.Fprintln(w)
	if r.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", r.Error)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	if len(r.Members) > 0 {
		fmt.Fprintln(tw, "  USER\tAUDIO PACKETS\tVIDEO FRAMES\tFILES")
	}
	for _, m := range r.Members {
		files := strings.TrimSpace(m.AudioFile + " " + m.VideoFile)
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\n", m.UserID, m.AudioPackets, m.VideoFrames, files)
	}
	tw.Flush()
}

// printE2EE says how the call's media is protected.
func printE2EE(w io.Writer, e *voicectl.E2EE) {
	switch {
	case e == nil:
		fmt.Fprintln(w, "end-to-end encryption: off (transport-only mode)")
	case e.Active:
		fmt.Fprintf(w, "end-to-end encryption: DAVE v%d, epoch %d, privacy code %s\n", e.ProtocolVersion, e.Epoch, e.PrivacyCode)
	case e.ProtocolVersion == 0:
		fmt.Fprintln(w, "end-to-end encryption: not in use (the voice server chose protocol version 0)")
	default:
		fmt.Fprintf(w, "end-to-end encryption: DAVE v%d, waiting for the group (epoch %d)\n", e.ProtocolVersion, e.Epoch)
	}
}

func printStatus(w io.Writer, st voicectl.Status) {
	if len(st.Bots) > 0 {
		busy := 0
		for _, b := range st.Bots {
			if b.State != voicectl.StateIdle {
				busy++
			}
		}
		fmt.Fprintf(w, "%d voice bots, %d in a room\n", len(st.Bots), busy)
		for i, b := range st.Bots {
			name := "main bot"
			if i > 0 {
				name = fmt.Sprintf("voice bot %d", i)
			}
			fmt.Fprintf(w, "\n%s (user %s):\n", name, or(b.BotID, "not connected yet"))
			printBotStatus(w, b)
		}
		return
	}
	printBotStatus(w, st)
}

// printBotStatus describes one bot's voice.
func printBotStatus(w io.Writer, st voicectl.Status) {
	switch st.State {
	case voicectl.StateIdle:
		fmt.Fprintln(w, "idle: in no room")
	case voicectl.StateJoining:
		fmt.Fprintf(w, "joining room %s%s\n", st.RoomID, roomName(st))
	default:
		fmt.Fprintf(w, "%s: room %s%s since %s, mode %s, ssrc %d\n", st.State, st.RoomID, roomName(st),
			st.Since.Format(time.RFC3339), st.Mode, st.SSRC)
		printE2EE(w, st.E2EE)
		s := st.Stats
		fmt.Fprintf(w, "packets: %d sent (%d dropped), %d received, %d lost, %d undecryptable\n",
			s.PacketsSent, s.SendDropped, s.PacketsReceived, s.PacketsLost, s.Undecryptable)
	}
	if p := st.Playing; p != nil {
		fmt.Fprintf(w, "playing %s: %d frames so far\n", p.File, p.Frames)
	}
	if r := st.Recording; r != nil {
		printRecording(w, *r)
	}
	if len(st.Members) > 0 {
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USER\tIN CALL\tSPEAKING\tVIDEO\tAUDIO PACKETS\tLOST\tVIDEO FRAMES")
		for _, m := range st.Members {
			fmt.Fprintf(tw, "%s\t%v\t%v\t%v\t%d\t%d\t%d\n", m.UserID, m.InCall, m.Speaking, m.Video, m.AudioPackets, m.AudioLost, m.VideoFrames)
		}
		tw.Flush()
	}
	if e := st.LastEnd; e != nil && st.State == voicectl.StateIdle {
		fmt.Fprintf(w, "last call: room %s ended %s: %s (%s)\n", e.RoomID, e.At.Format(time.RFC3339), e.Reason, e.Message)
	}
}
