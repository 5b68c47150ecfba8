// Package vclock is a virtual clock for tests of code that takes its time and its
// sleeps as functions (chatapi, notify). It is a leaf, so that chatapi's own tests,
// which cannot import chatapitest (it imports chatapi), share it with the others.
package vclock

import (
	"context"
	"sync"
	"time"
)

// Clock is a virtual clock to put in chatapi.Config or notify.Config (Now, Sleep) and in
// chatapitest.Server.SetClock. Sleep returns at once after moving the clock forward and
// recording the duration, so retry and rate-limit tests take no real time.
type Clock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

// New returns a clock showing start.
func New(start time.Time) *Clock { return &Clock{t: start} }

// Now returns the virtual time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock by d (backwards if d is negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Sleep records d and advances the clock by it, unless ctx is already done.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.t = c.t.Add(d)
	return nil
}

// Sleeps returns the durations passed to Sleep, in order.
func (c *Clock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}
