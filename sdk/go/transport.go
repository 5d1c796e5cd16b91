package miko

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Transport is an http.RoundTripper for URLs whose host names a service, such as
// "http://hanami/orders?id=7". For every request it picks one of the service's passing endpoints
// (by the client's strategy; in panic mode, as Pick does, one of the others), rewrites the URL to
// that endpoint's address (keeping path and query; an address's own path is prefixed; a URL
// address's scheme, or else the endpoint's http/https protocol, replaces the request's scheme)
// and sends it with the underlying transport.
//
// Failover: when an attempt fails with a connection error, a timeout (WithAttemptTimeout) or a
// 502/503/504 answer, the endpoint is marked down for the cool-down (WithCooldown) so later
// requests skip it, and the request is retried on the next endpoint, up to WithMaxAttempts
// attempts in all, with backoff when it must return to an endpoint already tried. Only requests
// that are safe to repeat are retried: idempotent methods (GET, HEAD, OPTIONS, TRACE, PUT,
// DELETE) or requests with an Idempotency-Key header, and any request whose connection could not
// be established (it never left); and only when the body can be replayed (no body, or
// Request.GetBody set, as http.NewRequest does for bytes, strings and bytes.Buffer bodies). When
// every attempt fails the caller gets the last attempt's answer or error.
//
// A host that is not a service name (it has a dot, as IP addresses and domain names do) is sent
// unchanged to the underlying transport, so absolute redirects to a backend still work. The
// port of a service URL, if any, is ignored.
type Transport struct {
	c *Client
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	c := t.c
	service := req.URL.Hostname()
	if !validServiceName(service) {
		return c.backend.RoundTrip(req)
	}
	ctx := req.Context()
	e, err := c.entry(ctx, service)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	attempts := c.cfg.maxAttempts
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		attempts = 1
	}
	idempotent := isIdempotent(req)
	var triedBuf [4]string
	tried := triedBuf[:0]
	returns := 0
	for attempt := 1; ; attempt++ {
		ep, reused, ok := c.choose(service, e, tried)
		if !ok {
			if attempt == 1 {
				closeBody(req)
			}
			return nil, &ServiceError{Service: service, Err: ErrNoHealthyEndpoint}
		}
		if reused {
			if !sleepCtx(ctx, c.backoff(returns)) {
				return nil, ctx.Err()
			}
			returns++
		}
		resp, err := t.attempt(ctx, req, ep, attempt)
		if err == nil && !isUnavailableStatus(resp.StatusCode) {
			return resp, nil
		}
		if ctx.Err() != nil {
			return resp, err
		}
		if errors.Is(err, errNoReplay) {
			return nil, err
		}
		c.breaker.markDown(ep, c.cfg.cooldown)
		c.log.Warn("miko: endpoint failed; marked down", "service", service, "endpoint", ep.ID, "address", ep.Address, "error", failure(resp, err))
		if attempt >= attempts || !(idempotent || isDialError(err)) {
			if err != nil && attempt > 1 {
				err = fmt.Errorf("miko: %s: %d attempts failed, the last: %w", service, attempt, err)
			}
			return resp, err
		}
		if resp != nil {
			_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
			resp.Body.Close()
		}
		tried = append(tried, ep.ID)
		if next, err := c.entry(ctx, service); err == nil {
			e = next
		}
	}
}

var errNoReplay = errors.New("miko: cannot replay the request body")

// outgoing holds an attempt's request and its URL in one allocation.
type outgoing struct {
	req http.Request
	url url.URL
}

// attempt sends req to ep. The Client's own transport enforces the attempt timeout itself (dial
// and response-header timeouts); over a transport given with WithTransport the attempt runs under
// a context that ends when the timeout passes before the response headers, or when the response
// body is closed.
func (t *Transport) attempt(ctx context.Context, req *http.Request, ep Endpoint, n int) (*http.Response, error) {
	var cancel context.CancelFunc
	var timer *time.Timer
	if d := t.c.cfg.attemptTimeout; d > 0 && t.c.ownTr == nil {
		ctx, cancel = context.WithCancel(ctx)
		timer = time.AfterFunc(d, cancel)
	}
	o := &outgoing{req: *req, url: *req.URL}
	out := &o.req
	out.URL = &o.url
	if ctx != req.Context() {
		out = out.WithContext(ctx)
	}
	u := &o.url
	if ep.target.scheme != "" {
		u.Scheme = ep.target.scheme
	}
	u.Host = ep.target.host
	if ep.target.path != "" {
		u.Path = ep.target.path + u.Path
		if u.RawPath != "" {
			u.RawPath = ep.target.path + u.RawPath
		}
	}
	if req.Host == "" || req.Host == req.URL.Host {
		out.Host = ""
	}
	if n > 1 && req.Body != nil && req.Body != http.NoBody {
		body, err := req.GetBody()
		if err != nil {
			if cancel != nil {
				timer.Stop()
				cancel()
			}
			return nil, fmt.Errorf("%w: %w", errNoReplay, err)
		}
		out.Body = body
	}
	resp, err := t.c.backend.RoundTrip(out)
	if cancel == nil {
		return resp, err
	}
	if !timer.Stop() {
		// The timeout fired: the attempt failed even if an answer slipped in.
		if err == nil {
			resp.Body.Close()
		}
		cancel()
		return nil, &attemptTimeoutError{d: t.c.cfg.attemptTimeout, err: err}
	}
	if err != nil {
		cancel()
		return nil, err
	}
	if rw, ok := resp.Body.(io.ReadWriteCloser); ok && resp.StatusCode == http.StatusSwitchingProtocols {
		resp.Body = &cancelRWBody{ReadWriteCloser: rw, cancel: cancel}
	} else {
		resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	}
	return resp, nil
}

// CloseIdleConnections closes the underlying transport's idle connections.
func (t *Transport) CloseIdleConnections() {
	if ci, ok := t.c.backend.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

type attemptTimeoutError struct {
	d   time.Duration
	err error
}

func (e *attemptTimeoutError) Error() string {
	return fmt.Sprintf("miko: no response within the attempt timeout (%s)", e.d)
}
func (e *attemptTimeoutError) Unwrap() error { return e.err }
func (e *attemptTimeoutError) Timeout() bool { return true }

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

type cancelRWBody struct {
	io.ReadWriteCloser
	cancel context.CancelFunc
}

func (b *cancelRWBody) Close() error {
	err := b.ReadWriteCloser.Close()
	b.cancel()
	return err
}

func isIdempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	if _, ok := req.Header["Idempotency-Key"]; ok {
		return true
	}
	_, ok := req.Header["X-Idempotency-Key"]
	return ok
}

// isDialError reports a connection that could not be established: the request was not sent.
func isDialError(err error) bool {
	var op *net.OpError
	return err != nil && errors.As(err, &op) && op.Op == "dial"
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

func failure(resp *http.Response, err error) any {
	if err != nil {
		return err
	}
	return resp.Status
}
