package controllers_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/notify"
)

// One full callback: each target hears of it once, with the account, the time and the
// action; the same callback again changes nothing.
func TestNotifyEachTargetOncePerEpisode(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	slack, hook := newSink(t), newSink(t)
	slackRef, hookRef := h.target("slack", slack.srv.URL+"/services/T0/B0/XXXX", ""), h.target("hook", hook.srv.URL+"/hook", "hook-signing-key")
	h.startPool(func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
		s.Notify = []chatv1alpha1.NotifyTarget{
			{Name: "ops", Type: chatv1alpha1.NotifySlack, SecretRef: slackRef},
			{Name: "hook", Type: chatv1alpha1.NotifyWebhook, SecretRef: hookRef},
			{Name: "owners", Type: chatv1alpha1.NotifyChat, ToAccounts: []string{"alice"}},
		}
	})
	eventTime := time.Now()
	h.full("@TOA#_a", eventTime)

	text := slack.waitAccepted(t, 1)[0]
	for _, want := range []string{"@TOA#_a", "new subscribers now go to @TOA#_b"} {
		if !strings.Contains(text, want) {
			t.Errorf("Slack message %s does not say %q", text, want)
		}
	}
	hook.waitAccepted(t, 1)
	req := hook.all()[0]
	var payload map[string]any
	if err := json.Unmarshal(req.body, &payload); err != nil {
		t.Fatal(err)
	}
	wantTime := eventTime.UTC().Truncate(time.Second).Format(time.RFC3339)
	if payload["kind"] != "full" || payload["account"] != "@TOA#_a" || payload["activeAccount"] != "@TOA#_b" ||
		payload["time"] != wantTime || payload["sdkAppID"] != float64(h.appID) || !strings.Contains(fmt.Sprint(payload["action"]), "@TOA#_b") {
		t.Errorf("webhook payload %s (time want %s)", req.body, wantTime)
	}
	// The signature as docs/notifications.md tells a receiver to check it.
	mac := hmac.New(sha256.New, []byte("hook-signing-key"))
	mac.Write([]byte(req.header.Get("X-OAC-Timestamp") + "." + string(req.body)))
	if got, want := req.header.Get("X-OAC-Signature"), "sha256="+hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("X-OAC-Signature = %q, want %q", got, want)
	}
	if id := req.header.Get("X-OAC-Event-ID"); id == "" || id != payload["id"] {
		t.Errorf("X-OAC-Event-ID = %q, payload id %v", id, payload["id"])
	}
	testEventually(t, func() error {
		msgs := h.chat.Messages()
		if len(msgs) != 1 || msgs[0].To != "alice" || msgs[0].From != admin || !strings.Contains(msgs[0].Text, "@TOA#_a") {
			return fmt.Errorf("chat messages %+v", msgs)
		}
		return nil
	})
	h.event(chatv1alpha1.NotificationSentEvent, "ops accepted "+h.ns+"/pool/@TOA#_a/")
	h.wait(10*time.Second, func(o *chatv1alpha1.OfficialAccountCapacity) error {
		for _, n := range o.Status.Notifications {
			if len(n.Pending) != 0 || n.LastSentTime == nil || !strings.HasSuffix(n.LastNotifiedEpisode, "/full") {
				return fmt.Errorf("notification status %s", dump(o.Status.Notifications))
			}
		}
		return nil
	})

	h.full("@TOA#_a", eventTime)
	quiet(2 * time.Second)
	if n, m, c := len(slack.all()), len(hook.all()), len(h.chat.Messages()); n != 1 || m != 1 || c != 1 {
		t.Errorf("after the same callback again: %d Slack, %d webhook, %d chat messages; want 1 each", n, m, c)
	}
}

