// Benchmark of the Go SDK against a real Miko and real loopback backends:
//
//   - overhead: the same requests through the SDK's HTTP client (endpoint resolved per request)
//     and through a plain net/http client with the backend's fixed address, alternated in rounds
//     within one run, sequential and concurrent; plus the SDK's own CPU cost per request over a
//     stub transport;
//   - failover: the time from a backend's death to the SDK no longer choosing it, while requests
//     flow (the circuit breaker) and while idle (Miko's lease expiry reaching the client), and the
//     errors callers saw.
//
// Usage: npm run build && cd scripts/bench/sdk/go && go run . [-n 40000] [-write=false] [-smoke]
// (-smoke, or MIKO_BENCH_SMOKE=1: 200 requests, one failover run each, short CPU-cost loops,
// nothing written; the run fails unless every figure was measured)
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	miko "github.com/miko-dev/miko/sdk/go"
)

const adminToken = "bench-admin-token-0123456789"

var (
	total       = flag.Int("n", 40000, "requests per client in each overhead mode")
	concurrency = flag.Int("c", 8, "workers in the concurrent mode")
	failRuns    = flag.Int("failover-runs", 5, "backend deaths per failover mode")
	write       = flag.Bool("write", true, "write the results into docs/benchmarks.md")
	smoke       = flag.Bool("smoke", os.Getenv("MIKO_BENCH_SMOKE") == "1", "smallest sizes, a few seconds, nothing written (npm test runs this)")
)

// useSmokeSizes shrinks every step so that the whole run takes seconds.
func useSmokeSizes() {
	*total, *failRuns, *write = 200, 1, false
	// testing.Benchmark reads -test.benchtime; its flags exist once testing.Init has run.
	testing.Init()
	if err := flag.Set("test.benchtime", "2000x"); err != nil {
		die(err)
	}
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	if *smoke {
		useSmokeSizes()
	}
	root, err := findRoot()
	if err != nil {
		die(err)
	}
	m, err := startMiko(root)
	if err != nil {
		die(err)
	}
	running = m
	defer m.stop()

	var out strings.Builder
	fmt.Fprintf(&out, "## SDK: Go\n\n")
	fmt.Fprintf(&out, "`scripts/bench/sdk/go` (`go run .` there, after `npm run build`): a real Miko, loopback backends (`net/http` servers answering 2 bytes), %s, GOMAXPROCS %d, %d CPUs.\n\n",
		runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU())

	overhead(&out, m)
	cpuCost(&out)
	propagation(&out, m)
	failoverWithTraffic(&out, m)
	failoverIdle(&out, m)

	fmt.Print(out.String())
	checkFigures(map[string]float64{
		"worst ratio of p50":             worstRatio,
		"SDK work per request (ns)":      float64(sdkWorkNs),
		"propagation median (ms)":        us(propagationMedian) / 1000,
		"idle failover detection median": us(idleDetectionMedian) / 1000,
	})
	if *write {
		if err := writeSection(root, "sdk-go", out.String()); err != nil {
			die(err)
		}
		log.Printf("written to docs/benchmarks.md")
	}
}

// ---- overhead ----

// Figures the closing verdict and checkFigures need.
var (
	worstRatio          float64
	failoverErrors      int
	sdkWorkNs           int64
	propagationMedian   time.Duration
	idleDetectionMedian time.Duration
)

// checkFigures fails the run unless every figure is a finite number above 0: a benchmark that
// ran but measured nothing must not pass its smoke run.
func checkFigures(figures map[string]float64) {
	for name, value := range figures {
		if !(value > 0) || math.IsInf(value, 0) {
			die(fmt.Errorf("figure missing or invalid: %s = %v", name, value))
		}
	}
	mode := ""
	if *smoke {
		mode = " (smoke mode)"
	}
	log.Printf("sdk/go: %d figures measured%s", len(figures), mode)
}

func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 64
	t.ResponseHeaderTimeout = 10 * time.Second
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return t
}

