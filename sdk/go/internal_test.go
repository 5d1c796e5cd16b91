package miko

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// offlineClient is a Client without a Miko: its list is set by the test.
func offlineClient(t *testing.T, opts ...Option) *Client {
	t.Helper()
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if !cfg.strategySet && cfg.zone != "" {
		cfg.strategy = ZoneFirst
	}
	c := &Client{cfg: cfg, counters: map[string]*atomic.Uint64{}, regs: map[*Registered]struct{}{}, log: slog.New(slog.DiscardHandler)}
	c.fresh.init()
	c.fresh.settle()
	c.backend = cfg.transport
	c.tr = &Transport{c: c}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	t.Cleanup(c.cancel)
	return c
}

func (c *Client) setList(t *testing.T, index uint64, endpoints ...wireEndpoint) {
	t.Helper()
	list := &wireList{Index: index, Services: map[string][]wireEndpoint{}}
	for _, e := range endpoints {
		if e.Status == "" {
			e.Status = StatusPassing
		}
		list.Services[e.Service] = append(list.Services[e.Service], e)
	}
	next := c.build(list, "")
	c.breaker.onList(c.snap.Load(), next)
	c.snap.Store(next)
}

func ep(service, id, addr string) wireEndpoint {
	return wireEndpoint{ID: id, Service: service, PublicAddress: addr, Protocol: "http", Weight: 1, LastSeenAt: "2026-01-01T00:00:00Z"}
}

func countPicks(t *testing.T, c *Client, service string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for i := 0; i < n; i++ {
		e, err := c.Pick(context.Background(), service)
		if err != nil {
			t.Fatal(err)
		}
		got[e.ID]++
	}
	return got
}

func TestRoundRobin(t *testing.T) {
	c := offlineClient(t)
	critical := ep("s", "d", "10.0.0.4:80")
	critical.Status = StatusCritical
	c.setList(t, 1, ep("s", "a", "10.0.0.1:80"), ep("s", "b", "10.0.0.2:80"), ep("s", "c", "10.0.0.3:80"), critical)
	got := countPicks(t, c, "s", 300)
	if got["a"] != 100 || got["b"] != 100 || got["c"] != 100 || got["d"] != 0 {
		t.Fatalf("round-robin: %v", got)
	}
}

func TestWeightedRandom(t *testing.T) {
	c := offlineClient(t, WithStrategy(WeightedRandom))
	light, heavy, drained := ep("s", "light", "10.0.0.1:80"), ep("s", "heavy", "10.0.0.2:80"), ep("s", "drained", "10.0.0.3:80")
	light.Weight, heavy.Weight, drained.Weight = 1, 3, 0
	c.setList(t, 1, light, heavy, drained)
	got := countPicks(t, c, "s", 4000)
	share := float64(got["heavy"]) / 4000
	if share < 0.65 || share > 0.85 || got["drained"] != 0 {
		t.Fatalf("weighted: %v (heavy share %.2f)", got, share)
	}
}

func TestZoneFirst(t *testing.T) {
	c := offlineClient(t, WithZone("eu-1"))
	near1, near2, far := ep("s", "near1", "10.0.0.1:80"), ep("s", "near2", "10.0.0.2:80"), ep("s", "far", "10.0.0.3:80")
	near1.Zone, near2.Zone, far.Zone = "eu-1", "eu-1", "us-1"
	c.setList(t, 1, far, near1, near2)
	if got := countPicks(t, c, "s", 100); got["far"] != 0 || got["near1"] != 50 {
		t.Fatalf("zone-first: %v", got)
	}
	// Both in-zone endpoints failed: the other zone takes over.
	e := c.snap.Load().services["s"]
	for _, x := range e.endpoints {
		if x.Zone == "eu-1" {
			c.breaker.markDown(x, time.Minute)
		}
	}
	if got := countPicks(t, c, "s", 10); got["far"] != 10 {
		t.Fatalf("zone-first with the zone down: %v", got)
	}
}