func TestNotifyRetriesTransientFailuresAndStopsOnPermanentOnes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	flaky, gone := newSink(t, 500, 500, 500), newSink(t, 404, 404, 404, 404)
	flakyRef, goneRef := h.target("flaky", flaky.srv.URL, ""), h.target("gone", gone.srv.URL, "")
	h.startPool(func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
		s.Notify = []chatv1alpha1.NotifyTarget{
			{Name: "flaky", Type: chatv1alpha1.NotifySlack, SecretRef: flakyRef},
			{Name: "gone", Type: chatv1alpha1.NotifyWebhook, SecretRef: goneRef},
		}
	})
	h.full("@TOA#_a", time.Now())

	flaky.waitAccepted(t, 1)
	h.event(chatv1alpha1.NotificationFailedEvent, "gone refused the message for good")
	o := h.wait(10*time.Second, func(o *chatv1alpha1.OfficialAccountCapacity) error {
		if len(o.Status.Notifications) != 2 || o.Status.Notifications[1].BlockedConfig == "" {
			return fmt.Errorf("notifications %s", dump(o.Status.Notifications))
		}
		return nil
	})
	g := o.Status.Notifications[1]
	if g.Failures != 1 || !strings.Contains(g.LastError, "404") || len(g.Pending) != 1 || strings.Contains(g.LastError, gone.srv.URL) {
		t.Errorf("status of the refusing target: %+v", g)
	}
	quiet(3 * time.Second)
	if n := len(gone.all()); n != 1 {
		t.Errorf("the refusing target got %d requests, want 1 (no retries)", n)
	}
	if n, a := len(flaky.all()), len(flaky.accepted()); n != 4 || a != 1 {
		t.Errorf("the flaky target got %d requests, %d accepted; want 4 and 1", n, a)
	}

	// Its Secret changes (fixed): the queued message goes out, once.
	gone.answer(200, 1)
	updateSecretURL(t, h, "target-gone", gone.srv.URL+"/fixed")
	gone.waitAccepted(t, 1)
	h.wait(10*time.Second, func(o *chatv1alpha1.OfficialAccountCapacity) error {
		if g := o.Status.Notifications[1]; g.BlockedConfig != "" || len(g.Pending) != 0 || g.Failures != 0 {
			return fmt.Errorf("after the fix: %+v", g)
		}
		return nil
	})
}

func TestNotifyAcrossRestarts(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ok, down := newSink(t), newSink(t)
	down.answer(503, 1000)
	okRef, downRef := h.target("ok", ok.srv.URL, ""), h.target("down", down.srv.URL, "")
	h.startPool(func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
		s.Notify = []chatv1alpha1.NotifyTarget{
			{Name: "ok", Type: chatv1alpha1.NotifySlack, SecretRef: okRef},
			{Name: "down", Type: chatv1alpha1.NotifySlack, SecretRef: downRef},
		}
	})
	h.full("@TOA#_a", time.Now())
	ok.waitAccepted(t, 1)
	testEventually(t, func() error {
		if n := len(down.all()); n < 3 {
			return fmt.Errorf("the failing target was tried %d times", n)
		}
		return nil
	})

	h.stop() // mid-episode, with one target failing
	down.answer(200, 0)
	h.start(nil)
	down.waitAccepted(t, 1)
	quiet(2 * time.Second)
	if n := len(ok.all()); n != 1 {
		t.Errorf("the target that had the message got %d after the restart, want 1 in all", n)
	}
	if n := len(down.accepted()); n != 1 {
		t.Errorf("the failing target accepted %d, want 1", n)
	}
}

