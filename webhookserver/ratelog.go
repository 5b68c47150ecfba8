package webhookserver

import (
	"sync"
	"time"
)

// onceEvery runs a log function at most once per key per interval, so that a flood of
// one kind of callback leaves one line, not thousands. It remembers at most max keys;
// when full, it forgets the expired ones, or all of them, so that varied keys cannot
// grow it without bound.
type onceEvery struct {
	interval time.Duration
	max      int
	now      func() time.Time

	mu   sync.Mutex
	last map[string]time.Time
}

func newOnceEvery(interval time.Duration, max int, now func() time.Time) *onceEvery {
	return &onceEvery{interval: interval, max: max, now: now, last: make(map[string]time.Time)}
}

func (o *onceEvery) log(key string, fn func()) {
	now := o.now()
	o.mu.Lock()
	if t, ok := o.last[key]; ok && now.Sub(t) < o.interval {
		o.mu.Unlock()
		return
	}
	if len(o.last) >= o.max {
		for k, t := range o.last {
			if now.Sub(t) >= o.interval {
				delete(o.last, k)
			}
		}
		if len(o.last) >= o.max {
			clear(o.last)
		}
	}
	o.last[key] = now
	o.mu.Unlock()
	fn()
}
