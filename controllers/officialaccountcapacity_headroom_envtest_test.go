package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
)

// app plays the app: every tick it subscribes n users to the account the resource
// publishes as active (read from the API server, as a watch would), and counts those
// the account refuses at its limit on the fake server.
type app struct {
	refused atomic.Int64
	added   atomic.Int64
	stop    func()
}

func (h *harness) subscribe(n int64, every time.Duration) *app {
	h.t.Helper()
	a := &app{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			o := &chatv1alpha1.OfficialAccountCapacity{}
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: h.ns, Name: "pool"}, o); err != nil || o.Status.ActiveAccount == "" {
				continue
			}
			acc, ok := h.chat.Account(o.Status.ActiveAccount)
			if !ok {
				continue
			}
			room := acc.MaxSubscriberNum - acc.SubscriberNum
			added := min(n, max(room, 0))
			h.chat.SetSubscriberNum(acc.ID, acc.SubscriberNum+added)
			a.added.Add(added)
			a.refused.Add(n - added)
		}
	}()
	a.stop = func() { cancel(); wg.Wait() }
	h.t.Cleanup(a.stop)
	return a
}

func headroom(threshold int32, defaultLimit int64) func(*chatv1alpha1.OfficialAccountCapacitySpec) {
	return func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
		s.Headroom = &chatv1alpha1.HeadroomSpec{ThresholdPercent: threshold, DefaultLimit: defaultLimit,
			MinReadInterval: &metav1.Duration{Duration: 5 * time.Second}}
		s.RecheckInterval = &metav1.Duration{Duration: 10 * time.Second}
	}
}

// A steadily filling pool fails over to b at the threshold, before a refuses anyone;
// a's limit is assumed (the fake does not return it), so it is not raised.
func TestHeadroomFailsOverBeforeAnyRefusal(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	hook := newSink(t)
	ref := h.target("hook", hook.srv.URL, "")
	h.startPool(func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
		headroom(50, 100)(s)
		publishTo(s)
		s.Notify = []chatv1alpha1.NotifyTarget{{Name: "hook", Type: chatv1alpha1.NotifyWebhook, SecretRef: ref}}
	})
	fill := h.subscribe(1, 500*time.Millisecond) // 2 a second: the last half of a takes 25 s
	o := h.wait(90*time.Second, func(o *chatv1alpha1.OfficialAccountCapacity) error {
		if o.Status.ActiveAccount != "@TOA#_b" {
			return fmt.Errorf("active %s, used %q", o.Status.ActiveAccount, o.Status.ActiveAccountUsed)
		}
		return nil
	})
	fill.stop()
	a := accountOf(o, "@TOA#_a")
	if !a.NearlyFull || a.Full || a.LimitSource != chatv1alpha1.LimitDefault || a.NearlyFullSince == nil {
		t.Errorf("a after failing over ahead: %+v", a)
	}
	if n := fill.refused.Load(); n != 0 {
		t.Errorf("%d subscribers refused", n)
	}
	if n := h.chat.Calls(chatapi.CommandModifyOfficialAccount); n != 0 {
		t.Errorf("%d limit raises of an assumed limit", n)
	}
	h.event(chatv1alpha1.HeadroomLowEvent, "@TOA#_a is nearly full at ")
	h.event(chatv1alpha1.HeadroomLowEvent, "new subscribers now go to @TOA#_b")
	if data, err := h.configMap(); err != nil || data["account"] != "@TOA#_b" {
		t.Errorf("published %v (%v), want b", data, err)
	}
	// One notification for the episode, with what was done; the gauges show it.
	msgs := hook.waitAccepted(t, 1)
	var m struct{ Kind, Account, ActiveAccount, Text string }
	if err := json.Unmarshal([]byte(msgs[0]), &m); err != nil {
		t.Fatal(err)
	}
	if m.Kind != "nearlyFull" || m.Account != "@TOA#_a" || m.ActiveAccount != "@TOA#_b" || !strings.Contains(m.Text, "@TOA#_a is nearly full at ") {
		t.Errorf("notification %s", msgs[0])
	}
	h.gauge("oacapacity_nearly_full_accounts", "pool", 1)
	h.annotate(chatv1alpha1.RequestedAtAnnotation, "again") // a reading more: no second message
	h.wait(10*time.Second, func(o *chatv1alpha1.OfficialAccountCapacity) error {
		if o.Status.LastHandledRequestedAt != "again" {
			return fmt.Errorf("requested-at not handled yet")
		}
		return nil
	})
	quiet(2 * time.Second) // deliveries follow the status write
	if n := len(hook.all()); n != 1 {
		t.Errorf("%d notifications, want 1 for the episode", n)
	}
}

