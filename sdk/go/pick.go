package miko

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// choose picks one of e's candidates (its passing endpoints or, in panic mode, the others),
// preferring, in order: candidates that are neither marked down nor in exclude; those not in
// exclude; those not marked down; any. reused reports that the pick is one of exclude (every
// candidate was tried already).
func (c *Client) choose(service string, e *serviceEntry, exclude []string) (ep Endpoint, reused, ok bool) {
	if len(e.candidates) == 0 {
		return Endpoint{}, false, false
	}
	if len(exclude) == 0 && c.breaker.n.Load() == 0 {
		return c.apply(e, e.candidates, true), false, true
	}
	now := time.Now()
	excluded := func(i int) bool {
		for _, id := range exclude {
			if e.endpoints[i].ID == id {
				return true
			}
		}
		return false
	}
	down := func(i int) bool { return c.breaker.isDown(service, e.endpoints[i].ID, now) }
	tiers := [...]func(int) bool{
		func(i int) bool { return !excluded(i) && !down(i) },
		func(i int) bool { return !excluded(i) },
		func(i int) bool { return !down(i) },
	}
	var buf [16]int
	for t, keep := range tiers {
		cands := buf[:0]
		for _, i := range e.candidates {
			if keep(i) {
				cands = append(cands, i)
			}
		}
		if len(cands) > 0 {
			return c.apply(e, cands, len(cands) == len(e.candidates)), t == 2, true
		}
	}
	return c.apply(e, e.candidates, true), len(exclude) > 0, true
}

// apply runs the client's strategy over candidate positions (non-empty); all reports that cands
// holds every candidate of e.
func (c *Client) apply(e *serviceEntry, cands []int, all bool) Endpoint {
	switch c.cfg.strategy {
	case WeightedRandom:
		total := 0
		for _, i := range cands {
			total += max(e.endpoints[i].Weight, 0)
		}
		if total == 0 {
			return e.endpoints[cands[rand.IntN(len(cands))]]
		}
		r := rand.IntN(total)
		for _, i := range cands {
			r -= max(e.endpoints[i].Weight, 0)
			if r < 0 {
				return e.endpoints[i]
			}
		}
		return e.endpoints[cands[len(cands)-1]]
	case ZoneFirst:
		if c.cfg.zone != "" {
			if all {
				if len(e.zoneCandidates) > 0 {
					cands = e.zoneCandidates
				}
			} else {
				var buf [16]int
				inZone := buf[:0]
				for _, i := range cands {
					if e.endpoints[i].Zone == c.cfg.zone {
						inZone = append(inZone, i)
					}
				}
				if len(inZone) > 0 {
					cands = inZone
				}
			}
		}
	}
	n := e.rr.Add(1) - 1
	return e.endpoints[cands[n%uint64(len(cands))]]
}

// breaker remembers endpoints that failed requests, so picks skip them for a cool-down.
type breaker struct {
	n     atomic.Int32 // number of marks, so the common case takes no lock
	mu    sync.RWMutex
	marks map[breakerKey]mark
}

type breakerKey struct{ service, id string }

type mark struct {
	until    time.Time
	lastSeen time.Time // the endpoint's lastSeenAt in the list when it was marked
}

func (b *breaker) isDown(service, id string, now time.Time) bool {
	if b.n.Load() == 0 {
		return false
	}
	b.mu.RLock()
	m, ok := b.marks[breakerKey{service, id}]
	b.mu.RUnlock()
	return ok && now.Before(m.until)
}

func (b *breaker) markDown(ep Endpoint, cooldown time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.marks == nil {
		b.marks = make(map[breakerKey]mark)
	}
	now := time.Now()
	for k, m := range b.marks {
		if !now.Before(m.until) {
			delete(b.marks, k)
		}
	}
	b.marks[breakerKey{ep.Service, ep.ID}] = mark{until: now.Add(cooldown), lastSeen: ep.LastSeenAt}
	b.n.Store(int32(len(b.marks)))
}

// onList clears marks when a new list brings news of the endpoint passing: it was not passing
// (or not listed) before and passes now, or Miko heard from it since it was marked (a newer
// lastSeenAt). Marks of endpoints that left the list, and expired marks, are dropped.
func (b *breaker) onList(prev, next *snapshot) {
	if b.n.Load() == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	for k, m := range b.marks {
		if !now.Before(m.until) {
			delete(b.marks, k)
			continue
		}
		cur, ok := find(next, k)
		if !ok {
			delete(b.marks, k)
			continue
		}
		if !cur.Passing() {
			continue
		}
		old, wasListed := find(prev, k)
		if !wasListed || !old.Passing() || cur.LastSeenAt.After(m.lastSeen) {
			delete(b.marks, k)
		}
	}
	b.n.Store(int32(len(b.marks)))
}

func find(s *snapshot, k breakerKey) (Endpoint, bool) {
	if s == nil {
		return Endpoint{}, false
	}
	e := s.services[k.service]
	if e == nil {
		return Endpoint{}, false
	}
	for _, ep := range e.endpoints {
		if ep.ID == k.id {
			return ep, true
		}
	}
	return Endpoint{}, false
}