func overhead(out *strings.Builder, m *mikoProc) {
	backend := startBackend()
	defer backend.Close()
	m.register("bench", map[string]any{"publicAddress": "http://" + backend.Addr})

	// The SDK with its own transport (the default); the plain client with a transport of the same
	// pool size and timeouts, so that the difference is the SDK's work.
	c, err := miko.New(m.url, miko.WithToken(""))
	if err != nil {
		die(err)
	}
	defer c.Close()
	if _, err := c.Pick(context.Background(), "bench"); err != nil {
		die(err)
	}
	plain := &http.Client{Transport: newTransport()}
	sdk := c.HTTPClient()
	plainURL := "http://" + backend.Addr + "/ping"
	sdkURL := "http://bench/ping"

	fmt.Fprintf(out, "### Overhead per request\n\n")
	fmt.Fprintf(out, "%d GET requests per client and mode after a warm-up, plain and SDK requests interleaved one by one (each worker alternates, so both clients meet the same load from other processes on the machine). The plain client is `net/http` with the backend's fixed address and a transport with the same pool size and timeouts as the SDK's own. Each request is timed from `Do` to the body read and closed.\n\n", *total)
	fmt.Fprintf(out, "| mode | plain mean µs | SDK mean µs | ratio of means | plain p50 µs | SDK p50 µs | ratio of p50 |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, workers := range []int{1, *concurrency} {
		run := func(n int) (plainTimes, sdkTimes []time.Duration) {
			var mu sync.Mutex
			var wg sync.WaitGroup
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var ps, ss []time.Duration
					for i := 0; i < n/workers; i++ {
						for k := 0; k < 2; k++ {
							client, url := plain, plainURL
							if (i+k+w)%2 == 1 {
								client, url = sdk, sdkURL
							}
							start := time.Now()
							if err := fetch(client, url); err != nil {
								die(err)
							}
							d := time.Since(start)
							if client == plain {
								ps = append(ps, d)
							} else {
								ss = append(ss, d)
							}
						}
					}
					mu.Lock()
					plainTimes = append(plainTimes, ps...)
					sdkTimes = append(sdkTimes, ss...)
					mu.Unlock()
				}()
			}
			wg.Wait()
			return plainTimes, sdkTimes
		}
		run(min(3000, *total))
		ps, ss := run(*total)
		pm, sm := mean(ps), mean(ss)
		pp, sp := median(ps), median(ss)
		mode := "sequential (1 worker)"
		if workers > 1 {
			mode = fmt.Sprintf("concurrent (%d workers)", workers)
		}
		worstRatio = max(worstRatio, float64(sp)/float64(pp))
		fmt.Fprintf(out, "| %s | %.1f | %.1f | **%.3f** | %.1f | %.1f | **%.3f** |\n", mode, us(pm), us(sm), float64(sm)/float64(pm), us(pp), us(sp), float64(sp)/float64(pp))
	}
	fmt.Fprintln(out)
}

func mean(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }

func fetch(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// stubTransport answers at once without a network: what is left is the SDK's own work.
type stubTransport struct{}

func (stubTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Body: http.NoBody, Request: req}, nil
}