// Exhaustion and recovery have their own messages; repeats go on while an episode lasts
// and stop when it ends.
func TestNotifyExhaustionRecoveryAndRepeats(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.secret(map[string]string{chatv1alpha1.CredentialCallbackToken: token})
	s := newSink(t)
	h.start(nil)
	ref := h.target("ops", s.srv.URL, "")
	h.create(func(spec *chatv1alpha1.OfficialAccountCapacitySpec) {
		spec.ChatAPI = nil
		spec.Notify = []chatv1alpha1.NotifyTarget{{Name: "ops", Type: chatv1alpha1.NotifySlack, SecretRef: ref,
			RepeatInterval: &metav1.Duration{Duration: time.Minute}}}
	})
	h.active("@TOA#_a")
	h.full("@TOA#_a", time.Now())
	h.full("@TOA#_b", time.Now())
	got := s.waitAccepted(t, 3)
	if !strings.Contains(got[0], "@TOA#_a is full") || !strings.Contains(got[1], "@TOA#_b is full") || !strings.Contains(got[2], "no account of the pool has room") {
		t.Fatalf("messages %q, want a full, b full, exhausted", got)
	}
	// Both episodes repeat after a minute.
	got = s.waitAcceptedWithin(t, 5, 90*time.Second)
	if !strings.Contains(strings.Join(got[3:], "\n"), "@TOA#_a is still full") || !strings.Contains(strings.Join(got[3:], "\n"), "@TOA#_b is still full") {
		t.Fatalf("repeats %q", got[3:])
	}
	h.annotate(chatv1alpha1.ClearFullAnnotation, "@TOA#_a,@TOA#_b")
	got = s.waitAccepted(t, 7)
	if !strings.Contains(got[5], "has room again") || !strings.Contains(got[6], "has room again") {
		t.Fatalf("recovery messages %q", got[5:])
	}
	h.wait(10*time.Second, func(o *chatv1alpha1.OfficialAccountCapacity) error {
		if n := o.Status.Notifications[0]; len(n.Episodes) != 0 || n.ExhaustedSince != nil {
			return fmt.Errorf("episodes left open: %s", dump(n))
		}
		return nil
	})
}

func updateSecretURL(t *testing.T, h *harness, name, url string) {
	t.Helper()
	var sec corev1.Secret
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: h.ns, Name: name}, &sec); err != nil {
		t.Fatal(err)
	}
	sec.Data[chatv1alpha1.NotifyURLKey] = []byte(url)
	if err := env.Client.Update(context.Background(), &sec); err != nil {
		t.Fatal(err)
	}
}

// A target that is down is tried again after its backoff (2 s, doubling), not at every
// reconcile: the readings, callbacks and rechecks that make a resource reconcile often
// must neither hammer it nor hold a worker for a delivery each time.
func TestNotifyFailingTargetWaitsItsBackoff(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	down := newSink(t)
	down.answer(503, 1000)
	ref := h.target("down", down.srv.URL, "")
	h.startPool(func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
		s.Notify = []chatv1alpha1.NotifyTarget{{Name: "down", Type: chatv1alpha1.NotifySlack, SecretRef: ref}}
	})
	h.full("@TOA#_a", time.Now())
	h.wait(15*time.Second, func(o *chatv1alpha1.OfficialAccountCapacity) error {
		if len(o.Status.Notifications) != 1 || o.Status.Notifications[0].Failures != 1 {
			return fmt.Errorf("notifications %s", dump(o.Status.Notifications))
		}
		return nil
	})
	held := time.Now() // the first round ended before this
	round := len(down.all())
	if round != notify.DefaultMaxAttempts {
		t.Fatalf("the first round made %d tries, want %d", round, notify.DefaultMaxAttempts)
	}

	// Ten rechecks requested, each waited for until the resource reconciled.
	for i := range 10 {
		before := h.reconciles.Load()
		h.annotate(chatv1alpha1.RequestedAtAnnotation, fmt.Sprintf("poke-%d", i))
		testEventually(t, func() error {
			if h.reconciles.Load() == before {
				return fmt.Errorf("poke %d: no reconcile yet", i)
			}
			return nil
		})
	}
	// The rounds the backoff allows in the time that passed, with a second to spare
	// for when the first round really ended: 1, then one more at 2 s, 6 s, 14 s, ...
	elapsed := time.Since(held) + time.Second
	allowed := 1
	for wait, sum := 2*time.Second, 2*time.Second; sum <= elapsed; wait, sum = 2*wait, sum+2*wait {
		allowed++
	}
	if n := len(down.all()); n > allowed*round {
		t.Errorf("%d tries in the %v after the first round's %d, with 10 rechecks: want at most %d rounds, the backoff's", n, elapsed, round, allowed)
	}
	// And it is tried again once the backoff is over.
	testEventually(t, func() error {
		if n := len(down.all()); n < 2*round {
			return fmt.Errorf("%d tries, want a second round", n)
		}
		return nil
	})
}
