package miko_test

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	miko "github.com/miko-dev/miko/sdk/go"
)

// Panic mode against a real Miko: a service with no passing endpoint is served from the others,
// unless the client is strict.
func TestPanicMode(t *testing.T) {
	t.Parallel()
	m := sharedMiko(t)
	svc := namer()
	ctx := t.Context()

	// registerFailing registers a live backend whose active check fails: a new check starts
	// critical and never passes (nothing listens on its port), so Miko lists a backend that
	// answers as critical.
	registerFailing := func(t *testing.T, service string, b *backend) {
		t.Helper()
		check := map[string]any{"tcp": "127.0.0.1:" + strconv.Itoa(freePort(t)), "interval": "1m"}
		m.register(t, service, map[string]any{"id": b.name, "publicAddress": b.srv.URL, "check": check})
	}
	listed := func(t *testing.T, c *miko.Client, service string, n int) {
		t.Helper()
		eventually(t, 10*time.Second, "the client lists "+service, func() bool {
			eps, err := c.Endpoints(ctx, service)
			return err == nil && len(eps) == n
		})
	}

	t.Run("all critical", func(t *testing.T) {
		b1, b2 := newBackend(t, "p1"), newBackend(t, "p2")
		registerFailing(t, svc("fleet"), b1)
		registerFailing(t, svc("fleet"), b2)
		c := newClient(t, m, "")
		listed(t, c, svc("fleet"), 2)
		ep, err := c.Pick(ctx, svc("fleet"))
		if err != nil || (ep.ID != "p1" && ep.ID != "p2") || ep.Status != miko.StatusCritical {
			t.Fatalf("Pick: %+v, %v", ep, err)
		}
		answered := map[string]bool{}
		for range 6 {
			body, err := get(ctx, c.HTTPClient(), "http://"+svc("fleet")+"/orders")
			if err != nil {
				t.Fatalf("GET in panic mode: %v", err)
			}
			answered[body] = true
		}
		// Round-robin still spreads the requests over the critical endpoints.
		if !answered["p1"] || !answered["p2"] {
			t.Fatalf("answered by %v", answered)
		}
		if !slices.Contains(c.PanicServices(), svc("fleet")) {
			t.Fatalf("PanicServices: %v", c.PanicServices())
		}
	})

	t.Run("strict", func(t *testing.T) {
		b := newBackend(t, "s1")
		registerFailing(t, svc("sick"), b)
		c := newClient(t, m, "", miko.WithStrict(true))
		listed(t, c, svc("sick"), 1)
		if _, err := c.Pick(ctx, svc("sick")); !errors.Is(err, miko.ErrNoHealthyEndpoint) {
			t.Fatalf("Pick: %v", err)
		}
		if _, err := c.HTTPClient().Get("http://" + svc("sick") + "/"); !errors.Is(err, miko.ErrNoHealthyEndpoint) {
			t.Fatalf("GET: %v", err)
		}
		if b.hits.Load() != 0 || len(c.PanicServices()) != 0 {
			t.Fatalf("hits %d, PanicServices %v", b.hits.Load(), c.PanicServices())
		}
	})

	t.Run("mixed", func(t *testing.T) {
		ok, down := newBackend(t, "ok"), newBackend(t, "down")
		m.register(t, svc("mixed"), map[string]any{"id": ok.name, "publicAddress": ok.srv.URL})
		registerFailing(t, svc("mixed"), down)
		c := newClient(t, m, "")
		listed(t, c, svc("mixed"), 2)
		for range 6 {
			if ep, err := c.Pick(ctx, svc("mixed")); err != nil || ep.ID != "ok" {
				t.Fatalf("Pick: %+v, %v", ep, err)
			}
			if body, err := get(ctx, c.HTTPClient(), "http://"+svc("mixed")+"/"); err != nil || body != "ok" {
				t.Fatalf("GET: %q, %v", body, err)
			}
		}
		if down.hits.Load() != 0 || slices.Contains(c.PanicServices(), svc("mixed")) {
			t.Fatalf("hits on the critical endpoint %d, PanicServices %v", down.hits.Load(), c.PanicServices())
		}
	})

	t.Run("lease lapses, then a heartbeat", func(t *testing.T) {
		b := newBackend(t, "leased")
		m.register(t, svc("leased"), map[string]any{"id": b.name, "publicAddress": b.srv.URL, "ttl": "1s"})
		c := newClient(t, m, "")
		listed(t, c, svc("leased"), 1)
		// No heartbeat: the lease lapses, Miko marks the endpoint critical, and it stays in use.
		eventually(t, 10*time.Second, "panic mode", func() bool { return slices.Contains(c.PanicServices(), svc("leased")) })
		if body, err := get(ctx, c.HTTPClient(), "http://"+svc("leased")+"/"); err != nil || body != "leased" {
			t.Fatalf("GET in panic mode: %q, %v", body, err)
		}
		path := "/v1/services/" + svc("leased") + "/endpoints/" + b.name + "/heartbeat"
		if code := m.api(t, http.MethodPut, path, registerToken, nil, nil); code != http.StatusOK {
			t.Fatalf("heartbeat: status %d", code)
		}
		eventually(t, 10*time.Second, "panic mode over", func() bool { return !slices.Contains(c.PanicServices(), svc("leased")) })
		if ep, err := c.Pick(ctx, svc("leased")); err != nil || !ep.Passing() {
			t.Fatalf("Pick after the heartbeat: %+v, %v", ep, err)
		}
	})
}
