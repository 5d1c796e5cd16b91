package miko_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	miko "github.com/miko-dev/miko/sdk/go"
)

// newClient starts a client for m that is closed at the test's end. The token is always given
// explicitly so MIKO_TOKEN in the environment does not leak into the tests.
func newClient(t *testing.T, m *mikoServer, token string, opts ...miko.Option) *miko.Client {
	t.Helper()
	c, err := miko.New(m.URL, append([]miko.Option{miko.WithToken(token)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Only Miko's address given: a service registered after the client started is reachable at once.
func TestServiceRegisteredAfterStartIsReachable(t *testing.T) {
	t.Parallel()
	m := sharedMiko(t)
	svc := namer()
	ctx := t.Context()
	c := newClient(t, m, "")
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if _, err := c.Pick(ctx, svc("late")); !errors.Is(err, miko.ErrUnknownService) {
		t.Fatalf("before registration: got %v, want ErrUnknownService", err)
	}

	b := newBackend(t, "late-1")
	m.register(t, svc("late"), map[string]any{"publicAddress": b.srv.URL})
	registered := time.Now()
	var ep miko.Endpoint
	eventually(t, time.Second, "the client sees the new service", func() bool {
		var err error
		ep, err = c.Pick(ctx, svc("late"))
		return err == nil
	})
	t.Logf("seen %s after registration", time.Since(registered).Round(time.Millisecond))
	if ep.Address != b.srv.URL || ep.Service != svc("late") || !ep.Passing() {
		t.Fatalf("picked %+v", ep)
	}
	body, err := get(ctx, c.HTTPClient(), "http://"+svc("late")+"/hello")
	if err != nil || body != "late-1" {
		t.Fatalf("GET http://late/hello = %q, %v", body, err)
	}
}

// Three instances, one stopped while 200 idempotent requests run: no request fails, and the
// stopped instance is skipped afterwards.
func TestFailoverWhenAnInstanceStops(t *testing.T) {
	t.Parallel()
	m := sharedMiko(t)
	svc := namer()
	ctx := t.Context()
	backends := []*backend{newBackend(t, "trio-a"), newBackend(t, "trio-b"), newBackend(t, "trio-c")}
	for _, b := range backends {
		m.register(t, svc("trio"), map[string]any{"publicAddress": b.srv.URL})
	}
	counter := newCountingTransport()
	c := newClient(t, m, "", miko.WithTransport(counter), miko.WithCooldown(time.Minute))
	hc := c.HTTPClient()
	eventually(t, 5*time.Second, "three endpoints listed", func() bool {
		eps, _ := c.Endpoints(ctx, svc("trio"))
		return len(eps) == 3
	})

	victim := backends[1]
	var stopped atomic.Bool
	stopNow := make(chan struct{})
	stopDone := make(chan struct{})
	go func() {
		<-stopNow
		victim.srv.Close()
		stopped.Store(true)
		close(stopDone)
	}()
	var failures, afterStop int
	seen := map[string]int{}
	for i := 0; i < 200; i++ {
		if i == 60 {
			close(stopNow)
		}
		if i == 100 {
			<-stopDone
			counter.reset()
		}
		body, err := get(ctx, hc, "http://"+svc("trio")+"/item?i="+strconv.Itoa(i))
		if err != nil {
			failures++
			t.Errorf("request %d: %v", i, err)
			continue
		}
		if i >= 100 {
			seen[body]++
			afterStop++
		}
	}
	if failures != 0 {
		t.Fatalf("%d of 200 requests failed", failures)
	}
	if seen[victim.name] != 0 || seen["trio-a"] == 0 || seen["trio-c"] == 0 {
		t.Fatalf("answers after the stop: %v", seen)
	}
	// After the stop the dead instance is tried at most once (then marked down and skipped).
	if n := counter.attempts(victim.addr()); n > 1 {
		t.Fatalf("the stopped instance was tried %d times in the last 100 requests", n)
	}
	for i := 0; i < 30; i++ {
		ep, err := c.Pick(ctx, svc("trio"))
		if err != nil {
			t.Fatal(err)
		}
		if ep.Address == victim.srv.URL {
			t.Fatalf("Pick chose the stopped instance")
		}
	}
	_ = afterStop
}

// Bodies are replayed on failover (GetBody), 503 answers fail over for idempotent requests, and a
// non-idempotent request is not repeated after it reached a backend.
func TestFailoverRules(t *testing.T) {
	t.Parallel()
	m := sharedMiko(t)
	svc := namer()
	ctx := t.Context()
	good := newBackend(t, "rules-good")
	failing := newBackend(t, "rules-503")
	dead := newBackend(t, "rules-dead")
	dead.srv.Close()
	// Heavier endpoints come first; round-robin starts at a random position, so each request
	// below meets the bad endpoints first or not: with a cool-down of a minute the outcome does
	// not depend on the order.
	m.register(t, svc("rules"), map[string]any{"publicAddress": good.srv.URL})
	m.register(t, svc("rules"), map[string]any{"publicAddress": dead.srv.URL})
	m.register(t, svc("rules"), map[string]any{"publicAddress": failing.srv.URL + "/fail"})
	c := newClient(t, m, "", miko.WithCooldown(time.Minute))
	hc := c.HTTPClient()

	// PUT with a body: replayed to the next endpoint until one answers.
	for i := 0; i < 6; i++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+svc("rules")+"/echo", strings.NewReader("payload"))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("PUT %d: %v", i, err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(data) != "rules-good:payload" {
			t.Fatalf("PUT %d: %d %q", i, resp.StatusCode, data)
		}
	}
	if failing.hits.Load() > 1 {
		t.Fatalf("the 503 backend got %d requests; marked down after the first", failing.hits.Load())
	}

	// POST without an idempotency key is not retried once it reached a backend: the 503 comes back.
	post := newBackend(t, "post-503")
	m.register(t, svc("posts"), map[string]any{"publicAddress": post.srv.URL + "/fail"})
	m.register(t, svc("posts"), map[string]any{"publicAddress": post.srv.URL + "/fail"})
	c2 := newClient(t, m, "", miko.WithCooldown(time.Minute))
	eventually(t, 5*time.Second, "posts listed", func() bool {
		eps, _ := c2.Endpoints(ctx, svc("posts"))
		return len(eps) == 2
	})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+svc("posts"), bytes.NewReader([]byte("x")))
	resp, err := c2.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || post.hits.Load() != 1 {
		t.Fatalf("POST: status %d after %d attempts; want 503 after 1", resp.StatusCode, post.hits.Load())
	}
	// A POST whose connection cannot be established is retried elsewhere: it never left.
	deadPost := newBackend(t, "post-dead")
	deadPost.srv.Close()
	okPost := newBackend(t, "post-ok")
	m.register(t, svc("posts2"), map[string]any{"publicAddress": deadPost.srv.URL, "weight": 5})
	m.register(t, svc("posts2"), map[string]any{"publicAddress": okPost.srv.URL})
	c3 := newClient(t, m, "", miko.WithStrategy(miko.WeightedRandom), miko.WithCooldown(time.Minute))
	eventually(t, 5*time.Second, "posts2 listed", func() bool {
		eps, _ := c3.Endpoints(ctx, svc("posts2"))
		return len(eps) == 2
	})
	for i := 0; i < 5; i++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+svc("posts2")+"/echo", strings.NewReader("p"))
		resp, err := c3.HTTPClient().Do(req)
		if err != nil {
			t.Fatalf("POST %d: %v", i, err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(data) != "post-ok:p" {
			t.Fatalf("POST %d: %q", i, data)
		}
	}
}

// Miko stopped: requests keep using the last good list. Miko restarted on the same port and data
// directory: updates flow again through the same client.
func TestMikoRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	port := freePort(t)
	m := ownMiko(t, dir, port)
	ctx := t.Context()
	first := newBackend(t, "phoenix-1")
	m.register(t, "phoenix", map[string]any{"publicAddress": first.srv.URL})
	c := newClient(t, m, "", miko.WithBackoff(50*time.Millisecond, 300*time.Millisecond))
	hc := c.HTTPClient()
	if body, err := get(ctx, hc, "http://phoenix/"); err != nil || body != "phoenix-1" {
		t.Fatalf("before the stop: %q, %v", body, err)
	}
	if c.Stale() {
		t.Fatalf("fresh client reports stale data")
	}

	if err := m.stop(); err != nil {
		t.Fatalf("Miko did not stop cleanly: %v", err)
	}
	eventually(t, 10*time.Second, "the client notices Miko is gone", c.Stale)
	if !errors.Is(c.Err(), miko.ErrUnreachable) {
		t.Fatalf("Err() = %v, want ErrUnreachable", c.Err())
	}
	for i := 0; i < 20; i++ {
		if body, err := get(ctx, hc, "http://phoenix/"); err != nil || body != "phoenix-1" {
			t.Fatalf("while Miko is down: %q, %v", body, err)
		}
	}
	if c.LastUpdated().IsZero() {
		t.Fatalf("LastUpdated is zero")
	}

	m2 := ownMiko(t, dir, port)
	second := newBackend(t, "phoenix-2")
	m2.register(t, "phoenix", map[string]any{"publicAddress": second.srv.URL})
	eventually(t, 15*time.Second, "the new endpoint reaches the client", func() bool {
		eps, _ := c.Endpoints(ctx, "phoenix")
		return len(eps) == 2
	})
	if c.Stale() || c.Err() != nil {
		t.Fatalf("after the restart: stale %v, err %v", c.Stale(), c.Err())
	}
	seen := map[string]bool{}
	for i := 0; i < 10; i++ {
		body, err := get(ctx, hc, "http://phoenix/")
		if err != nil {
			t.Fatal(err)
		}
		seen[body] = true
	}
	if !seen["phoenix-1"] || !seen["phoenix-2"] {
		t.Fatalf("round-robin over both endpoints: saw %v", seen)
	}
}

// Internal addresses are visible only to tokens with the internal role; internal mode uses them.
func TestInternalAddresses(t *testing.T) {
	t.Parallel()
	m := sharedMiko(t)
	svc := namer()
	ctx := t.Context()
	pub := newBackend(t, "vis-public")
	internal := newBackend(t, "vis-internal")
	hidden := newBackend(t, "vis-hidden")
	m.register(t, svc("vis"), map[string]any{"publicAddress": pub.srv.URL, "internalAddress": internal.srv.URL})
	m.register(t, svc("vis"), map[string]any{"internalAddress": hidden.addr(), "weight": 0})

	// wantBodies: the backends a request may reach (every endpoint with a usable address).
	check := func(name, token string, kind miko.AddressKind, wantAddrs []string, wantInternalVisible bool, wantBodies ...string) {
		t.Helper()
		c := newClient(t, m, token, miko.WithAddressKind(kind))
		eps, err := c.Endpoints(ctx, svc("vis"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var addrs []string
		for _, ep := range eps {
			addrs = append(addrs, ep.Address)
			if (ep.InternalAddress != "") != wantInternalVisible {
				t.Fatalf("%s: internal address visible = %v: %+v", name, ep.InternalAddress != "", ep)
			}
		}
		if strings.Join(addrs, " ") != strings.Join(wantAddrs, " ") {
			t.Fatalf("%s: addresses %v, want %v", name, addrs, wantAddrs)
		}
		seen := map[string]bool{}
		for i := 0; i < 2*len(wantBodies); i++ {
			body, err := get(ctx, c.HTTPClient(), "http://"+svc("vis")+"/")
			if err != nil || !slices.Contains(wantBodies, body) {
				t.Fatalf("%s: GET = %q, %v; want one of %q", name, body, err, wantBodies)
			}
			seen[body] = true
		}
		if len(seen) != len(wantBodies) {
			t.Fatalf("%s: reached %v, want all of %q", name, seen, wantBodies)
		}
	}
	check("no token", "", miko.Public, []string{pub.srv.URL}, false, "vis-public")
	check("register token, internal mode", registerToken, miko.Internal, []string{pub.srv.URL}, false, "vis-public")
	check("internal token, public mode", internalToken, miko.Public, []string{pub.srv.URL}, true, "vis-public")
	check("internal token, internal mode", internalToken, miko.Internal, []string{internal.srv.URL, hidden.addr()}, true, "vis-internal", "vis-hidden")
}

// Self-registration: heartbeats keep the endpoint passing, a removed endpoint is registered
// again, and Close deregisters it.
func TestSelfRegistration(t *testing.T) {
	t.Parallel()
	m := sharedMiko(t)
	svc := namer()
	ctx := t.Context()
	b := newBackend(t, "self-1")
	c, err := miko.New(m.URL, miko.WithToken(registerToken))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ttl := 900 * time.Millisecond
	reg, err := c.Register(ctx, svc("selfreg"), miko.Registration{PublicAddress: b.srv.URL, Tags: []string{"v1"}, Metadata: map[string]string{"build": "7"}}, ttl)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	id := reg.ID()
	if id == "" || reg.Endpoint().TTL != ttl || reg.Endpoint().Address != b.srv.URL {
		t.Fatalf("registered %q: %+v", id, reg.Endpoint())
	}
	// Three TTLs: without heartbeats it would turn critical.
	for end := time.Now().Add(3 * ttl); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if st := m.serviceStatus(t, svc("selfreg"))[id]; st != "passing" {
			t.Fatalf("endpoint status %q while heartbeating", st)
		}
	}

	// Another client finds it and reaches it.
	watcher := newClient(t, m, "")
	if body, err := get(ctx, watcher.HTTPClient(), "http://"+svc("selfreg")+"/"); err != nil || body != "self-1" {
		t.Fatalf("GET through a second client: %q, %v", body, err)
	}

	// Miko forgets it (here: deleted by an admin): the next heartbeat gets 404 and registers again.
	if code := m.api(t, http.MethodDelete, "/v1/services/"+svc("selfreg")+"/endpoints/"+id, adminToken, nil, nil); code != 204 {
		t.Fatalf("DELETE: %d", code)
	}
	eventually(t, 5*time.Second, "registered again after a 404", func() bool {
		return m.serviceStatus(t, svc("selfreg"))[id] == "passing"
	})

	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if st := m.serviceStatus(t, svc("selfreg")); len(st) != 0 {
		t.Fatalf("after Close the endpoint is still listed: %v", st)
	}
	eventually(t, 5*time.Second, "the second client sees it gone", func() bool {
		_, err := watcher.Pick(ctx, svc("selfreg"))
		return errors.Is(err, miko.ErrUnknownService)
	})
	if _, err := c.Pick(ctx, svc("selfreg")); !errors.Is(err, miko.ErrClosed) {
		t.Fatalf("Pick after Close: %v, want ErrClosed", err)
	}
	if _, err := c.Register(ctx, svc("selfreg"), miko.Registration{PublicAddress: b.srv.URL}, ttl); !errors.Is(err, miko.ErrClosed) {
		t.Fatalf("Register after Close: %v, want ErrClosed", err)
	}

	// Deregister by hand.
	c2 := newClient(t, m, adminToken)
	reg2, err := c2.Register(ctx, svc("selfreg2"), miko.Registration{ID: svc("selfreg2") + "-fixed", InternalAddress: b.addr()}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if reg2.ID() != svc("selfreg2")+"-fixed" {
		t.Fatalf("id %q", reg2.ID())
	}
	if err := reg2.Deregister(ctx); err != nil {
		t.Fatal(err)
	}
	if st := m.serviceStatus(t, svc("selfreg2")); len(st) != 0 {
		t.Fatalf("after Deregister: %v", st)
	}
}

// Bad input: each case is its own documented error.
func TestErrors(t *testing.T) {
	t.Parallel()
	m := sharedMiko(t)
	svc := namer()
	ctx := t.Context()

	t.Run("malformed address", func(t *testing.T) {
		for _, addr := range []string{"ftp://127.0.0.1:1", "http://", "localhost", "127.0.0.1:99999", "http://a b:80", "http://user:pw@host:1", "http://host:80/?q=1", "::::"} {
			_, err := miko.New(addr, miko.WithToken(""))
			var ae *miko.AddressError
			if !errors.Is(err, miko.ErrInvalidAddress) || !errors.As(err, &ae) || ae.Address != addr {
				t.Errorf("New(%q) = %v, want an *AddressError", addr, err)
			}
		}
		for _, addr := range []string{"127.0.0.1:8740", "http://miko.internal", "https://miko.example.com:8443/prefix/"} {
			c, err := miko.New(addr, miko.WithToken(""))
			if err != nil {
				t.Errorf("New(%q): %v", addr, err)
				continue
			}
			c.Close()
		}
	})

	t.Run("unknown service", func(t *testing.T) {
		c := newClient(t, m, "")
		_, err := c.Pick(ctx, "no-such-service")
		var se *miko.ServiceError
		if !errors.Is(err, miko.ErrUnknownService) || !errors.As(err, &se) || se.Service != "no-such-service" {
			t.Fatalf("Pick: %v", err)
		}
		if !strings.Contains(err.Error(), "no-such-service") {
			t.Fatalf("the error does not name the service: %v", err)
		}
		_, err = c.HTTPClient().Get("http://no-such-service/x")
		if !errors.Is(err, miko.ErrUnknownService) {
			t.Fatalf("GET: %v", err)
		}
		if _, err := c.Endpoints(ctx, "no-such-service"); !errors.Is(err, miko.ErrUnknownService) {
			t.Fatalf("Endpoints: %v", err)
		}
	})

	t.Run("wrong token", func(t *testing.T) {
		c := newClient(t, m, "not-a-token")
		_, err := c.Pick(ctx, "anything")
		var ae *miko.APIError
		if !errors.Is(err, miko.ErrUnauthorized) || !errors.As(err, &ae) || ae.StatusCode != 401 || ae.Code != "unauthorized" {
			t.Fatalf("Pick with a wrong token: %v", err)
		}
		if err := c.Ready(ctx); !errors.Is(err, miko.ErrUnauthorized) {
			t.Fatalf("Ready: %v", err)
		}
		if _, err := c.Register(ctx, "svc", miko.Registration{PublicAddress: "127.0.0.1:1"}, 0); !errors.Is(err, miko.ErrUnauthorized) {
			t.Fatalf("Register: %v", err)
		}
	})

	t.Run("registration refused", func(t *testing.T) {
		noRole := newClient(t, m, internalToken)
		if _, err := noRole.Register(ctx, "svc", miko.Registration{PublicAddress: "127.0.0.1:1"}, 0); !errors.Is(err, miko.ErrForbidden) {
			t.Fatalf("without the register role: %v", err)
		}
		c := newClient(t, m, registerToken)
		if _, err := c.Register(ctx, "svc", miko.Registration{PublicAddress: "not an address"}, 0); !errors.Is(err, miko.ErrInvalidRequest) {
			t.Fatalf("bad address: %v", err)
		}
		if _, err := c.Register(ctx, "Not_A_Service", miko.Registration{PublicAddress: "127.0.0.1:1"}, 0); !errors.Is(err, miko.ErrInvalidRequest) {
			t.Fatalf("bad service name: %v", err)
		}
	})

	t.Run("no healthy endpoint when strict", func(t *testing.T) {
		c := newClient(t, m, "", miko.WithStrict(true))
		m.register(t, svc("lapsed"), map[string]any{"publicAddress": "127.0.0.1:1", "ttl": "200ms"})
		eventually(t, 10*time.Second, "the lease lapses", func() bool {
			_, err := c.Pick(ctx, svc("lapsed"))
			return errors.Is(err, miko.ErrNoHealthyEndpoint)
		})
		_, err := c.Pick(ctx, svc("lapsed"))
		var se *miko.ServiceError
		if !errors.As(err, &se) || se.Service != svc("lapsed") || !strings.Contains(err.Error(), strconv.Quote(svc("lapsed"))) {
			t.Fatalf("Pick: %v", err)
		}
		eps, err := c.Endpoints(ctx, svc("lapsed"))
		if err != nil || len(eps) != 1 || eps[0].Status != miko.StatusCritical {
			t.Fatalf("Endpoints: %v %v", eps, err)
		}
		if _, err := c.HTTPClient().Get("http://" + svc("lapsed") + "/"); !errors.Is(err, miko.ErrNoHealthyEndpoint) {
			t.Fatalf("GET: %v", err)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		c, err := miko.New("127.0.0.1:"+strconv.Itoa(freePort(t)), miko.WithToken(""))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = c.Pick(ctx, "anything")
		var ue *miko.UnreachableError
		if !errors.Is(err, miko.ErrUnreachable) || !errors.As(err, &ue) {
			t.Fatalf("Pick: %v", err)
		}
		if !c.Stale() {
			t.Fatalf("Stale() = false without any list")
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		b := newBackend(t, svc("slowpoke"))
		m.register(t, svc("slowpoke"), map[string]any{"publicAddress": b.srv.URL})
		c := newClient(t, m, "")
		cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(cctx, http.MethodGet, "http://"+svc("slowpoke")+"/slow", nil)
		_, err := c.HTTPClient().Do(req)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("GET: %v, want context.DeadlineExceeded", err)
		}
		// The caller's own deadline is not the endpoint's fault: it is not marked down.
		if body, err := get(ctx, c.HTTPClient(), "http://"+svc("slowpoke")+"/"); err != nil || body != svc("slowpoke") {
			t.Fatalf("GET after a cancelled request: %q, %v", body, err)
		}
		done, stop := context.WithCancel(ctx)
		stop()
		if _, err := c.Pick(done, svc("slowpoke")); err != nil {
			t.Fatalf("Pick answers from the cache even with a done context: %v", err)
		}
	})
}

// The address and token can come from MIKO_ADDRESS and MIKO_TOKEN.
func TestEnvironment(t *testing.T) {
	m := sharedMiko(t)
	svc := namer()
	b := newBackend(t, "env-1")
	m.register(t, svc("envsvc"), map[string]any{"publicAddress": "127.0.0.1:1", "internalAddress": b.srv.URL})
	t.Setenv("MIKO_ADDRESS", m.URL)
	t.Setenv("MIKO_TOKEN", internalToken)
	c, err := miko.New("", miko.WithAddressKind(miko.Internal))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if u, _ := url.Parse(c.Address()); u.Host == "" {
		t.Fatalf("Address() = %q", c.Address())
	}
	ep, err := c.Pick(t.Context(), svc("envsvc"))
	if err != nil || ep.Address != b.srv.URL {
		t.Fatalf("Pick: %+v, %v", ep, err)
	}

	t.Setenv("MIKO_ADDRESS", "")
	if _, err := miko.New(""); !errors.Is(err, miko.ErrInvalidAddress) {
		t.Fatalf("New without an address: %v", err)
	}
}

// WithServices follows only the named services.
func TestServiceFilter(t *testing.T) {
	t.Parallel()
	m := sharedMiko(t)
	svc := namer()
	ctx := t.Context()
	m.register(t, svc("wanted"), map[string]any{"publicAddress": "127.0.0.1:1"})
	m.register(t, svc("other"), map[string]any{"publicAddress": "127.0.0.1:2"})
	c := newClient(t, m, "", miko.WithServices(svc("wanted")))
	names, err := c.Services(ctx)
	if err != nil || !slices.Equal(names, []string{svc("wanted")}) {
		t.Fatalf("Services = %v, %v", names, err)
	}
	if _, err := c.Pick(ctx, svc("other")); !errors.Is(err, miko.ErrUnknownService) {
		t.Fatalf("Pick outside the filter: %v", err)
	}
	if c.Index() == 0 || c.LastUpdated().IsZero() || c.Stale() {
		t.Fatalf("index %d, updated %v, stale %v", c.Index(), c.LastUpdated(), c.Stale())
	}
	if _, err := miko.New(m.URL, miko.WithServices("Not A Name")); !errors.Is(err, miko.ErrInvalidRequest) {
		t.Fatalf("bad filter: %v", err)
	}
}
