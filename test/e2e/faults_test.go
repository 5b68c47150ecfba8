package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi/chatapitest"
	"github.com/oacapacity/oa-capacity-operator/internal/notify"
	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
)

func ready(oac *chatv1alpha1.OfficialAccountCapacity) error {
	if c := condition(oac, chatv1alpha1.ConditionReady); c == nil || c.Status != "True" {
		return fmt.Errorf("not Ready: %+v", c)
	}
	return nil
}

// The Chat REST API fails in the ways internal/chatapi tells apart: retryable codes
// and HTTP 5xx are retried within a call and then by the controller with backoff;
// dropped connections and "too frequent" answers on create_official_account still
// create one account; a slow answer is waited for; a lasting failure is retried in
// bounds, not in a loop. After each, the state is checked exactly: limits in Chat,
// REST calls made, conditions and events.
func TestChatAPIFaults(t *testing.T) {
	onSharedPlane(t)
	w := newWorld(t, env)
	const a, b = "@TOA#_rest_a", "@TOA#_rest_b"
	w.chat.ReturnMaxSubscriberNum(true)
	w.chat.AddAccount(chatapitest.Account{ID: a, Name: "a", Owner: owner, MaxSubscriberNum: 100})
	w.chat.AddAccount(chatapitest.Account{ID: b, Name: "b", Owner: owner, MaxSubscriberNum: 200}) // at the ceiling
	w.resource("pool", []string{a, b}, func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
		s.OnFull = &chatv1alpha1.OnFullSpec{
			RaiseLimit: &chatv1alpha1.RaiseLimitSpec{Step: 50, Ceiling: 200},
			ScaleOut:   &chatv1alpha1.ScaleOutSpec{MaxAccounts: 3, OwnerAccount: owner, NamePrefix: "e2e", MaxSubscriberNum: 100},
		}
	})
	ms := replicas(t, 1, env.KubeConfigFile(t), w.ns)
	leader(t, ms, 60*time.Second)
	bk := newBackend(w.appID, w.token)
	waitServing(t, bk, ms...)
	w.wait("pool", 30*time.Second, ready)
	et := time.Now().Add(-time.Minute).Unix() * 1000
	full := func(id string, subscribers int64) {
		t.Helper()
		w.chat.SetSubscriberNum(id, subscribers)
		et += 1000
		if d := bk.full(context.Background(), to(ms[0]), id, et); d.outcome != outcomeOK {
			t.Fatalf("callback not accepted: %v", d)
		}
	}
	limit := func(id string, want int64) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, func() error {
			if acc, _ := w.chat.Account(id); acc.MaxSubscriberNum != want {
				return fmt.Errorf("%s has limit %d in Chat, want %d", id, acc.MaxSubscriberNum, want)
			}
			return nil
		})
	}
	modify := chatapi.CommandModifyOfficialAccount

	// 1. Two retryable error codes: the client's retries inside one call get past them.
	w.chat.FailNext(modify, 2, chatapi.CodeInternalError, "internal error")
	full(a, 100)
	limit(a, 150)
	if n := w.chat.Calls(modify); n != 3 {
		t.Errorf("step 1: %d modify calls, want 3 (2 failed, 1 raise)", n)
	}
	w.wait("pool", 30*time.Second, ready)

	// 2. HTTP 503 five times: one call's 4 tries fail (ChatAPIUnavailable, a
	// ChatAPIFailed event), the controller's next call gets through.
	w.chat.FailNextHTTP(modify, 5, http.StatusServiceUnavailable)
	full(a, 150)
	limit(a, 200)
	if n := w.chat.Calls(modify); n != 3+6 {
		t.Errorf("step 2: %d modify calls in all, want 9 (3, then 5 failed and 1 raise)", n)
	}
	w.wait("pool", 30*time.Second, ready)
	if ev := strings.Join(w.events(), "\n"); !strings.Contains(ev, chatv1alpha1.ChatAPIFailedEvent) || strings.Count(ev, chatv1alpha1.LimitRaisedEvent) < 2 {
		t.Errorf("step 2: want ChatAPIFailed and two LimitRaised events, got:\n%s", ev)
	}

	// 3. a is full at the ceiling: fail over to b, which fills up at the ceiling too:
	// scale out, through a dropped connection, "too frequent" and HTTP 429.
	create := chatapi.CommandCreateOfficialAccount
	w.chat.DropNext(create, 1)
	w.chat.FailNext(create, 1, chatapi.CodeTooFrequent, "too frequent")
	w.chat.FailNextHTTP(create, 1, http.StatusTooManyRequests)
	full(a, 200)
	full(b, 200)
	oac := w.wait("pool", 60*time.Second, func(oac *chatv1alpha1.OfficialAccountCapacity) error {
		if len(oac.Status.Accounts) != 3 || oac.Status.ActiveAccount != oac.Status.Accounts[2].ID || oac.Status.Accounts[2].Creating {
			return fmt.Errorf("no created account active yet")
		}
		return ready(oac)
	})
	created := oac.Status.Accounts[2].ID
	var scaleOut []string
	for _, acc := range w.chat.Accounts() {
		if strings.HasPrefix(acc.ID, "@TOA#_oac-") {
			scaleOut = append(scaleOut, acc.ID)
		}
	}
	if len(scaleOut) != 1 || scaleOut[0] != created {
		t.Errorf("step 3: scale-out accounts in Chat %q, want just %q", scaleOut, created)
	}
	for _, r := range w.chat.Requests() {
		if r.Command == create && !strings.Contains(string(r.Body), `"`+created+`"`) {
			t.Errorf("step 3: a create asked for another account: %s", r.Body)
		}
	}
	if n := w.chat.Calls(create); n < 4 || n > 6 {
		t.Errorf("step 3: %d create calls, want 4 to 6 (3 faults, then the create or its already-exists)", n)
	}

	// 4. A slow answer: a recheck's read is held at Chat; once released the recheck
	// completes, and no second read was started meanwhile.
	get := chatapi.CommandGetOfficialAccountInfo
	arrived, release := w.chat.Hold(get)
	before := w.chat.Calls(get)
	w.requestedAt("pool")
	waitFor(t, arrived, 30*time.Second, "the held read")
	oac, err := w.get("pool")
	must(t, err)
	want := oac.Annotations[chatv1alpha1.RequestedAtAnnotation]
	if n := w.chat.Calls(get); n != before+1 {
		t.Errorf("step 4: %d reads started while one is held, want 1", n-before)
	}
	release()
	w.wait("pool", 30*time.Second, func(oac *chatv1alpha1.OfficialAccountCapacity) error {
		if oac.Status.LastHandledRequestedAt != want {
			return fmt.Errorf("recheck %q not handled", want)
		}
		return ready(oac)
	})

	// 5. Chat answers HTTP 500 from now on: Ready False ChatAPIUnavailable, and the
	// reads go on with backoff: a call is 4 tries, and calls are at least 1 s apart,
	// doubling, so over the window at most a few calls' tries.
	w.chat.FailNextHTTP(get, 1000, http.StatusInternalServerError)
	start, startCalls := time.Now(), w.chat.Calls(get)
	w.requestedAt("pool")
	w.wait("pool", 30*time.Second, func(oac *chatv1alpha1.OfficialAccountCapacity) error {
		c := condition(oac, chatv1alpha1.ConditionReady)
		if c == nil || c.Status != "False" || c.Reason != chatv1alpha1.ChatAPIUnavailableReason {
			return fmt.Errorf("Ready is %+v, want False %s", c, chatv1alpha1.ChatAPIUnavailableReason)
		}
		return nil
	})
	window := 8 * time.Second
	<-time.After(time.Until(start.Add(window))) // the measurement window, not a synchronisation
	n := w.chat.Calls(get) - startCalls
	// Calls at 0, ≥1 s and ≥2 s after the previous one ended, each ≤ 4 tries
	// (1.75 s of backoff): at most 4 calls in 8 s, 16 tries. A loop makes hundreds.
	if n < 4 || n > 16 {
		t.Errorf("step 5: %d reads in %v of HTTP 500, want 4 to 16: retried, with backoff", n, window)
	}
	t.Logf("step 5: %d reads in %v of HTTP 500", n, window)
}

