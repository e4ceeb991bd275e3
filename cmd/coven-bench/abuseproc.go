package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/spellcoven/gateway/internal/ctxsleep"
)

// The abusive clients run in a process of their own, the bench's executable started again with
// abuseChildEnv set. They stand for machines elsewhere on the internet: in the bench's own process
// their 2,000 goroutines would share the Go scheduler with the measured clients and delay the very
// receipts being timed, and at the same priority as the edge they would take the cores the edge
// needs. The child runs under nice(1) (Options.AbuseNice), so the edge's work of refusing them is
// measured and the harness's work of being them mostly is not.
//
// The parent writes the child's abuseConfig as one JSON line on its standard input, then "stop" when
// the window ends; the child answers "stopped" once the loopers have stopped and every other abusive
// client has been ended by the edge. When its input closes, the child closes the connections it
// still holds, writes its AbuseReport as JSON on standard output and exits. A parent that dies
// closes the child's input, so the child never outlives it.
const abuseChildEnv = "COVEN_BENCH_ABUSE_CHILD"

// The lines of the parent and child.
const (
	abuseStop    = "stop"
	abuseStopped = "stopped"
)

// isAbuseChild reports whether this process was started to run the abusive clients.
func isAbuseChild() bool { return os.Getenv(abuseChildEnv) == "1" }

// abuseChildMain runs the abusive clients as the parent says on in, and returns the exit status.
func abuseChildMain(in io.Reader, out, errOut io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(errOut, "coven-bench abusive clients: %v\n", err)
		return 1
	}
	lines := bufio.NewReader(in)
	first, err := lines.ReadBytes('\n')
	if err != nil {
		return fail(fmt.Errorf("reading the configuration: %w", err))
	}
	var cfg abuseConfig
	if err := json.Unmarshal(first, &cfg); err != nil {
		return fail(fmt.Errorf("the configuration: %w", err))
	}
	a := startAbusers(context.Background(), cfg)
	for {
		line, err := lines.ReadString('\n')
		if strings.TrimSpace(line) == abuseStop {
			a.stop()
			fmt.Fprintln(out, abuseStopped)
			continue
		}
		if err != nil {
			break // the parent is done, or gone
		}
	}
	a.close()
	if err := json.NewEncoder(out).Encode(a.report); err != nil {
		return fail(err)
	}
	return 0
}

// abuse is the parent's handle on the child process of the abusive clients.
type abuse struct {
	cmd     *exec.Cmd
	in      io.WriteCloser
	out     *bufio.Reader
	done    chan struct{} // closed when the child has exited
	waitErr error         // valid once done is closed
	report  *AbuseReport  // the child's, once it has exited
}

// startAbuse starts the child process of the abusive clients at niceness nice (0: as this process).
// Its standard error goes to progress.
func startAbuse(cfg abuseConfig, nice int, progress io.Writer) (*abuse, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{self}
	if nice != 0 {
		path, err := exec.LookPath("nice")
		if err != nil {
			return nil, fmt.Errorf("the abusive clients run under nice(1), which is missing (-abuse-nice 0 runs them without): %w", err)
		}
		args = append([]string{path, "-n", strconv.Itoa(nice)}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), abuseChildEnv+"=1")
	cmd.Stderr = progress
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the abusive clients: %w", err)
	}
	a := &abuse{cmd: cmd, in: in, out: bufio.NewReader(out), done: make(chan struct{})}
	line, err := json.Marshal(cfg)
	if err == nil {
		_, err = in.Write(append(line, '\n'))
	}
	if err != nil {
		a.kill()
		return nil, fmt.Errorf("configuring the abusive clients: %w", err)
	}
	return a, nil
}

// stop asks the child to stop its loopers and waits until every abusive client has ended, or ctx.
func (a *abuse) stop(ctx context.Context) error {
	if _, err := io.WriteString(a.in, abuseStop+"\n"); err != nil {
		return fmt.Errorf("stopping the abusive clients: %w", err)
	}
	answer := make(chan error, 1)
	go func() {
		line, err := a.out.ReadString('\n')
		if err == nil && strings.TrimSpace(line) != abuseStopped {
			err = fmt.Errorf("the abusive clients answered %q to stop", line)
		}
		answer <- err
	}()
	select {
	case err := <-answer:
		return err
	case <-ctx.Done():
		a.kill()
		<-answer
		return fmt.Errorf("stopping the abusive clients: %w", ctx.Err())
	}
}

