package chatapi

import (
	"context"
	"math"
	"sync"
	"time"
)

// rateLimiter is a token bucket on an injected clock. A caller takes a token
// at once, even into debt, and then sleeps off the debt outside the lock, so
// concurrent callers queue up fairly and the clock is read once per call.
type rateLimiter struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time // when tokens was last brought up to date; zero before first use
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
}

func newRateLimiter(rate float64, burst int, now func() time.Time, sleep func(context.Context, time.Duration) error) *rateLimiter {
	return &rateLimiter{rate: rate, burst: float64(burst), tokens: float64(burst), now: now, sleep: sleep}
}

// wait blocks until the caller may send one request, or ctx ends.
func (l *rateLimiter) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	now := l.now()
	if l.last.IsZero() {
		l.last = now
	}
	if el := now.Sub(l.last); el > 0 { // a clock that steps back adds nothing
		l.tokens = math.Min(l.burst, l.tokens+el.Seconds()*l.rate)
		l.last = now
	}
	l.tokens--
	var d time.Duration
	if l.tokens < 0 {
		d = time.Duration(math.Ceil(-l.tokens * float64(time.Second) / l.rate))
	}
	l.mu.Unlock()
	if d == 0 {
		return nil
	}
	if err := l.sleep(ctx, d); err != nil {
		l.mu.Lock()
		l.tokens++ // give back the token this caller will not use
		l.mu.Unlock()
		return err
	}
	return nil
}
