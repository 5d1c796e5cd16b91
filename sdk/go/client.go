package miko

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Client finds services' endpoints through Miko. It fetches Miko's endpoint list once, keeps it
// fresh in the background with blocking queries, and answers lookups from memory, so lookups keep
// working (from the last good list) while Miko is unreachable. A Client is safe for concurrent
// use; call Close when done with it.
type Client struct {
	cfg     config
	base    string // Miko's base URL, without a trailing slash
	listURL string // GET /v1/endpoints with the service filter
	api     *http.Client
	apiTr   *http.Transport
	backend http.RoundTripper
	ownTr   *http.Transport // the backend transport when the Client created it
	tr      *Transport
	log     *slog.Logger

	snap     atomic.Pointer[snapshot]
	fresh    freshness
	counters map[string]*atomic.Uint64 // round-robin positions by service; watcher goroutine only
	breaker  breaker

	mu      sync.Mutex // guards regs and configs
	regs    map[*Registered]struct{}
	configs map[*Config]struct{}

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

type snapshot struct {
	index    uint64
	etag     string
	services map[string]*serviceEntry
	panic    []string // services served in panic mode, sorted
}

type serviceEntry struct {
	endpoints      []Endpoint     // usable endpoints in Miko's order (passing first, heavier first)
	candidates     []int          // positions in endpoints that picks choose from: see setCandidates
	zoneCandidates []int          // candidates in the client's zone
	panic          bool           // no endpoint passes: the candidates are the others
	rr             *atomic.Uint64 // round-robin position, kept across list updates
}

// New returns a Client for the Miko at address: a URL such as "http://127.0.0.1:8740" (a path
// prefix is kept) or a "host:port". An empty address means MIKO_ADDRESS. The token comes from
// WithToken, else MIKO_TOKEN. A malformed address fails at once with an *AddressError
// (ErrInvalidAddress); nothing else is checked here: New does not block, and the first lookup
// waits for the first answer from Miko.
func New(address string, opts ...Option) (*Client, error) {
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	if address == "" {
		address = os.Getenv("MIKO_ADDRESS")
	}
	base, err := parseMikoAddress(address)
	if err != nil {
		return nil, err
	}
	if !cfg.tokenSet {
		cfg.token = os.Getenv("MIKO_TOKEN")
	}
	if !cfg.strategySet && cfg.zone != "" {
		cfg.strategy = ZoneFirst
	}
	for _, s := range cfg.services {
		if !validServiceName(s) {
			return nil, fmt.Errorf("%w: WithServices: %q is not a service name", ErrInvalidRequest, s)
		}
	}

	c := &Client{
		cfg:      cfg,
		base:     base.String(),
		counters: make(map[string]*atomic.Uint64),
		regs:     make(map[*Registered]struct{}),
		configs:  make(map[*Config]struct{}),
		log:      cfg.logger,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	q := url.Values{}
	for _, s := range cfg.services {
		q.Add("service", s)
	}
	c.listURL = c.base + "/v1/endpoints"
	if len(q) > 0 {
		c.listURL += "?" + q.Encode()
	}

	c.apiTr = newHTTPTransport(cfg)
	c.api = &http.Client{Transport: c.apiTr}
	if cfg.transport != nil {
		c.backend = cfg.transport
	} else {
		c.ownTr = newHTTPTransport(cfg)
		c.ownTr.MaxIdleConns = 512
		c.ownTr.MaxIdleConnsPerHost = 64
		if d := cfg.attemptTimeout; d > 0 {
			c.ownTr.ResponseHeaderTimeout = d
			c.ownTr.DialContext = (&net.Dialer{Timeout: d, KeepAlive: 30 * time.Second}).DialContext
		}
		c.backend = c.ownTr
	}
	c.tr = &Transport{c: c}
	c.fresh.init()
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(1)
	go c.watch()
	return c, nil
}

func newHTTPTransport(cfg config) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.tlsConfig != nil {
		t.TLSClientConfig = cfg.tlsConfig.Clone()
	}
	return t
}

// Address is Miko's base URL as the client uses it.
func (c *Client) Address() string { return c.base }

// Index is the change index of the cached list (0 before the first list).
func (c *Client) Index() uint64 {
	if s := c.snap.Load(); s != nil {
		return s.index
	}
	return 0
}

// LastUpdated is when Miko last confirmed the cached list (zero before the first list).
func (c *Client) LastUpdated() time.Time { return c.fresh.updated() }

// Stale reports whether the cached list may be out of date: the latest attempt to reach Miko
// failed (or none has succeeded yet). Lookups still answer from the last good list.
func (c *Client) Stale() bool { return c.fresh.isStale() }

// Err is the error of the latest failed attempt to refresh the list, or nil when the latest
// attempt succeeded.
func (c *Client) Err() error { return c.fresh.err() }

// PanicServices lists, sorted, the services served in panic mode: none of their endpoints is
// passing, so Pick and the HTTP client choose among the others. It is always empty with
// WithStrict(true), where such services fail with ErrNoHealthyEndpoint instead.
func (c *Client) PanicServices() []string {
	if s := c.snap.Load(); s != nil {
		return slices.Clone(s.panic)
	}
	return nil
}

// Ready waits until the client holds an endpoint list. Before the first list it returns the
// error of the latest failed attempt (ErrUnreachable, ErrUnauthorized, …) once the first attempt
// has ended, or the context's error.
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.current(ctx)
	return err
}

