package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
)

// waitServing waits until every manager's cache knows the app's resources: a
// callback for an account no resource lists is then answered OK (before, the app is
// unknown: 403).
func waitServing(t *testing.T, b *backend, ms ...*manager) {
	t.Helper()
	for _, m := range ms {
		testenv.Eventually(t, 30*time.Second, func() error {
			if d := b.full(context.Background(), to(m), "@TOA#_e2e_probe", 1); d.outcome != outcomeOK {
				return fmt.Errorf("%s does not serve the app yet: %v", m.name, d)
			}
			return nil
		})
	}
}

// Two replicas with leader election both receive callbacks, for several resources
// and accounts, each event delivered twice (once to each replica): every event is in
// status exactly once (fullEvents 1, lastEventTime its EventTime), and the failover
// that follows is done by the leader alone.
func TestTwoReplicasSplitCallbacks(t *testing.T) {
	onSharedPlane(t)
	w := newWorld(t, env)
	resources, perResource := scale(3, 10), scale(3, 6)
	names := make([]string, resources)
	accounts := map[string][]string{}
	for r := range resources {
		names[r] = fmt.Sprintf("pool-%d", r)
		for a := range perResource {
			accounts[names[r]] = append(accounts[names[r]], fmt.Sprintf("@TOA#_r%d_a%d", r, a))
		}
		// No onFull and no REST: failover needs neither.
		w.resource(names[r], accounts[names[r]], func(s *chatv1alpha1.OfficialAccountCapacitySpec) { s.ChatAPI = nil })
	}
	ms := replicas(t, 2, env.KubeConfigFile(t), w.ns)
	lead := leader(t, ms, 60*time.Second)
	b := newBackend(w.appID, w.token)
	waitServing(t, b, ms...)
	// The leader has taken the pools on: the first account is active.
	for _, name := range names {
		w.wait(name, 30*time.Second, func(oac *chatv1alpha1.OfficialAccountCapacity) error {
			if oac.Status.ActiveAccount != accounts[name][0] {
				return fmt.Errorf("active %q, want %q", oac.Status.ActiveAccount, accounts[name][0])
			}
			return nil
		})
	}

	// Every account but the last of each pool fills up: one event each, sent to both
	// replicas at once, as a duplicate delivery would be.
	base := time.Now().Add(-time.Minute).UnixMilli()
	want := map[string]int64{}
	var wg sync.WaitGroup
	for r, name := range names {
		for a, id := range accounts[name][:perResource-1] {
			et := base + int64(r*100+a)
			want[id] = et
			for _, m := range ms {
				wg.Go(func() {
					if d := b.full(context.Background(), to(m), id, et); d.outcome != outcomeOK {
						t.Errorf("callback not accepted: %v", d)
					}
				})
			}
		}
	}
	wg.Wait()

	for _, name := range names {
		last := accounts[name][perResource-1]
		w.wait(name, 30*time.Second, func(oac *chatv1alpha1.OfficialAccountCapacity) error {
			for _, id := range accounts[name][:perResource-1] {
				a := account(oac, id)
				switch {
				case a == nil:
					return fmt.Errorf("no status of %s", id)
				case !a.Full || a.FullEvents != 1 || a.LastEventTime != want[id] || a.FullSince == nil || a.FullSince.Unix() != want[id]/1000:
					return fmt.Errorf("%s: full=%v fullEvents=%d lastEventTime=%d fullSince=%v, want true 1 %d", id, a.Full, a.FullEvents, a.LastEventTime, a.FullSince, want[id])
				}
			}
			if oac.Status.ActiveAccount != last || oac.Status.FullAccounts != int32(perResource-1) {
				return fmt.Errorf("active %q fullAccounts %d, want %q %d", oac.Status.ActiveAccount, oac.Status.FullAccounts, last, perResource-1)
			}
			return nil
		})
	}

	// The leader failed over; the other replica did nothing but record.
	for _, m := range ms {
		v, err := m.metric(`oacapacity_actions_total{action="failover",result="success"}`)
		must(t, err)
		switch {
		case m == lead && v < float64(resources):
			t.Errorf("the leader %s counts %v failovers, want at least %d", m.name, v, resources)
		case m != lead && v != 0:
			t.Errorf("%s, not the leader, counts %v failovers", m.name, v)
		}
	}
	if ev := strings.Join(w.events(), "\n"); strings.Count(ev, chatv1alpha1.ActiveAccountChangedEvent) < resources {
		t.Errorf("want an ActiveAccountChanged event per resource, got:\n%s", ev)
	}
	for _, m := range ms {
		for _, l := range m.logLines() {
			// client-go logs the lost race of two replicas creating the Lease at
			// once at error level; it is leader election working, not a fault.
			lostRace := l.Logger == "leaderelection" && l.Msg == "Error initially creating lease lock" && strings.Contains(l.Error, "already exists")
			if l.Level == "error" && !lostRace {
				t.Errorf("%s logged an error: %s", m.name, l.Raw)
			}
		}
	}
}
