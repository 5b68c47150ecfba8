package testenv

import (
	"testing"
	"time"
)

// Eventually calls check until it returns nil or timeout passes, then fails the test
// with the last error. It polls instead of sleeping for a fixed time, so a test waits
// only as long as the system under test needs.
func Eventually(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	interval := 10 * time.Millisecond
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true after %v: %v", timeout, err)
		}
		timer := time.NewTimer(interval)
		<-timer.C
		if interval < 200*time.Millisecond {
			interval *= 2
		}
	}
}
