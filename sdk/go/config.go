package miko

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config is a local copy of the application keys under one prefix, with their values, kept fresh
// in the background by blocking queries on GET /v1/kv?prefix=…&values=true. Reads answer from
// memory: while Miko is unreachable they answer from the last copy (Stale reports it), which is
// refreshed once Miko is back. Keys given to a Config's methods are relative to its prefix. A
// Config is safe for concurrent use; Close (or the Client's Close) stops it.
type Config struct {
	c       *Client
	prefix  string
	listURL string

	snap  atomic.Pointer[configSnapshot]
	fresh freshness

	mu        sync.Mutex // guards listeners and nextID
	listeners map[int]func(Change)
	nextID    int

	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// ConfigEntry is one key of the copy.
type ConfigEntry struct {
	Key       string          // relative to the Config's prefix
	Value     json.RawMessage // the JSON value; nil for a secret value this token may not write
	Version   uint64          // the key's version: 1, 2, 3 … one per write
	Index     uint64          // the change index of the key's last write
	UpdatedAt time.Time
	UpdatedBy string // the writing token's name
	Secret    bool
}

// Change is one difference between two copies: a key written (new, or at a new version) or
// deleted.
type Change struct {
	Key      string       // relative to the Config's prefix
	Deleted  bool         // the key is gone; Entry is then the zero value
	Entry    ConfigEntry  // the key as it is now
	Previous *ConfigEntry // the key before the change; nil for a new key
}

type configSnapshot struct {
	index   uint64
	entries map[string]ConfigEntry
}

type wireKvItem struct {
	Key       string          `json:"key"`
	Version   uint64          `json:"version"`
	Index     uint64          `json:"index"`
	UpdatedAt time.Time       `json:"updatedAt"`
	UpdatedBy string          `json:"updatedBy"`
	Secret    bool            `json:"secret"`
	Value     json.RawMessage `json:"value"`
}

type wireKvList struct {
	Index uint64       `json:"index"`
	Items []wireKvItem `json:"items"`
}

// Config starts following the keys under prefix (such as "billing/") and returns at once; reads
// wait for nothing, and Ready waits for the first copy.
func (c *Client) Config(prefix string) *Config {
	cfg := &Config{
		c:         c,
		prefix:    prefix,
		listURL:   c.base + "/v1/kv?" + url.Values{"prefix": {prefix}, "values": {"true"}}.Encode(),
		listeners: map[int]func(Change){},
		done:      make(chan struct{}),
	}
	cfg.fresh.init()
	cfg.ctx, cfg.cancel = context.WithCancel(c.ctx)
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		cfg.cancel()
		close(cfg.done)
		cfg.fresh.settle()
		return cfg
	}
	c.configs[cfg] = struct{}{}
	c.mu.Unlock()
	go cfg.follow()
	return cfg
}

// Prefix is the prefix the Config follows.
func (cfg *Config) Prefix() string { return cfg.prefix }

// Close stops following the prefix. The last copy stays readable.
func (cfg *Config) Close() {
	cfg.closeOnce.Do(func() {
		cfg.cancel()
		<-cfg.done
		cfg.fresh.settle()
		cfg.c.mu.Lock()
		delete(cfg.c.configs, cfg)
		cfg.c.mu.Unlock()
	})
}