// current returns the cached list, waiting for the first attempt to fetch it.
func (c *Client) current(ctx context.Context) (*snapshot, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	if s := c.snap.Load(); s != nil {
		return s, nil
	}
	select {
	case <-c.fresh.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if s := c.snap.Load(); s != nil {
		return s, nil
	}
	if c.closed.Load() {
		return nil, ErrClosed
	}
	if err := c.fresh.err(); err != nil {
		return nil, err
	}
	return nil, ErrUnreachable
}

func (c *Client) entry(ctx context.Context, service string) (*serviceEntry, error) {
	s, err := c.current(ctx)
	if err != nil {
		return nil, err
	}
	e := s.services[service]
	if e == nil {
		return nil, &ServiceError{Service: service, Err: ErrUnknownService}
	}
	return e, nil
}

// Services lists the names of the services in the cached list, sorted.
func (c *Client) Services(ctx context.Context) ([]string, error) {
	s, err := c.current(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(s.services))
	for name := range s.services {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}

// Endpoints returns the service's endpoints that have an address of the client's kind, in Miko's
// order (passing first, then heavier first), whatever their status. An unknown service is a
// *ServiceError wrapping ErrUnknownService. The Tags and Metadata of the results are shared:
// do not modify them.
func (c *Client) Endpoints(ctx context.Context, service string) ([]Endpoint, error) {
	e, err := c.entry(ctx, service)
	if err != nil {
		return nil, err
	}
	return append([]Endpoint(nil), e.endpoints...), nil
}

// Pick chooses a passing endpoint of the service by the client's strategy, skipping endpoints
// that recently failed requests (unless every passing one did). When none is passing it chooses
// among the others (panic mode, see PanicServices) unless the client is strict (WithStrict).
// Errors: *ServiceError wrapping ErrUnknownService or ErrNoHealthyEndpoint; before the first
// list, ErrUnreachable or ErrUnauthorized.
func (c *Client) Pick(ctx context.Context, service string) (Endpoint, error) {
	e, err := c.entry(ctx, service)
	if err != nil {
		return Endpoint{}, err
	}
	ep, _, ok := c.choose(service, e, nil)
	if !ok {
		return Endpoint{}, &ServiceError{Service: service, Err: ErrNoHealthyEndpoint}
	}
	return ep, nil
}

// HTTPClient returns an *http.Client whose requests name services as hosts: a request for
// "http://hanami/path" goes to an endpoint of service hanami chosen per request, and fails over
// to another endpoint as described for Transport. It has no overall timeout: use the request's
// context.
func (c *Client) HTTPClient() *http.Client {
	return &http.Client{Transport: c.tr}
}

// Transport returns the client's failover RoundTripper (see Transport).
func (c *Client) Transport() *Transport { return c.tr }

// Close stops the background work, deregisters the endpoints registered through this client and
// closes idle connections. It returns the deregistration errors, if any. Later calls return the
// same result.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.cancel()
		c.mu.Lock()
		regs := make([]*Registered, 0, len(c.regs))
		for r := range c.regs {
			regs = append(regs, r)
		}
		configs := make([]*Config, 0, len(c.configs))
		for cfg := range c.configs {
			configs = append(configs, cfg)
		}
		c.mu.Unlock()
		for _, cfg := range configs {
			cfg.Close()
		}
		var errs []error
		for _, r := range regs {
			ctx, cancel := context.WithTimeout(context.Background(), c.cfg.timeout)
			if err := r.deregister(ctx); err != nil {
				errs = append(errs, err)
			}
			cancel()
		}
		c.wg.Wait()
		c.fresh.settle()
		c.apiTr.CloseIdleConnections()
		if c.ownTr != nil {
			c.ownTr.CloseIdleConnections()
		}
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}

// watch keeps the cached list fresh: a first plain request, then blocking queries on the latest
// index. Failures keep the last good list and retry with backoff.
func (c *Client) watch() {
	defer c.wg.Done()
	c.follow(c.ctx, &c.fresh, "endpoint list", func(block bool) (bool, error) {
		prev := c.snap.Load()
		next, err := c.poll(prev, block)
		if err != nil || next == prev || c.ctx.Err() != nil {
			return false, err
		}
		c.breaker.onList(prev, next)
		c.snap.Store(next)
		c.logPanicChanges(prev, next)
		return true, nil
	})
}

// logPanicChanges logs services entering and leaving panic mode, once per change rather than per
// request: the directory thinks a whole service is down, yet traffic still goes to it.
func (c *Client) logPanicChanges(prev, next *snapshot) {
	var before []string
	if prev != nil {
		before = prev.panic
	}
	entered := slices.DeleteFunc(slices.Clone(next.panic), func(s string) bool { return slices.Contains(before, s) })
	left := slices.DeleteFunc(slices.Clone(before), func(s string) bool { return slices.Contains(next.panic, s) })
	if len(entered) > 0 {
		c.log.Warn("miko: no passing endpoint, choosing among the others (panic mode)", "services", entered)
	}
	if len(left) > 0 {
		c.log.Info("miko: panic mode over", "services", left)
	}
}

// poll fetches the list, as a blocking query when a list is already held. It returns prev when
// Miko reports no change.
func (c *Client) poll(prev *snapshot, block bool) (*snapshot, error) {
	target := c.listURL
	timeout := c.cfg.timeout
	if prev != nil && block {
		sep := "?"
		if len(c.cfg.services) > 0 {
			sep = "&"
		}
		target += sep + "index=" + strconv.FormatUint(prev.index, 10) + "&wait=" + formatDuration(c.cfg.wait)
		timeout = c.cfg.wait + c.cfg.timeout
	}
	etag := ""
	if prev != nil {
		etag = prev.etag
	}
	status, newTag, body, err := c.fetch(c.ctx, target, timeout, etag)
	switch {
	case err != nil:
		return nil, err
	case status == http.StatusNotModified && prev != nil:
		return prev, nil
	case status != http.StatusOK:
		return nil, decodeAPIError(status, body)
	}
	var list wireList
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("miko: malformed endpoint list: %w", err)
	}
	if prev != nil && list.Index == prev.index {
		return prev, nil
	}
	return c.build(&list, newTag), nil
}

