package chatapi

import (
	"context"
	"encoding/json"
	"sync"
	"time"
)

// vclock is a virtual clock for the package's own tests: sleep advances it
// and records the durations, so nothing waits in real time.
type vclock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func newVClock(t time.Time) *vclock { return &vclock{t: t} }

func (c *vclock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *vclock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *vclock) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.t = c.t.Add(d)
	return nil
}

func (c *vclock) slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