// Notification targets fail: 5xx twice, 429 with Retry-After, an answer slower than
// the attempt timeout, a 400 (permanent), and 503 for good. The first three get the
// message exactly once, within one delivery's tries (Retry-After honoured); the 400
// is tried once, then the target is blocked; the lasting 503 is retried in rounds of
// notify's tries with backoff between rounds, and its status counts the failures.
// The policy's figures are internal/notify's defaults, read from there: the test
// follows the one owner of them.
func TestNotificationTargetFaults(t *testing.T) {
	onSharedPlane(t)
	w := newWorld(t, env)
	const a, b = "@TOA#_notify_a", "@TOA#_notify_b"
	names := []string{"flaky", "ratelimited", "slow", "refuses", "down"}
	sinks := map[string]*sink{}
	var targets []chatv1alpha1.NotifyTarget
	for _, n := range names {
		sinks[n] = newSink(t, w, n+"-hook")
		targets = append(targets, chatv1alpha1.NotifyTarget{Name: n, Type: chatv1alpha1.NotifyWebhook, SecretRef: &chatv1alpha1.LocalObjectReference{Name: n + "-hook"}})
	}
	sinks["flaky"].then(sinkStep{status: http.StatusBadGateway}, sinkStep{status: http.StatusServiceUnavailable})
	sinks["ratelimited"].then(sinkStep{status: http.StatusTooManyRequests, retryAfter: "1"})
	sinks["slow"].then(sinkStep{hold: make(chan struct{})}) // never released: the sender gives up
	sinks["refuses"].then(sinkStep{status: http.StatusBadRequest})
	var down []sinkStep
	for range 1000 {
		down = append(down, sinkStep{status: http.StatusServiceUnavailable})
	}
	sinks["down"].then(down...)
	w.resource("pool", []string{a, b}, func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
		s.ChatAPI = nil
		s.Notify = targets
	})
	ms := replicas(t, 1, env.KubeConfigFile(t), w.ns)
	leader(t, ms, 60*time.Second)
	bk := newBackend(w.appID, w.token)
	waitServing(t, bk, ms...)
	w.wait("pool", 30*time.Second, func(oac *chatv1alpha1.OfficialAccountCapacity) error {
		if oac.Status.ActiveAccount != a {
			return fmt.Errorf("not reconciled yet")
		}
		return nil
	})
	start := time.Now().Add(-time.Minute).Unix() * 1000
	if d := bk.full(context.Background(), to(ms[0]), a, start); d.outcome != outcomeOK {
		t.Fatalf("callback not accepted: %v", d)
	}
	id := fmt.Sprintf("%s/pool/%s/%d/full", w.ns, a, start)

	oac := w.wait("pool", 60*time.Second, func(oac *chatv1alpha1.OfficialAccountCapacity) error {
		for _, n := range []string{"flaky", "ratelimited", "slow"} {
			if s := notification(oac, n); s == nil || s.LastNotifiedEpisode != id || len(s.Pending) != 0 || s.Failures != 0 || s.LastError != "" {
				return fmt.Errorf("%s: %+v", n, s)
			}
		}
		if s := notification(oac, "down"); s == nil || s.Failures < 2 {
			return fmt.Errorf("down has not failed two rounds yet: %+v", s)
		}
		return nil
	})
	for _, n := range []string{"flaky", "ratelimited", "slow"} {
		if got := sinks[n].accepted(); len(got) != 1 || got[id] != 1 {
			t.Errorf("%s accepted %v, want %s once", n, got, id)
		}
	}
	if got := sinks["flaky"].got(); len(got) != 3 {
		t.Errorf("flaky got %d tries, want 3:%v", len(got), sinks["flaky"])
	}
	if got := sinks["ratelimited"].got(); len(got) != 2 || got[1].at.Sub(got[0].at) < 900*time.Millisecond {
		t.Errorf("ratelimited: want 2 tries at least Retry-After (1 s) apart:%v", sinks["ratelimited"])
	}
	if got := sinks["slow"].got(); len(got) != 2 || got[1].at.Sub(got[0].at) < notify.DefaultAttemptTimeout-500*time.Millisecond {
		t.Errorf("slow: want 2 tries, the second after the %v attempt timeout:%v", notify.DefaultAttemptTimeout, sinks["slow"])
	}

	// The 400 is permanent: one try, then the target is blocked with the message kept.
	ref := notification(oac, "refuses")
	if got := sinks["refuses"].got(); len(got) != 1 {
		t.Errorf("refuses got %d tries, want 1:%v", len(got), sinks["refuses"])
	}
	if ref.Failures != 1 || !strings.Contains(ref.LastError, "400") || ref.BlockedConfig == "" || len(ref.Pending) != 1 || ref.Pending[0].ID != id {
		t.Errorf("refuses: status %+v, want 1 failure, a 400 lastError, blockedConfig, the message pending", ref)
	}

	// The lasting 503: notify's tries a round; rounds apart by the backoff (2 s
	// doubling). Within a round the waits are shorter (0.5 s doubling, jittered).
	const round = notify.DefaultMaxAttempts
	dn := notification(oac, "down")
	got := sinks["down"].got()
	if len(got) < round*int(dn.Failures) || len(got) > round*int(dn.Failures+1) || !strings.Contains(dn.LastError, "503") || dn.BlockedConfig != "" || len(dn.Pending) != 1 {
		t.Errorf("down: %d tries for %d failed rounds (want %d a round), status %+v", len(got), dn.Failures, round, dn)
	}
	if len(got) > round && got[round].at.Sub(got[round-1].at) < 1900*time.Millisecond {
		t.Errorf("down: the second round came %v after the first, want the backoff (2 s)", got[round].at.Sub(got[round-1].at))
	}

	ev := strings.Join(w.events(), "\n")
	for _, want := range []string{"NotificationFailed Notify refuses", "NotificationFailed Notify down", "NotificationSent Notify flaky " + id} {
		if !strings.Contains(ev, want) {
			t.Errorf("no event %q in:\n%s", want, ev)
		}
	}
}