// build turns a list from Miko into a snapshot. Watcher goroutine only.
func (c *Client) build(list *wireList, etag string) *snapshot {
	s := &snapshot{index: list.Index, etag: etag, services: make(map[string]*serviceEntry, len(list.Services))}
	for name, wires := range list.Services {
		e := &serviceEntry{endpoints: make([]Endpoint, 0, len(wires))}
		for i := range wires {
			ep, ok := wires[i].toEndpoint().withAddress(c.cfg.kind)
			if !ok {
				continue
			}
			if ep.Service == "" {
				ep.Service = name
			}
			e.endpoints = append(e.endpoints, ep)
		}
		if len(e.endpoints) == 0 {
			continue
		}
		c.setCandidates(e)
		if e.panic {
			s.panic = append(s.panic, name)
		}
		rr := c.counters[name]
		if rr == nil {
			rr = new(atomic.Uint64)
			rr.Store(rand.Uint64N(1 << 16)) // clients do not all start on the same endpoint
			c.counters[name] = rr
		}
		e.rr = rr
		s.services[name] = e
	}
	slices.Sort(s.panic)
	return s
}

// setCandidates chooses what picks of e choose from: its passing endpoints. When none passes and
// the client is not strict, all of them instead (panic mode): when Miko reports no endpoint of a
// service passing, the fault may lie with the directory's view (checks that cannot reach the
// fleet, leases that lapsed while Miko was away) rather than with the service, and a request to
// an endpoint that may well be healthy beats a certain error. The strategy, weights and zones
// apply to them as they would to passing ones.
func (c *Client) setCandidates(e *serviceEntry) {
	for i, ep := range e.endpoints {
		if ep.Passing() {
			e.candidates = append(e.candidates, i)
		}
	}
	if len(e.candidates) == 0 && !c.cfg.strict {
		e.panic = true
		for i := range e.endpoints {
			e.candidates = append(e.candidates, i)
		}
	}
	if c.cfg.zone == "" {
		return
	}
	for _, i := range e.candidates {
		if e.endpoints[i].Zone == c.cfg.zone {
			e.zoneCandidates = append(e.zoneCandidates, i)
		}
	}
}

func (c *Client) authorize(req *http.Request) {
	if c.cfg.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.token)
	}
}

// backoff is the delay before retry n (0-based): exponential from backoffMin to backoffMax,
// with the upper half jittered.
func (c *Client) backoff(n int) time.Duration {
	d := c.cfg.backoffMin
	for i := 0; i < n && d < c.cfg.backoffMax; i++ {
		d *= 2
	}
	d = min(d, c.cfg.backoffMax)
	half := d / 2
	return half + rand.N(half+1)
}

// call sends one request to Miko's API and decodes a JSON answer into out (when not nil).
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	return c.callWith(ctx, method, path, nil, in, out)
}

// callWith is call with extra request headers (a compare-and-set's If-Match).
func (c *Client) callWith(ctx context.Context, method, path string, header http.Header, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	for name, values := range header {
		req.Header[name] = values
	}
	c.authorize(req)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.api.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) && !errors.Is(ctxErr, context.DeadlineExceeded) {
			return ctxErr
		}
		return &UnreachableError{Address: c.base, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return &UnreachableError{Address: c.base, Err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeAPIError(resp.StatusCode, data)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("miko: malformed answer to %s %s: %w", method, path, err)
		}
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