func cpuCost(out *strings.Builder) {
	// A Miko that is never asked: the list is served by a tiny fake so the stub measures only
	// the per-request path.
	fake := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("index") != "" {
			<-r.Context().Done()
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"index":1,"services":{"stub":[{"id":"a","service":"stub","publicAddress":"http://10.0.0.1:80","protocol":"http","weight":1,"tags":[],"metadata":{},"status":"passing","source":"registered","registeredAt":"2026-01-01T00:00:00Z","lastSeenAt":"2026-01-01T00:00:00Z"},{"id":"b","service":"stub","publicAddress":"http://10.0.0.2:80","protocol":"http","weight":1,"tags":[],"metadata":{},"status":"passing","source":"registered","registeredAt":"2026-01-01T00:00:00Z","lastSeenAt":"2026-01-01T00:00:00Z"}]}}`)
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		die(err)
	}
	go fake.Serve(l)
	defer fake.Close()
	newClient := func(opts ...miko.Option) *miko.Client {
		c, err := miko.New(l.Addr().String(), append([]miko.Option{miko.WithToken(""), miko.WithTransport(stubTransport{})}, opts...)...)
		if err != nil {
			die(err)
		}
		if err := c.Ready(context.Background()); err != nil {
			die(err)
		}
		return c
	}
	// With its own transport the SDK leaves the attempt timeout to that transport; over a
	// transport given with WithTransport it guards each attempt itself.
	plainPath := newClient(miko.WithAttemptTimeout(0))
	defer plainPath.Close()
	guarded := newClient()
	defer guarded.Close()
	bench := func(rt http.RoundTripper, url string) testing.BenchmarkResult {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		return testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				resp, err := rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
			}
		})
	}
	pick := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		for i := 0; i < b.N; i++ {
			if _, err := plainPath.Pick(ctx, "stub"); err != nil {
				b.Fatal(err)
			}
		}
	})
	rd := bench(stubTransport{}, "http://10.0.0.1:80/ping")
	rs := bench(plainPath.Transport(), "http://stub/ping")
	rg := bench(guarded.Transport(), "http://stub/ping")
	sdkWorkNs = rs.NsPerOp() - rd.NsPerOp()
	fmt.Fprintf(out, "The SDK's own CPU cost, over a stub transport that answers without a network (`testing.Benchmark`): `Pick` %d ns/op, %d allocs. `RoundTrip` %d ns/op and %d allocs against %d ns/op and %d alloc for the stub alone: **%d ns** of SDK work per request (lookup, pick, request copy and rewrite). Over a transport given with `WithTransport` the SDK also guards each attempt with its own timer and context: %d ns/op, %d allocs.\n\n",
		pick.NsPerOp(), pick.AllocsPerOp(), rs.NsPerOp(), rs.AllocsPerOp(), rd.NsPerOp(), rd.AllocsPerOp(), rs.NsPerOp()-rd.NsPerOp(), rg.NsPerOp(), rg.AllocsPerOp())
}

// ---- propagation ----

func propagation(out *strings.Builder, m *mikoProc) {
	c, err := miko.New(m.url, miko.WithToken(""))
	if err != nil {
		die(err)
	}
	defer c.Close()
	if err := c.Ready(context.Background()); err != nil {
		die(err)
	}
	var samples []time.Duration
	for i := 0; i < 20; i++ {
		service := fmt.Sprintf("prop-%d", i)
		start := time.Now()
		m.register(service, map[string]any{"publicAddress": "127.0.0.1:1"})
		for {
			if _, err := c.Pick(context.Background(), service); err == nil {
				break
			}
			time.Sleep(200 * time.Microsecond)
		}
		samples = append(samples, time.Since(start))
	}
	propagationMedian = median(samples)
	fmt.Fprintf(out, "### Changes reaching the client\n\nFrom sending a registration to Miko until `Pick` on an already running client finds it (blocking query), 20 samples: median **%s**, max %s.\n\n",
		ms(median(samples)), ms(slices.Max(samples)))
}

// ---- failover ----

type hostLog struct {
	mu       sync.Mutex
	attempts map[string][]time.Time
}

type loggingTransport struct {
	base http.RoundTripper
	log  *hostLog
}

func (t loggingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.log.mu.Lock()
	t.log.attempts[req.URL.Host] = append(t.log.attempts[req.URL.Host], time.Now())
	t.log.mu.Unlock()
	return t.base.RoundTrip(req)
}

func failoverWithTraffic(out *strings.Builder, m *mikoProc) {
	fmt.Fprintf(out, "### Failover\n\n")
	fmt.Fprintf(out, "Three backends of one service; %d workers send GET requests in a loop through the SDK (default settings: 3 attempts, 10 s cool-down); one backend is closed abruptly (listener and connections) after 300 ms, and the loop runs 1 s more. *Detection* is the time from the close to the last attempt the SDK sent to the dead backend; after it, the backend is no longer chosen (0 attempts: a request in flight at the close failed, marked it down and was retried elsewhere). %d runs.\n\n", 4, *failRuns)
	fmt.Fprintf(out, "| run | requests | caller-visible errors | attempts on the dead backend after its death | detection |\n| ---: | ---: | ---: | ---: | ---: |\n")
	var detections []time.Duration
	totalErrors := 0
	for run := 1; run <= *failRuns; run++ {
		service := fmt.Sprintf("failover-%d", run)
		backends := []*backendProc{startBackend(), startBackend(), startBackend()}
		for _, b := range backends {
			m.register(service, map[string]any{"publicAddress": "http://" + b.Addr})
		}
		hl := &hostLog{attempts: map[string][]time.Time{}}
		c, err := miko.New(m.url, miko.WithToken(""), miko.WithTransport(loggingTransport{base: newTransport(), log: hl}))
		if err != nil {
			die(err)
		}
		for {
			eps, _ := c.Endpoints(context.Background(), service)
			if len(eps) == 3 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		hc := c.HTTPClient()
		url := "http://" + service + "/ping"
		var stop atomic.Bool
		var requests, failures atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					requests.Add(1)
					if err := fetch(hc, url); err != nil {
						failures.Add(1)
					}
				}
			}()
		}
		time.Sleep(300 * time.Millisecond)
		victim := backends[1]
		t0 := time.Now()
		victim.Close()
		time.Sleep(time.Second)
		stop.Store(true)
		wg.Wait()
		c.Close()
		for _, b := range backends {
			b.Close()
		}
		hl.mu.Lock()
		var after []time.Time
		for _, at := range hl.attempts[victim.Addr] {
			if at.After(t0) {
				after = append(after, at)
			}
		}
		hl.mu.Unlock()
		detection := time.Duration(0)
		if len(after) > 0 {
			detection = after[len(after)-1].Sub(t0)
		}
		detections = append(detections, detection)
		totalErrors += int(failures.Load())
		fmt.Fprintf(out, "| %d | %d | %d | %d | %s |\n", run, requests.Load(), failures.Load(), len(after), ms(detection))
	}
	failoverErrors = totalErrors
	fmt.Fprintf(out, "\nWith traffic: detection median **%s**, max %s; **%d** caller-visible errors in all.\n\n", ms(median(detections)), ms(slices.Max(detections)), totalErrors)
}

func failoverIdle(out *strings.Builder, m *mikoProc) {
	const ttl = time.Second
	var detections []time.Duration
	for run := 1; run <= *failRuns; run++ {
		service := fmt.Sprintf("idle-%d", run)
		live := startBackend()
		victim := startBackend()
		m.register(service, map[string]any{"publicAddress": "http://" + live.Addr})
		id := m.register(service, map[string]any{"publicAddress": "http://" + victim.Addr, "ttl": "1s"})
		ctx, cancel := context.WithCancel(context.Background())
		beats := make(chan struct{})
		go func() {
			defer close(beats)
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(ttl / 3):
					m.call(http.MethodPut, "/v1/services/"+service+"/endpoints/"+id+"/heartbeat", nil, nil)
				}
			}
		}()
		c, err := miko.New(m.url, miko.WithToken(""))
		if err != nil {
			die(err)
		}
		if err := c.Ready(context.Background()); err != nil {
			die(err)
		}
		// A random point in the heartbeat cycle.
		time.Sleep(time.Duration(500+run*97) * time.Millisecond)
		t0 := time.Now()
		victim.Close()
		cancel()
		<-beats
		for chosen(c, service, id) {
			time.Sleep(time.Millisecond)
		}
		detections = append(detections, time.Since(t0))
		c.Close()
		live.Close()
	}
	idleDetectionMedian = median(detections)
	fmt.Fprintf(out, "Without traffic nothing fails a request, so the news comes from Miko: the dying backend's lease (ttl 1 s, heartbeats every ttl/3) lapses, Miko marks it critical (its sweep runs every 250 ms) and the blocking query brings the change. From the death (last heartbeat at most ttl/3 earlier) until `Pick` can no longer choose it, %d runs: median **%s**, max %s (bounded by ttl + sweep + propagation).\n\n",
		*failRuns, ms(median(detections)), ms(slices.Max(detections)))
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "not met"
	}
	fmt.Fprintf(out, "Goal: under 5%% overhead (here at most %+.1f%%, ratio of medians, which other processes' bursts on the shared machine disturb least: %s), failover with zero caller-visible errors (%d: %s).\n",
		(worstRatio-1)*100, verdict(worstRatio < 1.05), failoverErrors, verdict(failoverErrors == 0))
}

func chosen(c *miko.Client, service, id string) bool {
	eps, err := c.Endpoints(context.Background(), service)
	if err != nil {
		return false
	}
	for _, e := range eps {
		if e.ID == id && e.Passing() {
			return true
		}
	}
	return false
}

// ---- processes ----

type backendProc struct {
	Addr string
	srv  *http.Server
}

func startBackend() *backendProc {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		die(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})}
	go srv.Serve(l)
	return &backendProc{Addr: l.Addr().String(), srv: srv}
}

// Close stops the backend abruptly: listener and connections.
func (b *backendProc) Close() { b.srv.Close() }

type mikoProc struct {
	url  string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	logs lockedBuffer
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// running is the Miko under test, whose output is shown when the benchmark fails.
var running *mikoProc

func die(err error) {
	if running != nil {
		select {
		case <-running.done:
			log.Printf("Miko exited (%v); its output:\n%s", running.cmd.ProcessState, running.logs.String())
		default:
			running.stop()
		}
	}
	log.Fatal(err)
}

func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "bin", "miko.js")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "dist", "miko.mjs")); err != nil {
				return "", errors.New("Miko is not built: run npm run build at the repository root")
			}
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root (bin/miko.js) not found above the working directory")
		}
		dir = parent
	}
}

func startMiko(root string) (*mikoProc, error) {
	dir, err := os.MkdirTemp("", "miko-bench-go-")
	if err != nil {
		return nil, err
	}
	config := fmt.Sprintf("http: { port: 0 }\ngeneral: { dataDir: ./data, shutdownTimeout: 2s }\nauth: { tokens: [ { name: bench, secret: %q, roles: [admin] } ] }\n", adminToken)
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(config), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(root, "bin", "miko.js"), "serve")
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MIKO_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	m := &mikoProc{dir: dir, cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = &m.logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	found := make(chan string, 1)
	pattern := regexp.MustCompile(`Listening on (http://\S+)`)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(&m.logs, sc.Text())
			if match := pattern.FindStringSubmatch(sc.Text()); match != nil {
				select {
				case found <- match[1]:
				default:
				}
			}
		}
		cmd.Wait()
		close(m.done)
	}()
	select {
	case m.url = <-found:
		return m, nil
	case <-m.done:
		return nil, fmt.Errorf("miko exited: %s", m.logs.String())
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		return nil, errors.New("miko did not start within 30s")
	}
}

