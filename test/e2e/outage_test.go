package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
)

// noREST drops spec.chatAPI: recording callbacks and failing over need no REST.
func noREST(s *chatv1alpha1.OfficialAccountCapacitySpec) { s.ChatAPI = nil }

// recorded checks that every account of want holds exactly its event: lastEventTime
// and the number of distinct events.
func recorded(want map[string]int64, events int64) func(*chatv1alpha1.OfficialAccountCapacity) error {
	return func(oac *chatv1alpha1.OfficialAccountCapacity) error {
		var missing []string
		for _, id := range oac.Spec.Accounts {
			et, ok := want[id]
			if !ok {
				continue
			}
			a := account(oac, id)
			if a == nil || !a.Full || a.LastEventTime != et || a.FullEvents != events {
				missing = append(missing, fmt.Sprintf("%s (status %+v, want lastEventTime %d fullEvents %d)", id, a, et, events))
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("events not recorded: %s", strings.Join(missing, "; "))
		}
		return nil
	}
}

// checkExits reports replicas that exited without the test asking, and starts them
// again, as Kubernetes would.
func checkExits(t *testing.T, ms []*manager) {
	t.Helper()
	for _, m := range ms {
		m.mu.Lock()
		unasked := !m.stopped
		m.mu.Unlock()
		if m.hasExited() && unasked {
			t.Logf("%s exited on its own (restarting it, as Kubernetes would):\n%s", m.name, tail(m.log.String(), 8))
			m.start()
		}
	}
}

// The API server stalls while callbacks arrive at one replica; that replica is
// SIGKILLed with the events queued; the API server comes back. Every event is
// recorded, because the receiver holds each callback open while its write is not
// done, the backend times out after 2 s and re-sends it to the other replica, whose
// queue writes it once the API server is back.
//
// This needs the receiver to hold a callback, not answer FAIL, when its write is not
// done (--callback-write-timeout): a FAIL is never re-sent, so with a receiver that
// answers FAIL after --callback-answer-deadline the events die with the killed
// replica and this test fails.
func TestReceiverKilledWithQueuedEvents(t *testing.T) {
	onSharedPlane(t)
	w := newWorld(t, env)
	n := scale(4, 12)
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("@TOA#_q%d", i))
	}
	w.resource("pool", append(ids, "@TOA#_spare"), noREST)
	ms := replicas(t, 2, env.KubeConfigFile(t), w.ns)
	lead := leader(t, ms, 60*time.Second)
	victim := other(ms, lead) // kill the receiver, not the leader: the test is about the queue
	bk := newBackend(w.appID, w.token)
	waitServing(t, bk, ms...)
	w.wait("pool", 30*time.Second, func(oac *chatv1alpha1.OfficialAccountCapacity) error {
		if oac.Status.ActiveAccount != ids[0] {
			return fmt.Errorf("not reconciled yet")
		}
		return nil
	})

	restartAPIServer := env.APIServerDown(t)
	base := time.Now().Unix() * 1000
	want := map[string]int64{}
	var wg sync.WaitGroup
	var firstDone sync.WaitGroup // the first attempt of each delivery is over
	results := make([]delivery, n)
	for i, id := range ids {
		et := base + int64(i)
		want[id] = et
		firstDone.Add(1)
		var once sync.Once
		wg.Go(func() {
			defer once.Do(firstDone.Done)
			results[i] = bk.full(context.Background(), func(attempt int) string {
				if attempt == 0 {
					return victim.url()
				}
				once.Do(firstDone.Done) // it timed out: re-sent, to the other replica
				return lead.url()
			}, id, et)
		})
	}
	firstDone.Wait()
	victim.kill()
	restartAPIServer()
	wg.Wait()
	checkExits(t, []*manager{lead})

	timeouts := 0
	for _, d := range results {
		if len(d.attempts) > 0 && d.attempts[0].timedOut {
			timeouts++
		}
		if d.outcome != outcomeOK {
			t.Errorf("the backend did not get OK: %v", d)
		}
	}
	if timeouts != n {
		t.Errorf("%d of %d first attempts timed out, want all: the receiver must hold a callback whose write is not done, so that the backend re-sends it", timeouts, n)
	}
	w.wait("pool", 30*time.Second, recorded(want, 1))
}

