package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi/chatapitest"
)

// waitFor waits on ch or fails the test after timeout.
func waitFor(t *testing.T, ch <-chan struct{}, timeout time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(timeout):
		t.Fatalf("%s did not happen within %v", what, timeout)
	}
}

// other is the replica of ms that is not m.
func other(ms []*manager, m *manager) *manager {
	for _, o := range ms {
		if o != m {
			return o
		}
	}
	return nil
}

// The leader is SIGKILLed twice in one pool's life: while its scale-out create is in
// flight at Chat, and while a notification is in flight at the target. The other
// replica takes the Lease over each time and finishes the job:
//
//   - exactly one account is created: Chat holds one account of the scale-out IDs,
//     and every create_official_account asked for that same ID (the one cut off by the
//     kill, which this test lets Chat carry out as if only its answer were lost, and
//     the new leader's, answered "already exists" and adopted);
//   - no notification is lost: the sink accepted every message of the episodes;
//   - none is repeated but in the documented window: the message the sink accepted
//     while the killed leader waited for the answer arrives a second time, with the
//     same ID, and it is the only ID that arrives more than once;
//   - the new leader still fails over.
func TestLeaderKilledMidEpisode(t *testing.T) {
	onSharedPlane(t)
	w := newWorld(t, env)
	const a, b = "@TOA#_kill_a", "@TOA#_kill_b"
	for _, id := range []string{a, b} {
		w.chat.AddAccount(chatapitest.Account{ID: id, Name: id, Owner: owner, MaxSubscriberNum: 100})
	}
	snk := newSink(t, w, "ops-hook")
	w.resource("pool", []string{a, b}, func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
		s.OnFull = &chatv1alpha1.OnFullSpec{ScaleOut: &chatv1alpha1.ScaleOutSpec{MaxAccounts: 3, OwnerAccount: owner, NamePrefix: "e2e", MaxSubscriberNum: 100}}
		s.Notify = []chatv1alpha1.NotifyTarget{{Name: "ops", Type: chatv1alpha1.NotifyWebhook, SecretRef: &chatv1alpha1.LocalObjectReference{Name: "ops-hook"}}}
	})
	ms := replicas(t, 2, env.KubeConfigFile(t), w.ns)
	first := leader(t, ms, 60*time.Second)
	bk := newBackend(w.appID, w.token)
	waitServing(t, bk, ms...)
	active := func(want string) func(*chatv1alpha1.OfficialAccountCapacity) error {
		return func(oac *chatv1alpha1.OfficialAccountCapacity) error {
			if oac.Status.ActiveAccount != want {
				return fmt.Errorf("active %q, want %q", oac.Status.ActiveAccount, want)
			}
			return nil
		}
	}
	w.wait("pool", 30*time.Second, active(a))
	fullAt := func(m *manager, id string, et int64) {
		t.Helper()
		w.chat.SetSubscriberNum(id, 100)
		if d := bk.full(context.Background(), to(m), id, et); d.outcome != outcomeOK {
			t.Fatalf("callback not accepted: %v", d)
		}
	}
	accepted := func(id string) {
		t.Helper()
		w.wait("pool", 60*time.Second, func(*chatv1alpha1.OfficialAccountCapacity) error {
			if snk.accepted()[id] == 0 {
				return fmt.Errorf("the sink has not accepted %s; it got:%v", id, snk)
			}
			return nil
		})
	}
	msgID := func(account string, start int64, kind string) string {
		return fmt.Sprintf("%s/pool/%s/%d/%s", w.ns, account, start, kind)
	}

	// a fills up: the leader fails over to b and tells the sink.
	t0 := time.Now().Add(-time.Minute).Unix() * 1000 // whole seconds: fullSince, and so the episode IDs, keep seconds
	fullAt(other(ms, first), a, t0)
	w.wait("pool", 30*time.Second, active(b))
	accepted(msgID(a, t0, "full"))

	// b fills up: nothing has room, the leader creates an account. Kill it while
	// create_official_account is in flight.
	arrived, release := w.chat.Hold(chatapi.CommandCreateOfficialAccount)
	fullAt(other(ms, first), b, t0+1000)
	waitFor(t, arrived, 30*time.Second, "create_official_account")
	first.kill()
	var req struct{ OfficialAccountUserID, Owner_Account string }
	reqs := slices.DeleteFunc(w.chat.Requests(), func(r chatapitest.Request) bool { return r.Command != chatapi.CommandCreateOfficialAccount })
	if len(reqs) != 1 {
		t.Fatalf("%d create requests before the kill, want 1", len(reqs))
	}
	must(t, json.Unmarshal(reqs[0].Body, &req))
	created := req.OfficialAccountUserID
	if !strings.HasPrefix(created, "@TOA#_oac-") {
		t.Fatalf("the create asked for %q, not a scale-out ID", created)
	}
	// Chat carried the create out; only its answer is lost with the leader.
	w.chat.AddAccount(chatapitest.Account{ID: created, Name: "e2e 1", Owner: owner, MaxSubscriberNum: 100})
	release()

	second := leader(t, ms, 40*time.Second)
	if second == first {
		t.Fatal("the killed replica leads")
	}
	w.wait("pool", 30*time.Second, func(oac *chatv1alpha1.OfficialAccountCapacity) error {
		acc := account(oac, created)
		switch {
		case acc == nil || acc.Origin != chatv1alpha1.OriginScaleOut || acc.Creating:
			return fmt.Errorf("%s is not adopted yet", created)
		case oac.Status.ActiveAccount != created || len(oac.Status.Accounts) != 3:
			return fmt.Errorf("active %q with %d accounts, want %q of 3", oac.Status.ActiveAccount, len(oac.Status.Accounts), created)
		}
		return nil
	})
	accepted(msgID(b, t0+1000, "full"))
	first.start() // as Kubernetes restarts the pod

	// a has room again (a recheck finds it): it is active again.
	w.chat.SetSubscriberNum(a, 10)
	w.requestedAt("pool")
	w.wait("pool", 30*time.Second, active(a))
	accepted(msgID(a, t0, "recovered"))

	// a fills up again: the new leader fails over to the created account, and the
	// sink accepts the message but holds its answer; the leader is killed waiting.
	got, hold := make(chan struct{}), make(chan struct{})
	snk.then(sinkStep{acceptHold: true, arrived: got, hold: hold})
	t1 := t0 + 2000
	fullAt(first, a, t1)
	waitFor(t, got, 30*time.Second, "the second full message of a at the sink")
	w.wait("pool", 10*time.Second, active(created))
	second.kill()
	close(hold)
	third := leader(t, ms, 40*time.Second)
	if third != first {
		t.Fatalf("%s leads, want the restarted %s", third.name, first.name)
	}
	w.wait("pool", 60*time.Second, func(oac *chatv1alpha1.OfficialAccountCapacity) error {
		n := notification(oac, "ops")
		if n == nil || len(n.Pending) != 0 || n.LastNotifiedEpisode != msgID(a, t1, "full") {
			return fmt.Errorf("the ops queue is not delivered: %+v", n)
		}
		return nil
	})
	second.start()

	// Exactly one account was created, and every create asked for it.
	var scaleOut []string
	for _, acc := range w.chat.Accounts() {
		if strings.HasPrefix(acc.ID, "@TOA#_oac-") {
			scaleOut = append(scaleOut, acc.ID)
		}
	}
	if !slices.Equal(scaleOut, []string{created}) {
		t.Errorf("scale-out accounts in Chat: %q, want just %q", scaleOut, created)
	}
	for _, r := range w.chat.Requests() {
		if r.Command == chatapi.CommandCreateOfficialAccount && !strings.Contains(string(r.Body), `"`+created+`"`) {
			t.Errorf("a create asked for another account: %s", r.Body)
		}
	}
	if n := w.chat.Calls(chatapi.CommandCreateOfficialAccount); n != 2 {
		t.Errorf("create_official_account called %d times, want 2 (the one cut off by the kill, the new leader's)", n)
	}

	// Every message of the episodes arrived; only the one in flight at the kill twice.
	want := map[string]int{
		msgID(a, t0, "full"):      1,
		msgID(b, t0+1000, "full"): 1,
		msgID(a, t0, "recovered"): 1,
		msgID(a, t1, "full"):      2, // the documented window, forced
	}
	if got := snk.accepted(); !maps.Equal(got, want) {
		t.Errorf("the sink accepted %v, want %v; all it got:%v", got, want, snk)
	}
}
