package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat: Linux reports them in USER_HZ, which is
// 100 on every architecture whatever the kernel's own tick rate.
const userHZ = 100

// processCPU returns the CPU time (user + system) that process pid has used so far, from
// /proc/<pid>/stat. Its resolution is 10 ms.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime and stime (fields 14 and 15) of a /proc/<pid>/stat line. The command name
// (field 2) is in parentheses and may itself hold spaces and parentheses, so fields are counted from
// the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("malformed /proc stat line %.60q", stat)
	}
	fields := strings.Fields(string(stat[end+1:]))
	const utime, stime = 14 - 3, 15 - 3 // fields[0] is field 3, the state
	if len(fields) <= stime {
		return 0, fmt.Errorf("malformed /proc stat line %.60q: %d fields after the name", stat, len(fields))
	}
	var ticks uint64
	for _, f := range []string{fields[utime], fields[stime]} {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("malformed /proc stat line: CPU time %q", f)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// machineBusy returns the CPU time all processors of the machine have spent on anything but idling
// since boot, from the first line of /proc/stat.
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseMachineBusy(b)
}

// parseMachineBusy reads "cpu  user nice system idle iowait irq softirq steal guest ..." and sums the
// fields up to steal but idle and iowait (guest time is already in user). Steal counts as busy: it is
// time this machine wanted and did not get.
func parseMachineBusy(stat []byte) (time.Duration, error) {
	line, _, _ := bytes.Cut(stat, []byte{'\n'})
	fields := strings.Fields(string(line))
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, fmt.Errorf("malformed /proc/stat line %.60q", line)
	}
	const idle, iowait = 4, 5
	var ticks uint64
	for i, f := range fields[1:min(len(fields), 9)] {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("malformed /proc/stat line %.60q", line)
		}
		if i+1 != idle && i+1 != iowait {
			ticks += n
		}
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// selfCPU returns the CPU time this process has used so far, to the microsecond.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// processRSS returns the resident set size of process pid in bytes, from VmRSS in /proc/<pid>/status.
func processRSS(pid int) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	v, err := procField(f, "VmRSS:")
	if err != nil {
		return 0, err
	}
	kib, err := strconv.ParseUint(strings.TrimSuffix(v, " kB"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("malformed VmRSS %q", v)
	}
	return kib << 10, nil
}

// openFileLimit returns the soft limit on open files of process pid, from /proc/<pid>/limits.
func openFileLimit(pid int) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	v, err := procField(f, "Max open files")
	if err != nil {
		return 0, err
	}
	soft := strings.Fields(v)
	if len(soft) == 0 {
		return 0, fmt.Errorf("malformed open files limit %q", v)
	}
	if soft[0] == "unlimited" {
		return 1 << 63, nil
	}
	return strconv.ParseUint(soft[0], 10, 64)
}

// procField returns the rest of the first line of r that starts with key, trimmed.
func procField(r io.Reader, key string) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			return strings.TrimSpace(rest), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("no %q line", key)
}

// raiseFileLimit raises this process's soft limit on open files to its hard limit, and fails when
// that is below need. Setting it explicitly also makes child processes (the edge) inherit it: Go
// otherwise restores the original soft limit for the programs it starts.
func raiseFileLimit(need uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("raising the open files limit to %d: %w", lim.Max, err)
	}
	if lim.Cur < need {
		return lim.Cur, fmt.Errorf("the open files limit is %d (hard limit); this run needs %d: raise it (ulimit -Hn) or use fewer clients", lim.Cur, need)
	}
	return lim.Cur, nil
}

// metricsSample is what the bench reads from the edge's Prometheus endpoint.
type metricsSample map[string]float64

// Series of the edge's /metrics the report uses.
const (
	metricHeapInuse   = "go_memstats_heap_inuse_bytes"
	metricHeapAlloc   = "go_memstats_heap_alloc_bytes" // live objects, right after a collection
	metricStackInuse  = "go_memstats_stack_inuse_bytes"
	metricGoroutines  = "go_goroutines"
	metricConnections = "coven_ws_connections"
	metricDelivered   = "coven_events_delivered_total"
	metricMessages    = "coven_ws_messages_total"
	metricEvicted     = "coven_ws_evicted_total"
	metricSockets     = "coven_ws_sockets"
)

// scrapeMetrics fetches url with hc and returns its unlabelled series.
func scrapeMetrics(ctx context.Context, hc *http.Client, url string) (metricsSample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads the Prometheus text format and keeps the series without labels, which are the
// ones the bench needs.
func parseMetrics(r io.Reader) (metricsSample, error) {
	m := metricsSample{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || strings.ContainsRune(line, '{') {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		value, _, _ = strings.Cut(strings.TrimSpace(value), " ") // drop a timestamp
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("metric %s: value %q: %w", name, value, err)
		}
		m[name] = v
	}
	return m, sc.Err()
}

// require returns the named series or an error saying it is missing.
func (m metricsSample) require(names ...string) error {
	for _, n := range names {
		if _, ok := m[n]; !ok {
			return fmt.Errorf("the edge's /metrics has no %s", n)
		}
	}
	return nil
}
