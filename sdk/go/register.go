package miko

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Registration describes an endpoint to register. At least one address is needed: a URL such
// as "http://10.0.0.5:8080" or a "host:port".
type Registration struct {
	ID              string            // optional; Miko makes one up when empty
	PublicAddress   string            // reachable by anyone
	InternalAddress string            // shown only to tokens with the internal role
	Protocol        string            // http (Miko's default), https, grpc, tcp, ws or wss
	Weight          *int              // 0–1000; nil leaves Miko's default (1)
	Zone            string            // optional
	Tags            []string          // optional
	Metadata        map[string]string // optional
	Check           *HealthCheck      // optional active health check run by Miko
}

// HealthCheck asks Miko to probe the endpoint: HTTP (a URL that must answer 2xx) or TCP (a
// host:port that must accept a connection). Zero fields take Miko's defaults.
type HealthCheck struct {
	HTTP               string
	TCP                string
	Interval           time.Duration
	Timeout            time.Duration
	HealthyThreshold   int
	UnhealthyThreshold int
}

type wireRegistration struct {
	ID              string            `json:"id,omitempty"`
	PublicAddress   string            `json:"publicAddress,omitempty"`
	InternalAddress string            `json:"internalAddress,omitempty"`
	Protocol        string            `json:"protocol,omitempty"`
	Weight          *int              `json:"weight,omitempty"`
	Zone            string            `json:"zone,omitempty"`
	Tags            []string          `json:"tags,omitempty"`
	Metadata        map[string]string `json:"metadata,omitempty"`
	TTL             string            `json:"ttl,omitempty"`
	Check           *wireCheck        `json:"check,omitempty"`
}

type wireCheck struct {
	HTTP               string `json:"http,omitempty"`
	TCP                string `json:"tcp,omitempty"`
	Interval           string `json:"interval,omitempty"`
	Timeout            string `json:"timeout,omitempty"`
	HealthyThreshold   int    `json:"healthyThreshold,omitempty"`
	UnhealthyThreshold int    `json:"unhealthyThreshold,omitempty"`
}

func (r Registration) wire(ttl time.Duration) wireRegistration {
	w := wireRegistration{
		ID: r.ID, PublicAddress: r.PublicAddress, InternalAddress: r.InternalAddress,
		Protocol: r.Protocol, Weight: r.Weight, Zone: r.Zone, Tags: r.Tags, Metadata: r.Metadata,
	}
	if ttl > 0 {
		w.TTL = formatDuration(ttl)
	}
	if ch := r.Check; ch != nil {
		w.Check = &wireCheck{HTTP: ch.HTTP, TCP: ch.TCP, HealthyThreshold: ch.HealthyThreshold, UnhealthyThreshold: ch.UnhealthyThreshold}
		if ch.Interval > 0 {
			w.Check.Interval = formatDuration(ch.Interval)
		}
		if ch.Timeout > 0 {
			w.Check.Timeout = formatDuration(ch.Timeout)
		}
	}
	return w
}

// Registered is an endpoint registered through Register. While it lives it heartbeats in the
// background; Deregister (or the Client's Close) removes it from Miko.
type Registered struct {
	c       *Client
	service string
	ttl     time.Duration
	body    wireRegistration // what is sent again when Miko has forgotten the endpoint

	mu sync.Mutex
	ep Endpoint

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	err    error
}

// Register registers an endpoint of service with Miko (the token needs the register or admin
// role) and keeps it alive: with a ttl above zero, Miko marks the endpoint critical when no
// heartbeat arrives within ttl, so the client sends one every ttl/3 in the background and
// registers the endpoint again if Miko answers 404 (it removed the endpoint). With ttl 0 there
// is no lease and no heartbeat. Errors: an *APIError (ErrUnauthorized, ErrForbidden,
// ErrInvalidRequest), an *UnreachableError (ErrUnreachable), ErrClosed, or the context's error.
func (c *Client) Register(ctx context.Context, service string, r Registration, ttl time.Duration) (*Registered, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	if !validServiceName(service) {
		return nil, fmt.Errorf("%w: %q is not a service name (a DNS label: lower-case letters, digits and hyphens)", ErrInvalidRequest, service)
	}
	if ttl < 0 {
		return nil, fmt.Errorf("%w: negative ttl %s", ErrInvalidRequest, ttl)
	}
	reg := &Registered{c: c, service: service, ttl: ttl, body: r.wire(ttl), done: make(chan struct{})}
	var w wireEndpoint
	if err := c.call(ctx, http.MethodPost, reg.path(""), reg.body, &w); err != nil {
		return nil, err
	}
	reg.body.ID = w.ID
	reg.ep, _ = w.toEndpoint().withAddress(c.cfg.kind)

	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		_ = c.call(context.Background(), http.MethodDelete, reg.path(w.ID), nil, nil)
		return nil, ErrClosed
	}
	c.regs[reg] = struct{}{}
	var hctx context.Context
	hctx, reg.cancel = context.WithCancel(c.ctx)
	c.wg.Add(1)
	c.mu.Unlock()
	go reg.heartbeat(hctx)
	return reg, nil
}

// ID is the endpoint's id (chosen by Miko when the Registration had none).
func (r *Registered) ID() string { return r.body.ID }

// Service is the service the endpoint belongs to.
func (r *Registered) Service() string { return r.service }

// Endpoint is the endpoint as Miko last reported it (at registration or the latest heartbeat).
func (r *Registered) Endpoint() Endpoint {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ep
}

// Deregister stops the heartbeats and removes the endpoint from Miko. An endpoint Miko had already
// removed counts as success. Later calls return the first call's result.
func (r *Registered) Deregister(ctx context.Context) error {
	return r.deregister(ctx)
}

func (r *Registered) deregister(ctx context.Context) error {
	r.once.Do(func() {
		r.cancel()
		<-r.done
		err := r.c.call(ctx, http.MethodDelete, r.path(r.body.ID), nil, nil)
		if errors.Is(err, ErrNotFound) {
			err = nil
		}
		r.err = err
		r.c.mu.Lock()
		delete(r.c.regs, r)
		r.c.mu.Unlock()
	})
	return r.err
}

func (r *Registered) path(id string) string {
	p := "/v1/services/" + url.PathEscape(r.service) + "/endpoints"
	if id != "" {
		p += "/" + url.PathEscape(id)
	}
	return p
}

// heartbeat renews the lease every ttl/3 and registers again when Miko lost the endpoint.
func (r *Registered) heartbeat(ctx context.Context) {
	defer r.c.wg.Done()
	defer close(r.done)
	if r.ttl <= 0 {
		<-ctx.Done()
		return
	}
	interval := max(r.ttl/3, 10*time.Millisecond)
	timeout := min(r.c.cfg.timeout, r.ttl)
	failing := false
	for sleepCtx(ctx, interval) {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		var w wireEndpoint
		err := r.c.call(cctx, http.MethodPut, r.path(r.body.ID)+"/heartbeat", nil, &w)
		if errors.Is(err, ErrNotFound) {
			r.c.log.Info("miko: endpoint unknown to Miko; registering it again", "service", r.service, "endpoint", r.body.ID)
			w = wireEndpoint{}
			err = r.c.call(cctx, http.MethodPost, r.path(""), r.body, &w)
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if !failing {
				r.c.log.Warn("miko: heartbeat failed", "service", r.service, "endpoint", r.body.ID, "error", err)
			}
			failing = true
			continue
		}
		failing = false
		ep, _ := w.toEndpoint().withAddress(r.c.cfg.kind)
		r.mu.Lock()
		r.ep = ep
		r.mu.Unlock()
	}
}
