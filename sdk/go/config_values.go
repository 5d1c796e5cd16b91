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
	"time"
)

// Entry returns a key of the copy (relative to the prefix), and whether it is there.
func (cfg *Config) Entry(key string) (ConfigEntry, bool) {
	if s := cfg.snap.Load(); s != nil {
		e, ok := s.entries[key]
		return e, ok
	}
	return ConfigEntry{}, false
}

// Keys lists the keys of the copy (relative to the prefix), sorted.
func (cfg *Config) Keys() []string {
	s := cfg.snap.Load()
	if s == nil {
		return nil
	}
	keys := make([]string, 0, len(s.entries))
	for key := range s.entries {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	return keys
}

// Get returns a key's JSON value, and whether the copy has one (not for a secret value this token
// may not write).
func (cfg *Config) Get(key string) (json.RawMessage, bool) {
	e, ok := cfg.Entry(key)
	if !ok || e.Value == nil {
		return nil, false
	}
	return e.Value, true
}

// Decode decodes a key's value into v (as json.Unmarshal does). It reports false, leaving v as it
// was, when the copy has no value for the key; an error when the value does not fit v.
func (cfg *Config) Decode(key string, v any) (bool, error) {
	raw, ok := cfg.Get(key)
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("miko: value of %q: %w", cfg.prefix+key, err)
	}
	return true, nil
}

// ConfigValue returns a key's value decoded as a T, or def when the copy has no value for the key
// or it is not a T.
func ConfigValue[T any](cfg *Config, key string, def T) T {
	var v T
	if ok, err := cfg.Decode(key, &v); !ok || err != nil {
		return def
	}
	return v
}

// GetString returns a key's value when it is a JSON string, else def.
func (cfg *Config) GetString(key, def string) string { return ConfigValue(cfg, key, def) }

// GetInt returns a key's value when it is a JSON whole number, else def.
func (cfg *Config) GetInt(key string, def int) int { return ConfigValue(cfg, key, def) }

// GetFloat returns a key's value when it is a JSON number, else def.
func (cfg *Config) GetFloat(key string, def float64) float64 { return ConfigValue(cfg, key, def) }

// GetBool returns a key's value when it is true or false, else def.
func (cfg *Config) GetBool(key string, def bool) bool { return ConfigValue(cfg, key, def) }

// GetDuration returns a key's value when it is a duration: a string time.ParseDuration reads
// ("30s", "1m30s") or a number of milliseconds; else def.
func (cfg *Config) GetDuration(key string, def time.Duration) time.Duration {
	raw, ok := cfg.Get(key)
	if !ok {
		return def
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		if d, err := time.ParseDuration(text); err == nil {
			return d
		}
		return def
	}
	if ms, err := strconv.ParseFloat(strings.TrimSpace(string(raw)), 64); err == nil {
		return time.Duration(ms * float64(time.Millisecond))
	}
	return def
}

// WriteOption makes a write or a delete conditional, or annotates it.
type WriteOption func(*writeOptions)

type writeOptions struct {
	ifVersion  uint64
	versionSet bool
	create     bool
	comment    *string
	secret     *bool
}

// IfVersion makes a write or delete a compare-and-set: it succeeds only while the key is at
// version v (If-Match), else ErrVersionConflict.
func IfVersion(v uint64) WriteOption {
	return func(o *writeOptions) { o.ifVersion, o.versionSet = v, true }
}

// CreateOnly makes a write succeed only when the key does not exist (If-None-Match: *), else
// ErrVersionConflict.
func CreateOnly() WriteOption { return func(o *writeOptions) { o.create = true } }

// WithComment records a comment with the version, shown in the key's history.
func WithComment(comment string) WriteOption { return func(o *writeOptions) { o.comment = &comment } }

// Secret marks the value secret (or not): tokens without write access to it do not see it in
// listings and history.
func Secret(secret bool) WriteOption { return func(o *writeOptions) { o.secret = &secret } }

// Written is Miko's answer to a write or a delete: the key's new version.
type Written struct {
	Key       string    `json:"key"` // the full key, prefix included
	Version   uint64    `json:"version"`
	Index     uint64    `json:"index"`
	UpdatedAt time.Time `json:"updatedAt"`
	UpdatedBy string    `json:"updatedBy"`
}

func (o writeOptions) header() http.Header {
	h := http.Header{}
	if o.versionSet {
		h.Set("If-Match", strconv.FormatUint(o.ifVersion, 10))
	}
	if o.create {
		h.Set("If-None-Match", "*")
	}
	return h
}

func collect(opts []WriteOption) writeOptions {
	var o writeOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}

// Set writes value (anything json.Marshal takes) to the key (relative to the prefix). Errors:
// ErrVersionConflict for a failed IfVersion or CreateOnly, ErrKVForbidden without write access,
// ErrInvalidRequest for a bad key, and an *APIError with status 413 for a value too large.
func (cfg *Config) Set(ctx context.Context, key string, value any, opts ...WriteOption) (Written, error) {
	o := collect(opts)
	body := struct {
		Value   any     `json:"value"`
		Comment *string `json:"comment,omitempty"`
		Secret  *bool   `json:"secret,omitempty"`
	}{value, o.comment, o.secret}
	var w Written
	err := cfg.c.callWith(ctx, http.MethodPut, keyPath(cfg.prefix+key), o.header(), body, &w)
	return w, err
}

// Delete deletes the key (relative to the prefix): ErrKeyNotFound when it is not there, and with
// IfVersion ErrVersionConflict when it is at another version.
func (cfg *Config) Delete(ctx context.Context, key string, opts ...WriteOption) (Written, error) {
	var w Written
	err := cfg.c.callWith(ctx, http.MethodDelete, keyPath(cfg.prefix+key), collect(opts).header(), nil, &w)
	return w, err
}

func keyPath(key string) string {
	segments := strings.Split(key, "/")
	for i, s := range segments {
		segments[i] = url.PathEscape(s)
	}
	return "/v1/kv/" + strings.Join(segments, "/")
}
