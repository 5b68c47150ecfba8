// Package backoff is the waiting that the Chat REST client and the notifiers share:
// exponential backoff with equal jitter, and a sleep that ends with its context.
// Standard library only.
package backoff

import (
	"context"
	"time"
)

// Delay is the wait after the given failed attempt (1 for the first):
// base*2^(attempt-1), capped at max, with "equal jitter": half of it fixed, half
// scaled by random (uniform over uint32), so that clients that failed together do
// not retry together.
func Delay(base, max time.Duration, attempt int, random uint32) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	half := d / 2
	return half + time.Duration(uint64(random)*uint64(d-half)>>32)
}

// Sleep waits d, or until ctx ends and then returns ctx's error.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