// finish closes the child's input, which makes it close what it holds, and reads its report. A child
// that does not exit within grace is killed.
func (a *abuse) finish(grace time.Duration) (*AbuseReport, error) {
	a.in.Close()
	var rep AbuseReport
	decoded := make(chan error, 1)
	go func() { decoded <- json.NewDecoder(a.out).Decode(&rep) }()
	var err error
	select {
	case err = <-decoded:
	case <-time.After(grace):
		err = fmt.Errorf("the abusive clients did not report within %v", grace)
		a.kill()
		<-decoded
	}
	if werr := a.cmd.Wait(); werr != nil && err == nil {
		err = fmt.Errorf("the abusive clients: %w", werr)
	}
	if err != nil {
		return nil, err
	}
	return &rep, nil
}

// kill ends the child at once; finish then reports the failure.
func (a *abuse) kill() {
	_ = a.cmd.Process.Kill()
}

// close ends the child if it still runs, for runs that end early.
func (a *abuse) close() {
	if a.cmd.ProcessState == nil {
		a.kill()
		_, _ = a.finish(time.Second)
	}
}

// waitGone ends the abusive clients after the window: it waits until the edge holds no socket beyond
// the measured clients, collects the child's report (the child then closes whatever it still holds,
// such as connections its HTTP client opened for a dial it gave up), and waits until the edge runs
// no more goroutines than before the abusive clients came: the timers and close handshakes of
// their sessions have ended too. It records how long each took after the window.
func (r *runner) waitGone(ctx context.Context) error {
	start := time.Now()
	limit := abusePingInterval + abusePingTimeout + abuseAuthTimeout + r.opts.DrainTimeout
	stopCtx, cancel := context.WithTimeout(ctx, limit)
	err := r.abuse.stop(stopCtx)
	cancel()
	if err != nil {
		return err
	}
	sockets := func(m metricsSample) bool { return m[metricSockets] <= float64(r.opts.Clients) }
	gone, err := r.waitEdge(ctx, start.Add(limit), sockets)
	if err != nil {
		return err
	}
	goneAfter := time.Since(start)
	rep, err := r.abuse.finish(r.opts.DrainTimeout)
	if err != nil {
		return err
	}
	r.abuse = nil
	goroutines := func(m metricsSample) bool { return m[metricGoroutines] <= r.goroutinesBefore+goroutineMargin }
	quiet, err := r.waitEdge(ctx, time.Now().Add(limit), goroutines)
	if err != nil {
		return err
	}
	rep.GoneSeconds, rep.QuietSeconds = goneAfter.Seconds(), time.Since(start).Seconds()
	rep.GoroutinesBefore = r.goroutinesBefore
	r.report.Abuse = rep
	switch {
	case !gone:
		r.report.fail("sockets beyond the %d measured clients still held %v after the window", r.opts.Clients, limit)
	case !quiet:
		r.report.fail("the edge still ran more than %v+%d goroutines %.1fs after the window", r.goroutinesBefore, goroutineMargin, rep.QuietSeconds)
	default:
		fmt.Fprintf(r.progress, "abusive clients gone %.2fs after the window, their goroutines %.2fs after\n", rep.GoneSeconds, rep.QuietSeconds)
	}
	return nil
}

// waitEdge polls the edge's metrics until ok holds (true) or deadline passes (false).
func (r *runner) waitEdge(ctx context.Context, deadline time.Time, ok func(metricsSample) bool) (bool, error) {
	for {
		m, err := r.edge.metrics(ctx)
		if err != nil {
			return false, err
		}
		if err := m.require(metricSockets, metricGoroutines); err != nil {
			return false, err
		}
		if ok(m) {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		if err := ctxsleep.Sleep(ctx, 50*time.Millisecond); err != nil {
			return false, err
		}
	}
}

// goroutineMargin is how many more goroutines than before the abuse the edge may run once it is
// over: a few come and go on their own (the admin API's and the metrics scrape's connections).
const goroutineMargin = 16