func TestBreaker(t *testing.T) {
	c := offlineClient(t)
	c.setList(t, 1, ep("s", "a", "10.0.0.1:80"), ep("s", "b", "10.0.0.2:80"))
	a := c.snap.Load().services["s"].endpoints[0]
	c.breaker.markDown(a, time.Minute)
	if got := countPicks(t, c, "s", 10); got["a"] != 0 {
		t.Fatalf("marked endpoint picked: %v", got)
	}
	// A new index where a is passing with the same lastSeenAt: no news, the mark stays.
	c.setList(t, 2, ep("s", "a", "10.0.0.1:80"), ep("s", "b", "10.0.0.2:80"), ep("t", "x", "10.0.0.9:80"))
	if got := countPicks(t, c, "s", 10); got["a"] != 0 {
		t.Fatalf("mark cleared without news: %v", got)
	}
	// Miko heard from it since (newer lastSeenAt): the mark clears.
	fresh := ep("s", "a", "10.0.0.1:80")
	fresh.LastSeenAt = "2026-01-01T00:01:00Z"
	c.setList(t, 3, fresh, ep("s", "b", "10.0.0.2:80"))
	if got := countPicks(t, c, "s", 10); got["a"] != 5 {
		t.Fatalf("mark not cleared by a newer lastSeenAt: %v", got)
	}
	// Critical, then passing again: the mark clears.
	a = c.snap.Load().services["s"].endpoints[0]
	c.breaker.markDown(a, time.Minute)
	sick := fresh
	sick.Status = StatusCritical
	c.setList(t, 4, sick, ep("s", "b", "10.0.0.2:80"))
	c.setList(t, 5, fresh, ep("s", "b", "10.0.0.2:80"))
	if got := countPicks(t, c, "s", 10); got["a"] != 5 {
		t.Fatalf("mark not cleared by passing again: %v", got)
	}
	// Every passing endpoint marked: picks go on (fail open) rather than fail.
	for _, x := range c.snap.Load().services["s"].endpoints {
		c.breaker.markDown(x, time.Minute)
	}
	if got := countPicks(t, c, "s", 10); got["a"]+got["b"] != 10 {
		t.Fatalf("all marked: %v", got)
	}
	// The cool-down ends.
	c.breaker = breaker{}
	b := c.snap.Load().services["s"].endpoints[1]
	c.breaker.markDown(b, 20*time.Millisecond)
	time.Sleep(30 * time.Millisecond)
	if got := countPicks(t, c, "s", 10); got["b"] != 5 {
		t.Fatalf("after the cool-down: %v", got)
	}
}

func TestNoHealthyEndpoint(t *testing.T) {
	c := offlineClient(t, WithStrict(true))
	x := ep("s", "a", "10.0.0.1:80")
	x.Status = StatusWarning
	c.setList(t, 1, x)
	_, err := c.Pick(context.Background(), "s")
	var se *ServiceError
	if !errors.Is(err, ErrNoHealthyEndpoint) || !errors.As(err, &se) || se.Service != "s" {
		t.Fatalf("Pick: %v", err)
	}
	if got := c.PanicServices(); len(got) != 0 {
		t.Fatalf("PanicServices with WithStrict(true): %v", got)
	}
}

// With no passing endpoint the others are chosen (panic mode), zones as usual; one endpoint
// passing again ends it.
func TestPanicModeChoice(t *testing.T) {
	c := offlineClient(t, WithZone("eu-1"))
	far, near1, near2 := ep("s", "far", "10.0.0.1:80"), ep("s", "near1", "10.0.0.2:80"), ep("s", "near2", "10.0.0.3:80")
	far.Zone, near1.Zone, near2.Zone = "us-1", "eu-1", "eu-1"
	far.Status, near1.Status, near2.Status = StatusCritical, StatusWarning, StatusCritical
	c.setList(t, 1, far, near1, near2, ep("ok", "x", "10.0.0.9:80"))
	if got := countPicks(t, c, "s", 10); got["near1"] != 5 || got["near2"] != 5 {
		t.Fatalf("panic picks: %v", got)
	}
	if got := c.PanicServices(); !slices.Equal(got, []string{"s"}) {
		t.Fatalf("PanicServices: %v", got)
	}
	far.Status = StatusPassing
	c.setList(t, 2, far, near1, near2, ep("ok", "x", "10.0.0.9:80"))
	if got := countPicks(t, c, "s", 10); got["far"] != 10 {
		t.Fatalf("picks once one passes: %v", got)
	}
	if got := c.PanicServices(); len(got) != 0 {
		t.Fatalf("PanicServices after recovery: %v", got)
	}
}

type captureTransport struct {
	mu   sync.Mutex
	urls []string
	host []string
}

func (c *captureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.urls = append(c.urls, req.URL.String())
	c.host = append(c.host, req.Host)
	c.mu.Unlock()
	if req.Body != nil {
		req.Body.Close()
	}
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("ok")), Request: req}, nil
}

