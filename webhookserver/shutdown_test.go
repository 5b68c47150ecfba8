package webhookserver

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
)

// Told to stop, the server first turns not ready and goes on answering callbacks for
// the shutdown delay, so that none sent while the Service catches up is refused.
func TestShutdownDelayKeepsServingWhileNotReady(t *testing.T) {
	h := startServer(t, Options{ShutdownDelay: 3 * time.Second})
	appID := newAppID()
	oac := h.pool(env.Namespace(t), appID, "tok", "@TOA#_late")
	if err := h.srv.ReadyCheck(nil); err != nil {
		t.Fatalf("not ready while serving: %v", err)
	}

	h.stop()
	testenv.Eventually(t, 2*time.Second, func() error {
		if h.srv.ReadyCheck(nil) == nil {
			return errors.New("still ready after being told to stop")
		}
		return nil
	})
	h.full(appID, "tok", "@TOA#_late", sampleEventTime) // during the delay
	if a := accountStatus(stored(t, oac), "@TOA#_late"); a == nil || !a.Full {
		t.Fatalf("callback during the shutdown delay not recorded: %+v", a)
	}
	select {
	case err := <-h.done:
		if err != nil {
			t.Fatal(err)
		}
		h.done <- nil
	case <-time.After(30 * time.Second):
		t.Fatal("manager did not stop after the delay")
	}
}

// An event the API server refuses (here an EventTime no date can hold, which the
// parser would refuse) is dropped alone; the events merged with it are written.
func TestInvalidEventDoesNotDropItsBatch(t *testing.T) {
	h := startServer(t, Options{})
	appID := newAppID()
	oac := h.pool(env.Namespace(t), appID, "tok", "@TOA#_good", "@TOA#_evil")
	key := client.ObjectKeyFromObject(oac)

	var waits []*pending
	for i, ev := range []fullEvent{{"@TOA#_good", sampleEventTime}, {"@TOA#_evil", 900_000_000_000_000_000}, {"@TOA#_good", sampleEventTime + 1}} {
		p, err := h.srv.recorder.enqueue(key, ev)
		if err != nil {
			t.Fatalf("enqueue %d: %v", i, err)
		}
		waits = append(waits, p)
	}
	var results []writeResult
	for _, p := range waits {
		select {
		case r := <-p.done:
			results = append(results, r)
		case <-time.After(30 * time.Second):
			t.Fatal("event not finished")
		}
	}
	if results[0].err != nil || results[2].err != nil || results[1].err == nil {
		t.Fatalf("results = %+v, want only the second to fail", results)
	}
	got := stored(t, oac)
	if a := accountStatus(got, "@TOA#_good"); a == nil || a.LastEventTime != sampleEventTime+1 {
		t.Errorf("good account: %+v", a)
	}
	if a := accountStatus(got, "@TOA#_evil"); a != nil {
		t.Errorf("invalid event stored: %+v", a)
	}
	if n := testutil.ToFloat64(h.srv.metrics.dropped.WithLabelValues("invalid")); n != 1 {
		t.Errorf("dropped{invalid} = %v, want 1", n)
	}
}

// countingReader counts the reads that reach the API server and can be told to fail
// them, as an unreachable API server would.
type countingReader struct {
	client.Reader
	gets int
	down bool
}

func (c *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.gets++
	if c.down {
		return context.DeadlineExceeded
	}
	return c.Reader.Get(ctx, key, obj, opts...)
}

func TestTokensCacheAndFailClosed(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	now := time.Unix(1700000000, 0)
	reader := &countingReader{Reader: env.Client}
	tk := newTokens(reader, func() time.Time { return now })

	// A missing Secret fails closed, and is not read again for a few seconds.
	missing := client.ObjectKey{Namespace: ns, Name: "missing"}
	for range 10 {
		if _, err := tk.token(ctx, missing); err == nil {
			t.Fatal("token of a missing Secret")
		}
	}
	if reader.gets != 1 {
		t.Errorf("missing Secret read %d times, want 1", reader.gets)
	}

	secret := createSecret(t, ns, "creds", "tok-1")
	key := client.ObjectKeyFromObject(secret)
	if tok, err := tk.token(ctx, key); err != nil || tok != "tok-1" {
		t.Fatalf("token = %q, %v", tok, err)
	}
	reader.gets = 0
	if tok, _ := tk.token(ctx, key); tok != "tok-1" || reader.gets != 0 {
		t.Errorf("fresh token re-read: %q after %d reads", tok, reader.gets)
	}

	// The API server is down: the last token serves, for a while.
	reader.down = true
	now = now.Add(time.Minute)
	if tok, err := tk.token(ctx, key); err != nil || tok != "tok-1" {
		t.Errorf("during an outage: %q, %v; want the last token", tok, err)
	}
	now = now.Add(time.Hour)
	if _, err := tk.token(ctx, key); err == nil {
		t.Error("a token an hour stale was still used")
	}

	// Back up: a changed token is picked up after the TTL.
	reader.down = false
	secret.Data["callbackToken"] = []byte("tok-2")
	if err := env.Client.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if tok, err := tk.token(ctx, key); err != nil || tok != "tok-2" {
		t.Errorf("after the outage: %q, %v; want tok-2", tok, err)
	}
}