// The API server is stopped for 10 s in the middle of a burst of new events for
// several accounts of several resources, sent to both replicas. Afterwards every
// event is in status (each account's three events, in order: fullEvents 3 and the
// last EventTime), after the backend's re-sends of the callbacks that timed out.
func TestAPIServerDownDuringBurst(t *testing.T) {
	onSharedPlane(t)
	w := newWorld(t, env)
	resources, perResource := scale(3, 6), scale(2, 4)
	outage := scale(10*time.Second, 20*time.Second)
	type acct struct {
		pool, id string
	}
	var accts []acct
	for r := range resources {
		var ids []string
		for a := range perResource {
			ids = append(ids, fmt.Sprintf("@TOA#_burst_r%d_a%d", r, a))
			accts = append(accts, acct{fmt.Sprintf("pool-%d", r), ids[a]})
		}
		w.resource(fmt.Sprintf("pool-%d", r), append(ids, "@TOA#_spare"), noREST)
	}
	ms := replicas(t, 2, env.KubeConfigFile(t), w.ns)
	leader(t, ms, 60*time.Second)
	bk := newBackend(w.appID, w.token)
	// Enough re-sends to outlast the outage and the API server's restart, a minute
	// of them after it: on a loaded machine the restart alone has taken 14 s, and
	// the informers' relist after it more. Re-sends stop once an event is answered
	// OK, so a quick recovery spends none of them.
	bk.maxAttempts = int((outage + time.Minute) / (2 * time.Second))
	waitServing(t, bk, ms...)

	const events = 3
	base := time.Now().Unix() * 1000
	eventTime := func(i, e int) int64 { return base + int64(e*1000+i) }
	var firstOK sync.WaitGroup
	firstOK.Add(len(accts))
	outageStarted := make(chan struct{})
	var wg sync.WaitGroup
	var failed atomic.Int32
	var mu sync.Mutex
	var all []delivery
	for i, a := range accts {
		wg.Go(func() {
			// An account's events one after the other, each once the previous is
			// acknowledged, as Chat sends them (an account fills up again only after
			// it had room). Attempts alternate between the replicas.
			for e := range events {
				if e == 1 {
					<-outageStarted
				}
				d := bk.full(context.Background(), alternate(ms[i%2], ms[(i+1)%2]), a.id, eventTime(i, e))
				mu.Lock()
				all = append(all, d)
				mu.Unlock()
				if e == 0 {
					firstOK.Done()
				}
				if d.outcome != outcomeOK {
					failed.Add(1)
					t.Errorf("not acknowledged: %v", d)
					if e == 0 {
						return
					}
				}
			}
		})
	}
	firstOK.Wait()
	restartAPIServer := env.APIServerDown(t)
	stopped := time.Now()
	close(outageStarted)
	<-time.After(outage) // the fault's length, not a synchronisation
	restartAPIServer()
	t.Logf("API server down for %v", time.Since(stopped).Round(100*time.Millisecond))
	// A leader that could not renew its lease in the outage exits; Kubernetes would
	// start it again while the backend re-sends, and so does this loop, rather than
	// leave the backend half its replicas until the burst is over.
	burstDone := make(chan struct{})
	go func() { wg.Wait(); close(burstDone) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for waiting := true; waiting; {
		checkExits(t, ms)
		select {
		case <-tick.C:
		case <-burstDone:
			waiting = false
		}
	}
	checkExits(t, ms)

	timeouts := 0
	for _, d := range all {
		for _, at := range d.attempts {
			if at.timedOut {
				timeouts++
			}
		}
	}
	t.Logf("%d deliveries, %d timed-out attempts re-sent", len(all), timeouts)
	if timeouts == 0 {
		t.Error("no callback timed out: the outage did not hit the burst")
	}
	for r := range resources {
		want := map[string]int64{}
		for i, a := range accts {
			if a.pool == fmt.Sprintf("pool-%d", r) {
				want[a.id] = eventTime(i, events-1)
			}
		}
		w.wait(fmt.Sprintf("pool-%d", r), 30*time.Second, recorded(want, events))
	}
}
