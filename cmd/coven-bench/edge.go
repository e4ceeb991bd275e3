package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spellcoven/gateway/auth/authtest"
	"github.com/spellcoven/gateway/internal/edgeproc"
)

// bodyOverhead is more than the envelope, separators and batch wrapper add to an event's payload in a
// webhook body; the edge's body limit is sized from it.
const bodyOverhead = 512

// minMaxBody is the least body limit the edge gets, room enough for the snapshot.
const minMaxBody = 64 << 10

// stopGrace is how long the edge has to exit after SIGTERM before it is killed.
const stopGrace = 10 * time.Second

// edge is the Caddy process under test with the identity provider its clients authenticate against.
type edge struct {
	proc *edgeproc.Process
	idp  *authtest.Server
	dir  string       // the edge's files, removed by close
	http *http.Client // for metrics and profiles, with connections of its own that close releases
}

// startEdge serves a JWKS from an in-process issuer and starts the edge on free ports of 127.0.0.1,
// configured as the production Caddyfile is where it matters for cost: no access log, no per-request
// HTTP metrics (unless opts.HTTPMetrics), logs at WARN. The edge inherits this process's open files
// limit.
func startEdge(bin string, opts Options) (*edge, error) {
	dir, err := os.MkdirTemp("", "coven-bench-")
	if err != nil {
		return nil, err
	}
	e := &edge{dir: dir, http: &http.Client{Transport: &http.Transport{}}}
	if e.idp, err = startIssuer(); err != nil {
		e.close()
		return nil, err
	}
	var l edgeproc.Layout
	l.Dir = dir
	if l.Port, err = edgeproc.PickPort(); err == nil {
		l.AdminPort, err = edgeproc.PickPort()
	}
	if err != nil {
		e.close()
		return nil, err
	}
	cfg := edgeproc.Config{
		Bin:           bin,
		JWKSURL:       e.idp.JWKSURL(),
		Issuer:        e.idp.Issuer.URL(),
		LogLevel:      "WARN",
		NoAccessLog:   true,
		NoHTTPMetrics: !opts.HTTPMetrics,
		MaxBody:       strconv.Itoa(max(opts.Batch*(opts.PayloadBytes+bodyOverhead)+bodyOverhead, minMaxBody)),
	}
	// Every client connects from 127.0.0.1, many at once: the per-address limits, meant for the
	// internet, would refuse them.
	perIP := strconv.Itoa(opts.Clients + opts.Abusive + fdMargin)
	cfg.WS = "max_per_ip " + perIP + "\nmax_unauthenticated " + perIP
	if opts.SoakTimers {
		cfg.WS += fmt.Sprintf("\nping_interval %v\nping_timeout %v\nauth_timeout %v", abusePingInterval, abusePingTimeout, abuseAuthTimeout)
	}
	if opts.AcceptRate > 0 {
		// Paced as the production Caddyfile paces new connections.
		cfg.Servers = fmt.Sprintf("listener_wrappers {\ncoven_accept {\nrate %d\nburst %d\n}\n}", opts.AcceptRate, opts.AcceptBurst)
	}
	if opts.QueueLength > 0 {
		cfg.Global = "queue_length " + strconv.Itoa(opts.QueueLength)
	}
	if e.proc, err = edgeproc.StartProcess(cfg, l); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// startIssuer starts an identity provider on 127.0.0.1. It signs with ES256, whose signatures cost
// far less to make than RS256's when thousands of clients need a token each.
func startIssuer() (*authtest.Server, error) {
	port, err := edgeproc.PickPort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	issuer, err := authtest.NewIssuer("http://"+addr, authtest.WithAlgorithm(authtest.ES256))
	if err != nil {
		return nil, err
	}
	return issuer.Start(addr)
}

// token mints the token of client i, valid for ttl.
func (e *edge) token(i int, ttl time.Duration) (string, error) {
	return e.tokenFor("bench-user-"+strconv.Itoa(i), ttl)
}

// tokenFor mints a token for subject sub, valid for ttl.
func (e *edge) tokenFor(sub string, ttl time.Duration) (string, error) {
	return e.idp.Issuer.MintFor(sub, edgeproc.Audience, ttl, nil)
}

// close stops the edge and the identity provider and removes the edge's files.
func (e *edge) close() error {
	var errs []error
	if e.proc != nil {
		errs = append(errs, e.proc.Stop(syscall.SIGTERM, stopGrace))
	}
	if e.idp != nil {
		errs = append(errs, e.idp.Close())
	}
	e.http.CloseIdleConnections()
	errs = append(errs, os.RemoveAll(e.dir))
	return errors.Join(errs...)
}

// alive returns an error with the edge's last logs if it has exited.
func (e *edge) alive() error {
	select {
	case <-e.proc.Done():
		return fmt.Errorf("the edge exited:\n%s", tail(e.proc.Logs.String(), 4000))
	default:
		return nil
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// MemorySample is the edge's memory at one moment. HeapInuse counts the heap's spans in use, free
// slots within them included; HeapLive counts only the objects the collection kept.
type MemorySample struct {
	RSS        uint64 `json:"rss_bytes"`
	HeapInuse  uint64 `json:"heap_inuse_bytes"`
	HeapLive   uint64 `json:"heap_live_bytes"`
	StackInuse uint64 `json:"stack_inuse_bytes"`
}

// sampleMemory runs garbage collections in the edge (through pprof's heap endpoint, which collects
// before profiling with gc=1) so that the heap holds only live memory, then reads its RSS and its Go
// heap and stack in use.
func (e *edge) sampleMemory(ctx context.Context) (MemorySample, error) {
	// Two collections: the first moves sync.Pool contents (buffers kept for reuse, not live memory)
	// to the pools' victim caches, the second frees them.
	for range 2 {
		if err := e.get(ctx, e.proc.AdminURL("/debug/pprof/heap?gc=1"), io.Discard); err != nil {
			return MemorySample{}, err
		}
	}
	rss, err := processRSS(e.proc.Pid())
	if err != nil {
		return MemorySample{}, err
	}
	m, err := e.metrics(ctx)
	if err != nil {
		return MemorySample{}, err
	}
	if err := m.require(metricHeapInuse, metricHeapAlloc, metricStackInuse); err != nil {
		return MemorySample{}, err
	}
	return MemorySample{RSS: rss, HeapInuse: uint64(m[metricHeapInuse]), HeapLive: uint64(m[metricHeapAlloc]), StackInuse: uint64(m[metricStackInuse])}, nil
}

// metrics scrapes the edge's /metrics.
func (e *edge) metrics(ctx context.Context) (metricsSample, error) {
	return scrapeMetrics(ctx, e.http, e.proc.URL("/metrics"))
}

// cpu returns the CPU time the edge has used so far.
func (e *edge) cpu() (time.Duration, error) { return processCPU(e.proc.Pid()) }

// profileCPU records the edge's CPU profile for d into path, through the admin API's pprof endpoint.
func (e *edge) profileCPU(ctx context.Context, d time.Duration, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	secs := max(int(d.Round(time.Second)/time.Second), 1)
	err = e.get(ctx, e.proc.AdminURL("/debug/pprof/profile?seconds="+strconv.Itoa(secs)), f)
	return errors.Join(err, f.Close())
}

// profileHeap writes the edge's heap profile into path.
func (e *edge) profileHeap(ctx context.Context, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = e.get(ctx, e.proc.AdminURL("/debug/pprof/heap"), f)
	return errors.Join(err, f.Close())
}

func (e *edge) get(ctx context.Context, url string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// caddyBinary returns opts.Caddy, or builds ./cmd/caddy of the module the working directory is in
// into dir.
func caddyBinary(caddy, dir string) (string, error) {
	if caddy != "" {
		return caddy, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	return edgeproc.BuildCaddy(root, dir)
}

// moduleRoot finds the directory of the go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from the repository or pass -caddy")
		}
		dir = parent
	}
}
