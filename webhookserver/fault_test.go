package webhookserver

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
)

// While the API server is down, callbacks are answered FAIL within the Chat backend's
// 2 s and kept queued; a shutdown stops accepting but waits for the queue; when the API
// server is back, every event is written.
func TestAPIServerOutage(t *testing.T) {
	const token = "outage-token"
	h := startServer(t, Options{DrainTimeout: 2 * time.Minute})
	appID := newAppID()
	accounts := []string{"@TOA#_out_0", "@TOA#_out_1", "@TOA#_out_2", "@TOA#_out_3", "@TOA#_out_4"}
	oac := h.pool(env.Namespace(t), appID, token, accounts...)
	h.full(appID, token, accounts[0], sampleEventTime) // reads the Secret while it can

	if err := env.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = env.StartAPIServer()
		}
	})

	var wg sync.WaitGroup
	for i, id := range accounts {
		wg.Go(func() {
			start := time.Now()
			code, a, err := h.try(http.MethodPost, query(appID, CommandAccountFull, token, time.Now()), fullBody(id, sampleEventTime+int64(1000*(i+1))))
			elapsed := time.Since(start)
			if err != nil {
				t.Error(err)
				return
			}
			if code != http.StatusServiceUnavailable || a.ActionStatus != "FAIL" || a.ErrorCode == 0 {
				t.Errorf("%s during the outage: HTTP %d %+v, want 503 FAIL", id, code, a)
			}
			if elapsed >= 2*time.Second {
				t.Errorf("%s during the outage answered after %v, want under 2s", id, elapsed)
			}
		})
	}
	wg.Wait()
	if depth := testutil.ToFloat64(h.srv.metrics.queueDepth); depth != float64(len(accounts)) {
		t.Errorf("queue depth = %v, want %d", depth, len(accounts))
	}

	// SIGTERM: the server stops accepting, and waits for its queue.
	h.stop()
	addr := h.url[len("http://") : len(h.url)-len("/callback")]
	testenv.Eventually(t, 10*time.Second, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return fmt.Errorf("still accepting connections on %s", addr)
		}
		return nil
	})
	select {
	case err := <-h.done:
		t.Fatalf("manager returned before its queue was written: %v", err)
	default:
	}
	if depth := testutil.ToFloat64(h.srv.metrics.queueDepth); depth != float64(len(accounts)) {
		t.Fatalf("queue depth while draining = %v, want %d", depth, len(accounts))
	}

	if err := env.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	select {
	case err := <-h.done:
		if err != nil {
			t.Fatalf("manager stopped with %v", err)
		}
		h.done <- nil // for the harness cleanup
	case <-time.After(90 * time.Second):
		t.Fatal("queue not drained after the API server came back")
	}

	got := stored(t, oac)
	for i, id := range accounts {
		a := accountStatus(got, id)
		if want := sampleEventTime + int64(1000*(i+1)); a == nil || !a.Full || a.LastEventTime != want {
			t.Errorf("%s after the outage: %+v, want full with lastEventTime %d", id, a, want)
		}
	}
	if depth := testutil.ToFloat64(h.srv.metrics.queueDepth); depth != 0 {
		t.Errorf("queue depth after drain = %v", depth)
	}
}
