package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spellcoven/gateway/event"
	"github.com/spellcoven/gateway/worker/deadletter"
)

const deadLetterUsage = `Usage:
  coven-worker deadletter list   [-outbox DIR] [-dead-letter-dir DIR] [ID...]
  coven-worker deadletter replay [-outbox DIR] [-dead-letter-dir DIR] (-all | ID...)

list shows the batches the edge refused for good, with its answer. replay asks the worker to
append their events to the outbox again, followed by a snapshot of the current state; a running
worker takes them within seconds, a stopped one at its next start.
The store is -dead-letter-dir ($COVEN_WORKER_DEAD_LETTER_DIR), by default <outbox>/deadletter
with -outbox ($COVEN_WORKER_OUTBOX_DIR).
`

func deadLetterCommand(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "replay") {
		fmt.Fprint(stderr, deadLetterUsage)
		return exitUsage
	}
	verb := args[0]
	fs := flag.NewFlagSet("coven-worker deadletter "+verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	outbox := fs.String("outbox", getenv("COVEN_WORKER_OUTBOX_DIR"), "")
	dir := fs.String("dead-letter-dir", getenv("COVEN_WORKER_DEAD_LETTER_DIR"), "")
	all := fs.Bool("all", false, "")
	if err := fs.Parse(args[1:]); err != nil {
		fmt.Fprintf(stderr, "coven-worker deadletter: %v\n%s", err, deadLetterUsage)
		return exitUsage
	}
	if *dir == "" && *outbox != "" {
		*dir = filepath.Join(*outbox, "deadletter")
	}
	if *dir == "" {
		fmt.Fprintf(stderr, "coven-worker deadletter: -outbox ($COVEN_WORKER_OUTBOX_DIR) or -dead-letter-dir ($COVEN_WORKER_DEAD_LETTER_DIR): required\n")
		return exitUsage
	}
	store, err := deadletter.Open(*dir, 0)
	if err != nil {
		fmt.Fprintf(stderr, "coven-worker deadletter: %v\n", err)
		return exitFailure
	}
	ids := fs.Args()
	if verb == "list" {
		return listLetters(store, ids, stdout, stderr)
	}
	if *all == (len(ids) > 0) {
		fmt.Fprintf(stderr, "coven-worker deadletter replay: give -all or letter ids, not both and not neither\n")
		return exitUsage
	}
	return replayLetters(store, ids, stdout, stderr)
}

func listLetters(store *deadletter.Store, ids []string, stdout, stderr io.Writer) int {
	letters, err := store.List()
	if err != nil {
		fmt.Fprintf(stderr, "coven-worker deadletter: %v\n", err)
		return exitFailure
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tREFUSED AT\tSTATUS\tEVENTS\tTYPES\tEDGE SAID")
	shown := 0
	for _, l := range letters {
		if len(want) > 0 && !want[l.ID] {
			continue
		}
		shown++
		said := strings.TrimSpace(l.Code + " " + l.Message)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", l.ID, l.At.Format(time.RFC3339), l.Status, len(l.Events), letterTypes(l), said)
	}
	tw.Flush()
	if len(want) > shown {
		fmt.Fprintf(stderr, "coven-worker deadletter: %d of the ids given are not in %s\n", len(want)-shown, store.Dir())
		return exitFailure
	}
	return 0
}

// letterTypes summarizes the event types of a letter, such as "voice.joined x3, snapshot".
func letterTypes(l deadletter.Letter) string {
	var order []string
	count := map[string]int{}
	for _, raw := range l.Events {
		e, err := event.Decode(raw)
		typ := string(e.Type)
		if err != nil {
			typ = "invalid"
		}
		if count[typ] == 0 {
			order = append(order, typ)
		}
		count[typ]++
	}
	parts := make([]string, len(order))
	for i, typ := range order {
		parts[i] = typ
		if count[typ] > 1 {
			parts[i] += fmt.Sprintf(" x%d", count[typ])
		}
	}
	return strings.Join(parts, ", ")
}

func replayLetters(store *deadletter.Store, ids []string, stdout, stderr io.Writer) int {
	letters, err := store.List()
	if err != nil {
		fmt.Fprintf(stderr, "coven-worker deadletter: %v\n", err)
		return exitFailure
	}
	// Refuse, marking nothing, letters that cannot become events again.
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	for _, l := range letters {
		if len(want) > 0 && !want[l.ID] {
			continue
		}
		for i, raw := range l.Events {
			if _, err := event.Decode(raw); err != nil {
				fmt.Fprintf(stderr, "coven-worker deadletter: letter %s cannot be replayed: event %d is not a valid event: %v\n", l.ID, i, err)
				return exitFailure
			}
		}
	}
	n, err := store.RequestReplay(ids...)
	if err != nil {
		fmt.Fprintf(stderr, "coven-worker deadletter: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "%d letters will be replayed by the worker (a running one within seconds, else at its next start)\n", n)
	return 0
}
