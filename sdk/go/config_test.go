package miko_test

import (
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	miko "github.com/miko-dev/miko/sdk/go"
)

// putKey writes a key the way an operator would, with the admin token.
func (m *mikoServer) putKey(t testing.TB, key string, value any) {
	t.Helper()
	if code := m.api(t, http.MethodPut, "/v1/kv/"+key, adminToken, map[string]any{"value": value}, nil); code != http.StatusOK {
		t.Fatalf("PUT %s: status %d", key, code)
	}
}

// A change written by someone else reaches a running Config within 1 s, with its listener called;
// typed reads fall back to their defaults for keys that are absent or of another type.
func TestConfigChangeReachesARunningClient(t *testing.T) {
	t.Parallel()
	m := sharedMiko(t)
	ctx := t.Context()
	m.putKey(t, "billing/live/pool-size", 10)
	m.putKey(t, "billing/live/timeout", "1m30s")
	cfg := newClient(t, m, billingToken).Config("billing/live/")
	if err := cfg.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if got := cfg.GetInt("pool-size", 1); got != 10 {
		t.Fatalf("GetInt = %d", got)
	}
	if got := cfg.GetString("pool-size", "none"); got != "none" {
		t.Fatalf("GetString of a number = %q, want the default", got)
	}
	if got := cfg.GetDuration("timeout", time.Second); got != 90*time.Second {
		t.Fatalf("GetDuration = %s", got)
	}
	if got := miko.ConfigValue(cfg, "missing", []string{"a"}); len(got) != 1 {
		t.Fatalf("ConfigValue default = %v", got)
	}
	if e, ok := cfg.Entry("pool-size"); !ok || e.Version != 1 || e.UpdatedBy != "admin" {
		t.Fatalf("Entry = %+v, %v", e, ok)
	}

	var mu sync.Mutex
	var heard []miko.Change
	stop := cfg.OnChange(func(c miko.Change) {
		mu.Lock()
		heard = append(heard, c)
		mu.Unlock()
	})
	defer stop()
	m.putKey(t, "other/live/flag", true) // another prefix: no change here
	m.putKey(t, "billing/live/pool-size", 20)
	written := time.Now()
	eventually(t, time.Second, "the new value reaches the client", func() bool { return cfg.GetInt("pool-size", 0) == 20 })
	t.Logf("seen %s after the write", time.Since(written).Round(time.Millisecond))
	eventually(t, time.Second, "the listener is called", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(heard) == 1
	})
	mu.Lock()
	change := heard[0]
	mu.Unlock()
	if change.Key != "pool-size" || change.Deleted || change.Entry.Version != 2 || change.Previous == nil || string(change.Previous.Value) != "10" {
		t.Fatalf("change = %+v", change)
	}
	if keys := cfg.Keys(); len(keys) != 2 || keys[0] != "pool-size" || keys[1] != "timeout" {
		t.Fatalf("Keys = %v", keys)
	}
}

// Miko stopped: the Config keeps answering from its last copy. Miko restarted on the same port
// and data: a value written there reaches the same Config.
func TestConfigSurvivesAMikoRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	port := freePort(t)
	m := ownMiko(t, dir, port)
	ctx := t.Context()
	m.putKey(t, "billing/restart/rate", 0.5)
	c := newClient(t, m, billingToken, miko.WithBackoff(50*time.Millisecond, 300*time.Millisecond))
	cfg := c.Config("billing/restart/")
	if err := cfg.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if err := m.stop(); err != nil {
		t.Fatalf("Miko did not stop cleanly: %v", err)
	}
	eventually(t, 10*time.Second, "the Config notices Miko is gone", cfg.Stale)
	if !errors.Is(cfg.Err(), miko.ErrUnreachable) {
		t.Fatalf("Err() = %v, want ErrUnreachable", cfg.Err())
	}
	if got := cfg.GetFloat("rate", 0); got != 0.5 {
		t.Fatalf("while Miko is down: rate = %v", got)
	}

	m2 := ownMiko(t, dir, port)
	m2.putKey(t, "billing/restart/rate", 0.75)
	eventually(t, 15*time.Second, "the value written after the restart", func() bool { return cfg.GetFloat("rate", 0) == 0.75 })
	if cfg.Stale() || cfg.Err() != nil {
		t.Fatalf("after the restart: stale %v, err %v", cfg.Stale(), cfg.Err())
	}
}

