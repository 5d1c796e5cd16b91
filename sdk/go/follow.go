package miko

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"
)

// freshness is what a follower of something of Miko's (the endpoint list, a Config's keys)
// reports: whether its copy may be out of date and why, when Miko last confirmed it, and whether
// a first attempt to read it has ended.
type freshness struct {
	ready    chan struct{} // closed when the first attempt has ended
	readyOne sync.Once

	mu          sync.Mutex
	lastErr     error
	stale       bool
	lastUpdated time.Time
}

func (f *freshness) init() { f.ready = make(chan struct{}) }

// settle ends the wait for a first attempt.
func (f *freshness) settle() { f.readyOne.Do(func() { close(f.ready) }) }

// failed records a failed attempt; it reports whether it is the first of a row.
func (f *freshness) failed(err error) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	first := !f.stale
	f.stale, f.lastErr = true, err
	return first
}

// confirmed records an answer from Miko.
func (f *freshness) confirmed() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stale, f.lastErr, f.lastUpdated = false, nil, time.Now()
}

func (f *freshness) isStale() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stale || f.lastUpdated.IsZero()
}

// err is the latest attempt's error, nil after a success.
func (f *freshness) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stale {
		return nil
	}
	return f.lastErr
}

func (f *freshness) updated() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastUpdated
}

// follow runs poll until ctx ends: poll(true) is a blocking query once there is a copy; after a
// failure the next call is poll(false), a plain read, because Miko may be a new process with
// nothing new to say and its first answer is what ends the staleness. Failures keep the last
// copy and retry with backoff. poll reports whether the copy changed.
func (c *Client) follow(ctx context.Context, f *freshness, what string, poll func(block bool) (changed bool, err error)) {
	failures := 0
	for {
		started := time.Now()
		changed, err := poll(failures == 0)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if f.failed(err) {
				c.log.Warn("miko: "+what+" not refreshed; using the last copy", "error", err)
			}
			f.settle()
			if !sleepCtx(ctx, c.backoff(failures)) {
				return
			}
			failures++
			continue
		}
		if failures > 0 {
			c.log.Info("miko: " + what + " refreshed again")
		}
		failures = 0
		f.confirmed()
		f.settle()
		// A blocking query that comes back at once without news (Miko shutting down, say) must not
		// turn into a busy loop.
		if !changed && time.Since(started) < min(c.cfg.wait/2, time.Second) {
			if !sleepCtx(ctx, c.cfg.backoffMin) {
				return
			}
		}
	}
}

// fetch sends one GET to Miko's API, bounded by timeout: the answer's status, ETag and body, or an
// *UnreachableError.
func (c *Client) fetch(ctx context.Context, target string, timeout time.Duration, etag string) (int, string, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, "", nil, err
	}
	c.authorize(req)
	req.Header.Set("Accept", "application/json")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := c.api.Do(req)
	if err != nil {
		return 0, "", nil, &UnreachableError{Address: c.base, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", nil, &UnreachableError{Address: c.base, Err: err}
	}
	return resp.StatusCode, resp.Header.Get("ETag"), body, nil
}
