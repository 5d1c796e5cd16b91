package miko_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Tokens configured in every Miko the tests start.
const (
	adminToken    = "admin-token-0123456789"
	internalToken = "internal-token-0123456789"
	registerToken = "register-token-0123456789"
	billingToken  = "billing-token-0123456789"  // reads and writes the keys under billing/ only
	readerToken   = "billing-reader-0123456789" // only reads them: secret values are hidden from it
)

const mikoConfig = `http: { port: %d }
general: { dataDir: ./data, shutdownTimeout: 2s }
registry: { deregisterCriticalAfter: 1m }
auth:
  tokens:
    - { name: admin, secret: "admin-token-0123456789", roles: [admin] }
    - { name: mesh, secret: "internal-token-0123456789", roles: [internal] }
    - { name: reg, secret: "register-token-0123456789", roles: [register] }
    - { name: billing, secret: "billing-token-0123456789", roles: [internal], kv: [{ prefix: billing/, access: write }] }
    - { name: billing-reader, secret: "billing-reader-0123456789", roles: [internal], kv: [{ prefix: billing/, access: read }] }
`

// mikoServer is a real Miko (node bin/miko.js serve) in its own directory.
type mikoServer struct {
	URL  string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // exit status, once done is closed
	logs *lockedBuffer
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

// repoRoot is the repository root: two levels above this package.
func repoRoot() (string, error) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(root, "bin", "miko.js")); err != nil {
		return "", fmt.Errorf("bin/miko.js not found under %s: %w", root, err)
	}
	if _, err := os.Stat(filepath.Join(root, "dist", "miko.mjs")); err != nil {
		return "", fmt.Errorf("Miko is not built (run npm run build at the repository root): %w", err)
	}
	return root, nil
}

var listening = regexp.MustCompile(`Listening on (http://\S+)`)

// startMiko starts Miko in dir (created if needed) on port (0 = any free port) and waits until
// it listens.
func startMiko(dir string, port int) (*mikoServer, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("node is needed to run Miko: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(fmt.Sprintf(mikoConfig, port)), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(node, filepath.Join(root, "bin", "miko.js"), "serve")
	cmd.Dir = dir
	cmd.SysProcAttr = procAttr()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MIKO_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	m := &mikoServer{dir: dir, cmd: cmd, done: make(chan struct{}), logs: &lockedBuffer{}}
	cmd.Stderr = m.logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(m.logs, line)
			if match := listening.FindStringSubmatch(line); match != nil {
				select {
				case found <- match[1]:
				default:
				}
			}
		}
		m.err = cmd.Wait()
		close(m.done)
	}()
	select {
	case u := <-found:
		m.URL = u
		return m, nil
	case <-m.done:
		return nil, fmt.Errorf("miko exited before listening (%v):\n%s", m.err, m.logs)
	case <-time.After(30 * time.Second):
		m.kill()
		return nil, fmt.Errorf("miko did not listen within 30s:\n%s", m.logs)
	}
}

// stop sends SIGTERM and waits for the exit; Miko exits 0 on a clean shutdown.
func (m *mikoServer) stop() error {
	select {
	case <-m.done:
		return m.err
	default:
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
		return m.err
	case <-time.After(15 * time.Second):
		m.kill()
		return errors.New("miko did not stop within 15s of SIGTERM")
	}
}

func (m *mikoServer) kill() {
	_ = m.cmd.Process.Kill()
	<-m.done
}

// api calls Miko's HTTP API directly (not through the SDK) and decodes a JSON answer.
func (m *mikoServer) api(t testing.TB, method, path, token string, in, out any) int {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, m.URL+path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return resp.StatusCode
}

// register registers an endpoint with the admin token and returns its id.
func (m *mikoServer) register(t testing.TB, service string, reg map[string]any) string {
	t.Helper()
	var ep struct{ ID string }
	if code := m.api(t, http.MethodPost, "/v1/services/"+service+"/endpoints", adminToken, reg, &ep); code != 201 && code != 200 {
		t.Fatalf("registering in %s: status %d", service, code)
	}
	return ep.ID
}

// serviceStatus lists the endpoints of a service as Miko reports them to the admin: id → status.
func (m *mikoServer) serviceStatus(t testing.TB, service string) map[string]string {
	t.Helper()
	var detail struct {
		Endpoints []struct{ ID, Status string }
	}
	out := map[string]string{}
	if code := m.api(t, http.MethodGet, "/v1/services/"+service, adminToken, nil, &detail); code == 404 {
		return out
	} else if code != 200 {
		t.Fatalf("GET service %s: %d", service, code)
	}
	for _, e := range detail.Endpoints {
		out[e.ID] = e.Status
	}
	return out
}

var (
	sharedOnce sync.Once
	shared     *mikoServer
	sharedErr  error
	sharedDir  string
)

// sharedMiko is one Miko for the tests that do not stop or restart it; each test uses its own
// service names.
func sharedMiko(t testing.TB) *mikoServer {
	t.Helper()
	sharedOnce.Do(func() {
		sharedDir, sharedErr = os.MkdirTemp("", "miko-go-sdk-")
		if sharedErr == nil {
			shared, sharedErr = startMiko(sharedDir, 0)
		}
	})
	if sharedErr != nil {
		t.Fatalf("starting Miko: %v", sharedErr)
	}
	return shared
}

// ownMiko starts a Miko for one test, stopped at the test's end.
func ownMiko(t testing.TB, dir string, port int) *mikoServer {
	t.Helper()
	m, err := startMiko(dir, port)
	if err != nil {
		t.Fatalf("starting Miko: %v", err)
	}
	t.Cleanup(func() { _ = m.stop() })
	return m
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		if err := shared.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping Miko: %v\n", err)
		}
	}
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
	os.Exit(code)
}

// backend is a real HTTP server standing for one instance of a service.
type backend struct {
	name string
	srv  *httptest.Server
	hits atomic.Int64
}

// newBackend answers its name on any path; /echo answers the request body; /slow waits for the
// request to be cancelled; paths under /fail answer 503.
func newBackend(t testing.TB, name string) *backend {
	t.Helper()
	b := &backend{name: name}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		switch r.URL.Path {
		case "/echo":
			data, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s:%s", b.name, data)
		case "/slow":
			<-r.Context().Done()
		default:
			if strings.HasPrefix(r.URL.Path, "/fail") {
				http.Error(w, "unavailable", http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, b.name)
		}
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) addr() string { return b.srv.Listener.Addr().String() }

// countingTransport counts the attempts per host:port that reach the network layer.
type countingTransport struct {
	base  http.RoundTripper
	mu    sync.Mutex
	count map[string]int
}

func newCountingTransport() *countingTransport {
	return &countingTransport{base: http.DefaultTransport.(*http.Transport).Clone(), count: map[string]int{}}
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.count[req.URL.Host]++
	c.mu.Unlock()
	return c.base.RoundTrip(req)
}

func (c *countingTransport) attempts(host string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count[host]
}

func (c *countingTransport) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.count = map[string]int{}
}

// freePort finds a port nothing listens on.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func get(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(data), fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(data), nil
}

var nameSeq atomic.Int64

// namer gives each test its own service names on the shared Miko, also across -count runs:
// svc("trio") is the same name within one test run and a new one in the next.
func namer() func(string) string {
	names := map[string]string{}
	var mu sync.Mutex
	return func(base string) string {
		mu.Lock()
		defer mu.Unlock()
		if n, ok := names[base]; ok {
			return n
		}
		n := fmt.Sprintf("%s-%d", base, nameSeq.Add(1))
		names[base] = n
		return n
	}
}