// Ready waits for the first copy. Before it, it returns the error of the first attempt once that
// has ended (ErrKVForbidden for a prefix the token may not read, ErrUnreachable, …), or the
// context's error.
func (cfg *Config) Ready(ctx context.Context) error {
	if cfg.snap.Load() != nil {
		return nil
	}
	select {
	case <-cfg.fresh.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	if cfg.snap.Load() != nil {
		return nil
	}
	if cfg.ctx.Err() != nil {
		return ErrClosed
	}
	if err := cfg.Err(); err != nil {
		return err
	}
	return ErrUnreachable
}

// Index is the change index of the copy (0 before the first one).
func (cfg *Config) Index() uint64 {
	if s := cfg.snap.Load(); s != nil {
		return s.index
	}
	return 0
}

// Stale reports whether the copy may be out of date: the latest attempt to read it failed, or
// none has succeeded yet.
func (cfg *Config) Stale() bool { return cfg.fresh.isStale() }

// Err is the error of the latest failed attempt to refresh the copy, or nil after a success.
func (cfg *Config) Err() error { return cfg.fresh.err() }

// LastUpdated is when Miko last confirmed the copy (zero before the first one).
func (cfg *Config) LastUpdated() time.Time { return cfg.fresh.updated() }

// OnChange calls fn with every change to the copy from now on, one at a time on the Config's
// goroutine (keep it short; it must not call Close, which waits for that goroutine). The
// returned function stops the calls.
func (cfg *Config) OnChange(fn func(Change)) (stop func()) {
	cfg.mu.Lock()
	id := cfg.nextID
	cfg.nextID++
	cfg.listeners[id] = fn
	cfg.mu.Unlock()
	return func() {
		cfg.mu.Lock()
		delete(cfg.listeners, id)
		cfg.mu.Unlock()
	}
}

// follow keeps the copy fresh with blocking queries (see Client.follow), telling the listeners of
// each change.
func (cfg *Config) follow() {
	defer close(cfg.done)
	cfg.c.follow(cfg.ctx, &cfg.fresh, fmt.Sprintf("keys under %q", cfg.prefix), func(block bool) (bool, error) {
		prev := cfg.snap.Load()
		next, err := cfg.poll(prev, block)
		if err != nil || next == prev || cfg.ctx.Err() != nil {
			return false, err
		}
		cfg.snap.Store(next)
		if prev != nil {
			cfg.notify(changesBetween(prev, next))
		}
		return true, nil
	})
}

func (cfg *Config) notify(changes []Change) {
	if len(changes) == 0 {
		return
	}
	cfg.mu.Lock()
	ids := make([]int, 0, len(cfg.listeners))
	for id := range cfg.listeners {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	fns := make([]func(Change), 0, len(ids))
	for _, id := range ids {
		fns = append(fns, cfg.listeners[id])
	}
	cfg.mu.Unlock()
	for _, change := range changes {
		for _, fn := range fns {
			fn(change)
		}
	}
}

// poll reads the keys, as a blocking query when a copy is held and block is set. It returns prev
// when Miko reports no change.
func (cfg *Config) poll(prev *configSnapshot, block bool) (*configSnapshot, error) {
	c := cfg.c
	target, timeout := cfg.listURL, c.cfg.timeout
	if prev != nil && block {
		target += "&index=" + strconv.FormatUint(prev.index, 10) + "&wait=" + formatDuration(c.cfg.wait)
		timeout = c.cfg.wait + c.cfg.timeout
	}
	status, _, body, err := c.fetch(cfg.ctx, target, timeout, "")
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, decodeAPIError(status, body)
	}
	var list wireKvList
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("miko: malformed key listing: %w", err)
	}
	if prev != nil && list.Index == prev.index {
		return prev, nil
	}
	// A lower index than before (Miko's store was reset) is the truth as much as a higher one.
	next := &configSnapshot{index: list.Index, entries: make(map[string]ConfigEntry, len(list.Items))}
	for _, item := range list.Items {
		key := strings.TrimPrefix(item.Key, cfg.prefix)
		next.entries[key] = ConfigEntry{
			Key: key, Value: item.Value, Version: item.Version, Index: item.Index,
			UpdatedAt: item.UpdatedAt, UpdatedBy: item.UpdatedBy, Secret: item.Secret,
		}
	}
	return next, nil
}

// changesBetween lists what changed from one copy to the next, sorted by key.
func changesBetween(prev, next *configSnapshot) []Change {
	var changes []Change
	for key, entry := range next.entries {
		before, had := prev.entries[key]
		if !had {
			changes = append(changes, Change{Key: key, Entry: entry})
		} else if before.Version != entry.Version || before.Index != entry.Index {
			changes = append(changes, Change{Key: key, Entry: entry, Previous: &before})
		}
	}
	for key, before := range prev.entries {
		if _, kept := next.entries[key]; !kept {
			changes = append(changes, Change{Key: key, Deleted: true, Previous: &before})
		}
	}
	slices.SortFunc(changes, func(a, b Change) int { return strings.Compare(a.Key, b.Key) })
	return changes
}