// A prefix the token may not read, or a key it may not write, is ErrKVForbidden (an ErrForbidden too).
func TestConfigDeniedPrefix(t *testing.T) {
	t.Parallel()
	m := sharedMiko(t)
	ctx := t.Context()
	cfg := newClient(t, m, billingToken).Config("payroll/")
	err := cfg.Ready(ctx)
	if !errors.Is(err, miko.ErrKVForbidden) || !errors.Is(err, miko.ErrForbidden) {
		t.Fatalf("Ready = %v, want ErrKVForbidden", err)
	}
	var apiErr *miko.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusForbidden || apiErr.Code != "kv_forbidden" {
		t.Fatalf("Ready = %#v", err)
	}
	if _, err := cfg.Set(ctx, "salary", 1); !errors.Is(err, miko.ErrKVForbidden) {
		t.Fatalf("Set = %v, want ErrKVForbidden", err)
	}
	if got := cfg.GetInt("salary", -1); got != -1 {
		t.Fatalf("GetInt = %d, want the default", got)
	}
}

// Compare-and-set: a lost race is ErrVersionConflict, so are create-only writes of an existing key
// and conditional deletes at another version; deleting a missing key is ErrKeyNotFound.
func TestConfigCompareAndSet(t *testing.T) {
	t.Parallel()
	m := sharedMiko(t)
	ctx := t.Context()
	cfg := newClient(t, m, billingToken).Config("billing/cas/")
	w, err := cfg.Set(ctx, "limit", 100, miko.CreateOnly(), miko.WithComment("first"))
	if err != nil || w.Version != 1 || w.Key != "billing/cas/limit" || w.UpdatedBy != "billing" {
		t.Fatalf("create = %+v, %v", w, err)
	}
	if _, err := cfg.Set(ctx, "limit", 101, miko.CreateOnly()); !errors.Is(err, miko.ErrVersionConflict) {
		t.Fatalf("second create = %v, want ErrVersionConflict", err)
	}
	if w, err := cfg.Set(ctx, "limit", 200, miko.IfVersion(1)); err != nil || w.Version != 2 {
		t.Fatalf("CAS at 1 = %+v, %v", w, err)
	}
	_, err = cfg.Set(ctx, "limit", 300, miko.IfVersion(1))
	var apiErr *miko.APIError
	if !errors.Is(err, miko.ErrVersionConflict) || !errors.As(err, &apiErr) || apiErr.Code != "kv_version_conflict" {
		t.Fatalf("stale CAS = %v, want ErrVersionConflict", err)
	}
	if _, err := cfg.Delete(ctx, "limit", miko.IfVersion(1)); !errors.Is(err, miko.ErrVersionConflict) {
		t.Fatalf("stale delete = %v, want ErrVersionConflict", err)
	}
	if w, err := cfg.Delete(ctx, "limit", miko.IfVersion(2)); err != nil || w.Version != 3 {
		t.Fatalf("delete = %+v, %v", w, err)
	}
	if _, err := cfg.Delete(ctx, "limit"); !errors.Is(err, miko.ErrKeyNotFound) || !errors.Is(err, miko.ErrNotFound) {
		t.Fatalf("second delete = %v, want ErrKeyNotFound", err)
	}
	if w, err := cfg.Set(ctx, "limit", 1, miko.CreateOnly()); err != nil || w.Version != 4 {
		t.Fatalf("create after delete = %+v, %v (versions are never reused)", w, err)
	}
	eventually(t, time.Second, "the copy follows its own writes", func() bool { return cfg.GetInt("limit", 0) == 1 })
}

// A secret value is in a writer's copy and left out of a reader's, whose typed reads answer their
// defaults; a reader may not write.
func TestConfigSecretValues(t *testing.T) {
	t.Parallel()
	m := sharedMiko(t)
	ctx := t.Context()
	writer := newClient(t, m, billingToken).Config("billing/secret/")
	if _, err := writer.Set(ctx, "api-key", "s3cret", miko.Secret(true)); err != nil {
		t.Fatalf("Set secret: %v", err)
	}
	if _, err := writer.Set(ctx, "region", "eu"); err != nil {
		t.Fatalf("Set: %v", err)
	}
	eventually(t, time.Second, "the writer's copy", func() bool { return writer.GetString("api-key", "") == "s3cret" })
	reader := newClient(t, m, readerToken).Config("billing/secret/")
	if err := reader.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if got := reader.GetString("region", ""); got != "eu" {
		t.Fatalf("region = %q", got)
	}
	if e, ok := reader.Entry("api-key"); !ok || !e.Secret || e.Value != nil {
		t.Fatalf("reader's entry = %+v, %v", e, ok)
	}
	if got := reader.GetString("api-key", "hidden"); got != "hidden" {
		t.Fatalf("reader's secret = %q, want the default", got)
	}
	if _, err := reader.Set(ctx, "region", "us"); !errors.Is(err, miko.ErrKVForbidden) {
		t.Fatalf("reader's Set = %v, want ErrKVForbidden", err)
	}
}
