package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
)

// sample is one reading of the manager's footprint.
type sample struct {
	at         time.Duration
	rssKiB     int64
	goroutines float64
}

// One manager takes mixed load for OAC_SOAK (1m; make test-e2e: 10m): new events,
// duplicates, unknown accounts and bad signatures, from 4 senders at 200 callbacks a second. Its resident
// memory and goroutines stay flat, and it logs no error.
//
// Flat means: after a warm-up (the first quarter), the highest reading of the second
// half is at most the highest of the first half plus a tolerance. RSS: +25% and
// +8 MiB, since the Go heap legitimately swings up to twice its live size between
// collections (GOGC=100) and the runtime returns memory to the OS lazily; a leak of
// the callback path (a few KiB per callback, thousands of callbacks a minute) passes
// that within minutes. Goroutines: +20, the senders' connections coming and going
// (each is two goroutines on the server); a leak per callback passes it in seconds.
//
// The manager has a control plane of its own, so that the other tests' resources
// are not in its cache (and its memory), and so that it runs while they do.
func TestSoak(t *testing.T) {
	begin(t)
	t.Parallel()
	duration := soakDuration(t)
	e, err := testenv.Start()
	must(t, err)
	t.Cleanup(func() {
		if err := e.Stop(); err != nil {
			t.Errorf("stop the soak's control plane: %v", err)
		}
	})
	w := newWorld(t, e)
	var accounts []string
	for i := range 8 {
		accounts = append(accounts, fmt.Sprintf("@TOA#_soak_%d", i))
	}
	w.resource("pool-a", accounts[:4], noREST)
	w.resource("pool-b", accounts[4:], noREST)
	ms := replicas(t, 1, e.KubeConfigFile(t), w.ns)
	m := ms[0]
	leader(t, ms, 60*time.Second)
	// The backend re-sends what timed out, as Chat does with its retry on: a slow
	// moment of a busy machine's API server is not what the soak looks for.
	bk := newBackend(w.appID, w.token)
	waitServing(t, bk, m)

	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var (
		wg                                   sync.WaitGroup
		sent, okAnswers, unauthorized, other atomic.Int64
		lastEvent                            sync.Map // account -> last EventTime sent
	)
	base := time.Now().Add(-time.Hour).UnixMilli()
	var clock atomic.Int64
	// 200 callbacks a second in all: steady load, not a saturation of the 2 cores
	// that the tests running alongside share.
	pace := time.NewTicker(5 * time.Millisecond)
	defer pace.Stop()
	for s := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(s), 1))
			for ctx.Err() == nil {
				select {
				case <-pace.C:
				case <-ctx.Done():
					return
				}
				var d delivery
				switch k := r.IntN(10); {
				case k < 4: // a new event
					id := accounts[r.IntN(len(accounts))]
					et := base + clock.Add(1)
					d = bk.full(ctx, to(m), id, et)
					if d.outcome == outcomeOK {
						for {
							prev, _ := lastEvent.LoadOrStore(id, et)
							if prev.(int64) >= et || lastEvent.CompareAndSwap(id, prev, et) {
								break
							}
						}
					}
				case k < 7: // a duplicate of an old event
					d = bk.full(ctx, to(m), accounts[r.IntN(len(accounts))], base)
				case k < 9: // an account no resource lists
					d = bk.full(ctx, to(m), fmt.Sprintf("@TOA#_soak_unknown_%d", r.IntN(20)), base)
				default: // a bad signature
					a := bk.raw(ctx, m.url(), "not-the-token", []byte(`{"CallbackCommand":"OfficialAccount.CallbackAfterOfficialAccountFull","Official_Account":"@TOA#_soak_0","EventTime":1}`))
					if ctx.Err() == nil {
						sent.Add(1)
						if a.status == http.StatusUnauthorized {
							unauthorized.Add(1)
						} else {
							other.Add(1)
							t.Errorf("a bad signature answered %d %s (%v)", a.status, a.body, a.err)
						}
					}
					continue
				}
				if ctx.Err() != nil {
					break
				}
				sent.Add(1)
				if d.outcome == outcomeOK {
					okAnswers.Add(1)
				} else {
					other.Add(1)
					t.Errorf("not acknowledged: %v", d)
				}
			}
		})
	}

	var samples []sample
	started := time.Now()
	tick := time.NewTicker(time.Second)
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			kib, err1 := rss(m.pid())
			g, err2 := m.metric("go_goroutines")
			if err1 != nil || err2 != nil {
				t.Errorf("sample: %v %v", err1, err2)
				continue
			}
			samples = append(samples, sample{time.Since(started), kib, g})
		}
	}
	tick.Stop()
	wg.Wait()
	t.Logf("%d callbacks in %v: %d OK, %d unauthorized (bad signatures), %d other", sent.Load(), duration, okAnswers.Load(), unauthorized.Load(), other.Load())

	// Flat: the second half against the first half after the warm-up.
	warm := duration / 4
	var first, second []sample
	for _, s := range samples {
		switch {
		case s.at < warm:
		case s.at < duration/2:
			first = append(first, s)
		default:
			second = append(second, s)
		}
	}
	if len(first) < 3 || len(second) < 3 {
		t.Fatalf("too few samples: %d and %d", len(first), len(second))
	}
	maxOf := func(ss []sample, f func(sample) float64) float64 {
		return slices.Max(func() []float64 {
			var v []float64
			for _, s := range ss {
				v = append(v, f(s))
			}
			return v
		}())
	}
	rss1, rss2 := maxOf(first, func(s sample) float64 { return float64(s.rssKiB) }), maxOf(second, func(s sample) float64 { return float64(s.rssKiB) })
	g1, g2 := maxOf(first, func(s sample) float64 { return s.goroutines }), maxOf(second, func(s sample) float64 { return s.goroutines })
	t.Logf("RSS max %.1f MiB then %.1f MiB; goroutines max %.0f then %.0f", rss1/1024, rss2/1024, g1, g2)
	if rss2 > rss1*1.25+8*1024 {
		t.Errorf("RSS grows: %.1f MiB at most in the first half, %.1f MiB in the second", rss1/1024, rss2/1024)
	}
	if g2 > g1+20 {
		t.Errorf("goroutines grow: %.0f at most in the first half, %.0f in the second", g1, g2)
	}

	// Every new event acknowledged is in status.
	for _, pool := range []string{"pool-a", "pool-b"} {
		w.wait(pool, 30*time.Second, func(oac *chatv1alpha1.OfficialAccountCapacity) error {
			for _, id := range oac.Spec.Accounts {
				v, ok := lastEvent.Load(id)
				if !ok {
					continue
				}
				if a := account(oac, id); a == nil || a.LastEventTime < v.(int64) {
					return fmt.Errorf("%s: last acknowledged event %d not in status %+v", id, v, a)
				}
			}
			return nil
		})
	}

	// No error was logged: none of this load is an error of the operator's.
	for _, l := range m.logLines() {
		if l.Level == "error" || l.Level == "dpanic" || l.Level == "panic" || l.Level == "fatal" {
			t.Errorf("the manager logged an error: %s", l.Raw)
		}
	}
}
