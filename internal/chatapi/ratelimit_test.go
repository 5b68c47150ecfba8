package chatapi

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/oacapacity/oa-capacity-operator/internal/vclock"
)

func TestRateLimiterBurstThenRate(t *testing.T) {
	clk := vclock.New(time.Unix(1000, 0))
	l := newRateLimiter(10, 2, clk.Now, clk.Sleep)
	for range 5 {
		if err := l.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	got := clk.Sleeps()
	want := []time.Duration{100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond}
	if len(got) != len(want) {
		t.Fatalf("sleeps %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("sleep %d = %v, want %v", i, got[i], want[i])
		}
	}
}

// Over any stretch of virtual time, no more than rate*seconds + burst calls
// pass, and idle time refills no more than the burst.
func TestRateLimiterNeverExceedsRate(t *testing.T) {
	clk := vclock.New(time.Unix(1000, 0))
	const rate, burst = 150, 5
	l := newRateLimiter(rate, burst, clk.Now, clk.Sleep)
	var stamps []time.Time
	for i := range 1000 {
		if i == 500 {
			clk.Advance(time.Hour) // idle: refills to burst, not more
		}
		if err := l.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		stamps = append(stamps, clk.Now())
	}
	for i := range stamps {
		n := 0
		for j := i; j < len(stamps) && stamps[j].Sub(stamps[i]) < time.Second; j++ {
			n++
		}
		if n > rate+burst {
			t.Fatalf("%d calls within one second from call %d", n, i)
		}
	}
	// 1000 calls, 2 bursts free: about (1000-2*burst)/rate seconds of sleep.
	var total time.Duration
	for _, d := range clk.Sleeps() {
		total += d
	}
	want := time.Duration(float64(1000-2*burst) / rate * float64(time.Second))
	if diff := total - want; diff < -time.Millisecond || diff > time.Millisecond {
		t.Errorf("total sleep %v, want about %v", total, want)
	}
}

func TestRateLimiterCancelledGivesTokenBack(t *testing.T) {
	clk := vclock.New(time.Unix(1000, 0))
	l := newRateLimiter(1, 1, clk.Now, func(ctx context.Context, d time.Duration) error { return context.Canceled })
	if err := l.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := l.wait(context.Background()); err != context.Canceled {
		t.Fatalf("got %v, want Canceled", err)
	}
	l.mu.Lock()
	tokens := l.tokens
	l.mu.Unlock()
	if tokens != 0 {
		t.Errorf("tokens %v after a cancelled wait, want 0", tokens)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.wait(ctx); err != context.Canceled {
		t.Errorf("done context: %v", err)
	}
}

// Concurrent callers at one instant queue up: with the clock standing still
// (sleep only records), the k-th caller past the burst waits k/rate.
func TestRateLimiterConcurrent(t *testing.T) {
	clk := vclock.New(time.Unix(1000, 0))
	var mu sync.Mutex
	var waits []time.Duration
	record := func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, d)
		return nil
	}
	l := newRateLimiter(100, 1, clk.Now, record)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.wait(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	seen := map[time.Duration]bool{}
	for _, d := range waits {
		seen[d] = true
	}
	if len(waits) != 49 || len(seen) != 49 {
		t.Fatalf("waits %v: want 49 distinct", waits)
	}
	for k := 1; k <= 49; k++ {
		if !seen[time.Duration(k)*10*time.Millisecond] {
			t.Errorf("no caller waited %v", time.Duration(k)*10*time.Millisecond)
		}
	}
}