// With raiseLimit, a's known limit is raised ahead of time, twice up to the ceiling,
// and a never fills; at the ceiling, new subscribers go to b.
func TestHeadroomRaisesTheLimitAhead(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.chat.ReturnMaxSubscriberNum(true)
	h.startPool(func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
		headroom(50, 0)(s)
		s.OnFull = &chatv1alpha1.OnFullSpec{RaiseLimit: &chatv1alpha1.RaiseLimitSpec{Step: 50, Ceiling: 200}}
	})
	fill := h.subscribe(2, 500*time.Millisecond) // 4 a second
	h.wait(120*time.Second, func(o *chatv1alpha1.OfficialAccountCapacity) error {
		if o.Status.ActiveAccount != "@TOA#_b" {
			a := accountOf(o, "@TOA#_a")
			return fmt.Errorf("active %s; a at %d of %d", o.Status.ActiveAccount, a.SubscriberNum, a.MaxSubscriberNum)
		}
		return nil
	})
	fill.stop()
	if n := fill.refused.Load(); n != 0 {
		t.Errorf("%d subscribers refused", n)
	}
	if a, _ := h.chat.Account("@TOA#_a"); a.MaxSubscriberNum != 200 || a.SubscriberNum >= 200 {
		t.Errorf("a on the fake server: %d of %d, want under the ceiling 200", a.SubscriberNum, a.MaxSubscriberNum)
	}
	// One raise to 200, or two by way of 150: as many steps as give a headroom again,
	// which depends on how far past its threshold a reading finds it.
	if n := h.chat.Calls(chatapi.CommandModifyOfficialAccount); n < 1 || n > 2 {
		t.Errorf("%d raises, want 1 or 2 up to the ceiling", n)
	}
	if a := accountOf(h.get(), "@TOA#_a"); a.Full || a.FullEvents != 0 {
		t.Errorf("a filled: %+v", a)
	}
	h.event(chatv1alpha1.HeadroomLowEvent, "raised its limit from 100 to ")
}

// When no account has headroom, the scale-out account is created ahead of time, once,
// and new subscribers go to it before anyone is refused.
func TestHeadroomScalesOutAheadExactlyOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.chat.ReturnMaxSubscriberNum(true)
	h.startPool(func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
		headroom(50, 0)(s)
		scaleOut(3)(s)
	})
	fill := h.subscribe(1, 250*time.Millisecond) // 4 a second
	var created string
	h.wait(120*time.Second, func(o *chatv1alpha1.OfficialAccountCapacity) error {
		created = o.Status.ActiveAccount
		if a := accountOf(o, created); a.Origin != chatv1alpha1.OriginScaleOut || a.Creating {
			return fmt.Errorf("active %s", created)
		}
		return nil
	})
	fill.stop()
	if n := fill.refused.Load(); n != 0 {
		t.Errorf("%d subscribers refused", n)
	}
	if n := h.chat.Calls(chatapi.CommandCreateOfficialAccount); n != 1 {
		t.Errorf("%d create calls, want 1", n)
	}
	o := h.get()
	for _, id := range []string{"@TOA#_a", "@TOA#_b"} {
		if a := accountOf(o, id); a.Full || !a.NearlyFull {
			t.Errorf("%s: %+v, want nearly full, not full", id, a)
		}
	}
	h.event(chatv1alpha1.HeadroomLowEvent, "created account "+created)
}
