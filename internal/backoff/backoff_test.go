package backoff

import (
	"context"
	"math"
	"testing"
	"time"
)

func TestDelayBounds(t *testing.T) {
	const base, max = 250 * time.Millisecond, 5 * time.Second
	for attempt := 1; attempt <= 10; attempt++ {
		full := min(base<<(attempt-1), max)
		if d := Delay(base, max, attempt, 0); d != full/2 {
			t.Errorf("attempt %d, random 0: %v, want %v", attempt, d, full/2)
		}
		if d := Delay(base, max, attempt, math.MaxUint32); d < full/2 || d > full {
			t.Errorf("attempt %d, random max: %v outside [%v, %v]", attempt, d, full/2, full)
		}
	}
}

func TestSleepEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); err != context.Canceled {
		t.Errorf("Sleep on a cancelled context = %v", err)
	}
	if err := Sleep(context.Background(), 0); err != nil {
		t.Errorf("Sleep(0) = %v", err)
	}
}
