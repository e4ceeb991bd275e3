package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/spellcoven/gateway/internal/ctxsleep"
)

// window measures the edge's and the bench's CPU around body, and profiles the edge meanwhile if asked.
func (r *runner) window(ctx context.Context, body func(context.Context) error) error {
	var profiling sync.WaitGroup
	var profileErr error
	if r.opts.EdgeProfile != "" {
		profiling.Add(1)
		go func() {
			defer profiling.Done()
			profileErr = r.edge.profileCPU(ctx, r.opts.Duration, r.opts.EdgeProfile)
		}()
	}
	if r.opts.BenchProfile != "" {
		stop, err := profileSelf(r.opts.BenchProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	edge0, err := r.edge.cpu()
	if err != nil {
		return err
	}
	machine0, err := machineBusy()
	if err != nil {
		return err
	}
	abuse0, err := r.abuseCPU()
	if err != nil {
		return err
	}
	self0, start := selfCPU(), r.clock.now()
	fmt.Fprintf(r.progress, "measuring %s for %v\n", r.opts.Mode, r.opts.Duration)
	if err := body(ctx); err != nil {
		return err
	}
	end := r.clock.now()
	edge1, err := r.edge.cpu()
	if err != nil {
		return err
	}
	self1 := selfCPU()
	abuse1, err := r.abuseCPU()
	if err != nil {
		return err
	}
	machine1, err := machineBusy()
	if err != nil {
		return err
	}
	profiling.Wait()
	if profileErr != nil {
		return fmt.Errorf("profiling the edge: %w", profileErr)
	}
	r.report.setWindow(end-start, edge1-edge0, self1-self0, machine1-machine0)
	if r.abuse != nil {
		r.report.abused, r.report.abuseCPU = true, abuse1-abuse0
	}
	return nil
}

// abuseCPU returns the CPU time the abusive clients' process has used so far (0 without one).
func (r *runner) abuseCPU() (time.Duration, error) {
	if r.abuse == nil {
		return 0, nil
	}
	return processCPU(r.abuse.cmd.Process.Pid)
}

// publishAtRate posts the measured events in batches spaced evenly over the duration, waits for every
// client to receive the last one, and returns no earlier than the end of the duration, so that the
// window spans every batch's interval, the last one's included.
func (r *runner) publishAtRate(ctx context.Context) error {
	batches := r.opts.measuredEvents() / r.opts.Batch
	interval := r.opts.Duration / time.Duration(batches)
	start := r.clock.now()
	for i := range batches {
		if err := ctxsleep.Sleep(ctx, start+time.Duration(i)*interval-r.clock.now()); err != nil {
			return err
		}
		if err := r.pub.next(ctx, r.opts.Batch, r.times); err != nil {
			return err
		}
	}
	if err := r.drain(ctx); err != nil {
		return err
	}
	return ctxsleep.Sleep(ctx, start+r.opts.Duration-r.clock.now())
}

// publishFlat posts batches back to back for the duration, then waits for every client (if any) to
// receive the last event.
func (r *runner) publishFlat(ctx context.Context) error {
	start := r.clock.now()
	for r.clock.now()-start < r.opts.Duration {
		if err := r.pub.next(ctx, r.opts.Batch, nil); err != nil {
			return err
		}
	}
	return r.drain(ctx)
}

// drain waits until every client has received the last event posted, or DrainTimeout passed, or a
// client was lost. Missing events are then reported by finish.
func (r *runner) drain(ctx context.Context) error {
	if r.fleet == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.DrainTimeout)
	defer cancel()
	last := r.pub.last
	caughtUp := func(c *client) bool { return c.lastSeq.Load() >= last || !c.alive() }
	for r.fleet.count(caughtUp) < len(r.fleet.clients) {
		if err := ctxsleep.Sleep(ctx, pollInterval); err != nil {
			if ctx.Err() == context.DeadlineExceeded {
				return nil
			}
			return err
		}
	}
	return nil
}

// hold keeps the clients connected and silent for the duration, then measures the edge's memory: by
// then what connecting allocated has been collected and the runtime has had time to return freed
// pages to the system.
func (r *runner) hold(ctx context.Context) error {
	if err := ctxsleep.Sleep(ctx, r.opts.Duration); err != nil {
		return err
	}
	return r.sampleMemoryWith(ctx)
}

// profileSelf starts the bench's CPU profile into path and returns the function that ends it.
func profileSelf(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