func (m *mikoProc) stop() {
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		m.cmd.Process.Kill()
	}
	os.RemoveAll(m.dir)
}

func (m *mikoProc) call(method, path string, in, out any) int {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, m.url+path, body)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		_ = json.Unmarshal(data, out)
	}
	return resp.StatusCode
}

func (m *mikoProc) register(service string, reg map[string]any) string {
	var ep struct{ ID string }
	if code := m.call(http.MethodPost, "/v1/services/"+service+"/endpoints", reg, &ep); code != 201 && code != 200 {
		die(fmt.Errorf("registering in %s: status %d", service, code))
	}
	return ep.ID
}

// ---- output ----

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

// writeSection replaces (or appends) the section between <!-- bench:name --> markers in
// docs/benchmarks.md, leaving the other sections alone.
func writeSection(root, name, markdown string) error {
	file := filepath.Join(root, "docs", "benchmarks.md")
	start, end := "<!-- bench:"+name+" -->", "<!-- /bench:"+name+" -->"
	block := start + "\n" + strings.TrimSpace(markdown) + "\n" + end
	data, err := os.ReadFile(file)
	text := string(data)
	if errors.Is(err, os.ErrNotExist) {
		text = "# Benchmarks\n\nEvery figure below comes from one run of the named script on the project's 2-core machine, the measured subject side by side with its baseline in the same run.\n"
	} else if err != nil {
		return err
	}
	from, to := strings.Index(text, start), strings.Index(text, end)
	if from != -1 && to != -1 {
		text = text[:from] + block + text[to+len(end):]
	} else {
		text = strings.TrimRight(text, "\n") + "\n\n" + block + "\n"
	}
	return os.WriteFile(file, []byte(text), 0o644)
}
