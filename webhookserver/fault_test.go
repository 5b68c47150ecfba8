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

// While the API server is down, callbacks are held open past the Chat backend's 2 s
// (so that it times out and re-sends them), answered FAIL at the write timeout, and
// kept queued; a shutdown stops accepting but waits for the queue; when the API server
// is back, every event is written.
func TestAPIServerOutage(t *testing.T) {
	const token = "outage-token"
	const writeTimeout = 3 * time.Second
	h := startServer(t, Options{DrainTimeout: 2 * time.Minute, WriteTimeout: writeTimeout})
	appID := newAppID()
	accounts := []string{"@TOA#_out_0", "@TOA#_out_1", "@TOA#_out_2", "@TOA#_out_3", "@TOA#_out_4"}
	oac := h.pool(env.Namespace(t), appID, token, accounts...)
	h.full(appID, token, accounts[0], sampleEventTime) // reads the Secret while it can

	restartAPIServer := env.APIServerDown(t)

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
			// A FAIL within 2 s would stop the Chat backend from re-sending.
			if elapsed < writeTimeout || elapsed > writeTimeout+2*time.Second {
				t.Errorf("%s during the outage answered after %v, want held for the write timeout, %v", id, elapsed, writeTimeout)
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

	restartAPIServer()
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

// A callback whose write is late but lands within the write timeout is answered OK: the
// request is held open rather than failed at the Chat backend's 2 s.
func TestHeldCallbackIsAnsweredOKWhenItsWriteLands(t *testing.T) {
	const token = "held-token"
	h := startServer(t, Options{WriteTimeout: 50 * time.Second})
	h.http.Timeout = time.Minute
	appID := newAppID()
	oac := h.pool(env.Namespace(t), appID, token, "@TOA#_held")
	h.full(appID, token, "@TOA#_held", sampleEventTime) // reads the Secret while it can

	restartAPIServer := env.APIServerDown(t)
	type result struct {
		code int
		a    answer
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, a, err := h.try(http.MethodPost, query(appID, CommandAccountFull, token, time.Now()), fullBody("@TOA#_held", sampleEventTime+1))
		done <- result{code, a, err}
	}()
	testenv.Eventually(t, 10*time.Second, func() error {
		if depth := testutil.ToFloat64(h.srv.metrics.queueDepth); depth != 1 {
			return fmt.Errorf("queue depth %v, want the event queued", depth)
		}
		return nil
	})
	select {
	case r := <-done:
		t.Fatalf("answered while the API server is down: %+v", r)
	default:
	}
	restartAPIServer()
	r := <-done
	if r.err != nil || r.code != http.StatusOK || r.a != answerOK {
		t.Fatalf("held callback: HTTP %d %+v %v, want 200 OK once the write landed", r.code, r.a, r.err)
	}
	if a := accountStatus(stored(t, oac), "@TOA#_held"); a == nil || a.LastEventTime != sampleEventTime+1 {
		t.Fatalf("after the held callback: %+v, want lastEventTime %d", a, sampleEventTime+1)
	}
}