func TestRequestRewriting(t *testing.T) {
	capture := &captureTransport{}
	c := offlineClient(t, WithTransport(capture))
	tls := ep("sec", "a", "10.0.0.1:8443")
	tls.Protocol = "https"
	c.setList(t, 1,
		ep("pre", "a", "http://10.0.0.1:8080/api/"),
		tls,
		ep("plain", "a", "10.0.0.2:80"),
	)
	hc := c.HTTPClient()
	for _, u := range []string{"http://pre/v1/items?x=1", "http://sec/", "https://plain:9999/a%2Fb", "http://10.9.9.9:1/direct"} {
		resp, err := hc.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		resp.Body.Close()
	}
	want := []string{"http://10.0.0.1:8080/api/v1/items?x=1", "https://10.0.0.1:8443/", "http://10.0.0.2:80/a%2Fb", "http://10.9.9.9:1/direct"}
	if strings.Join(capture.urls, " ") != strings.Join(want, " ") {
		t.Fatalf("sent to %v\nwant    %v", capture.urls, want)
	}
	if capture.host[0] != "" {
		t.Fatalf("Host header %q: want it taken from the endpoint's address", capture.host[0])
	}
}

func TestDurations(t *testing.T) {
	for in, want := range map[string]time.Duration{"15s": 15 * time.Second, "1s500ms": 1500 * time.Millisecond, "1.5m": 90 * time.Second, "2h": 2 * time.Hour, "1d": 24 * time.Hour, "250ms": 250 * time.Millisecond} {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "s", "10", "1x", "-1s"} {
		if _, err := parseDuration(bad); err == nil {
			t.Errorf("parseDuration(%q) accepted", bad)
		}
	}
	for d, want := range map[time.Duration]string{time.Second: "1s", 1500 * time.Millisecond: "1500ms", time.Microsecond: "1ms", 0: "1ms", 30 * time.Second: "30s"} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestAPIErrorMapping(t *testing.T) {
	cases := []struct {
		status int
		body   string
		is     error
	}{
		{401, `{"error":{"code":"unauthorized","message":"unknown or revoked token"}}`, ErrUnauthorized},
		{403, `{"error":{"code":"forbidden","message":"no"}}`, ErrForbidden},
		{404, `{"error":{"code":"service_not_found","message":"no"}}`, ErrUnknownService},
		{404, `{"error":{"code":"endpoint_not_found","message":"no"}}`, ErrNotFound},
		{400, `{"issues":[],"message":"bad","_tag":"HttpApiDecodeError"}`, ErrInvalidRequest},
		{503, `not json`, ErrUnreachable},
	}
	for _, tc := range cases {
		err := error(decodeAPIError(tc.status, []byte(tc.body)))
		if !errors.Is(err, tc.is) {
			t.Errorf("%d %s: %v is not %v", tc.status, tc.body, err, tc.is)
		}
	}
	if errors.Is(decodeAPIError(404, []byte(`{"error":{"code":"endpoint_not_found"}}`)), ErrUnknownService) {
		t.Errorf("endpoint_not_found matched ErrUnknownService")
	}
}

type stubTransport struct{}

func (stubTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Body: http.NoBody, Request: req}, nil
}

// The SDK's own work per request, over a transport that answers without a network
// (go test -bench . -run '^$').
func BenchmarkRoundTrip(b *testing.B) {
	for _, tc := range []struct {
		name    string
		rt      func(c *Client) http.RoundTripper
		url     string
		timeout time.Duration
	}{
		{"stub-alone", func(*Client) http.RoundTripper { return stubTransport{} }, "http://10.0.0.1:80/ping", 0},
		{"sdk", func(c *Client) http.RoundTripper { return c.Transport() }, "http://s/ping", 0},
		{"sdk-attempt-timeout-guard", func(c *Client) http.RoundTripper { return c.Transport() }, "http://s/ping", time.Second},
	} {
		b.Run(tc.name, func(b *testing.B) {
			t := &testing.T{}
			c := offlineClient(t, WithTransport(stubTransport{}), WithAttemptTimeout(tc.timeout))
			c.setList(t, 1, ep("s", "a", "http://10.0.0.1:80"), ep("s", "b", "http://10.0.0.2:80"))
			rt := tc.rt(c)
			req, _ := http.NewRequest(http.MethodGet, tc.url, nil)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				resp, err := rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
			}
		})
	}
}

func BenchmarkPick(b *testing.B) {
	t := &testing.T{}
	c := offlineClient(t)
	c.setList(t, 1, ep("s", "a", "http://10.0.0.1:80"), ep("s", "b", "http://10.0.0.2:80"))
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := c.Pick(ctx, "s"); err != nil {
			b.Fatal(err)
		}
	}
}
