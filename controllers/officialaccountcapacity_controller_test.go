package controllers_test

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi/chatapitest"
	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
)

func publishTo(s *chatv1alpha1.OfficialAccountCapacitySpec) {
	s.Publish = &chatv1alpha1.PublishSpec{ConfigMapName: "pool-active", Key: "account"}
}

// A signed callback for the primary moves new subscribers to the secondary: status,
// ConfigMap, Event and kubectl's columns all say so.
func TestCallbackFailsOverToTheSecondary(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startPool(publishTo)
	h.condition(chatv1alpha1.ConditionReady, metav1.ConditionTrue, chatv1alpha1.ReconciledReason)

	h.fill("@TOA#_a")
	o := h.active("@TOA#_b")
	if a := accountOf(o, "@TOA#_a"); !a.Full || a.Origin != chatv1alpha1.OriginSpec || a.MaxSubscriberNum != 100 || a.FullEvents != 1 {
		t.Errorf("primary after the callback: %+v", a)
	}
	h.condition(chatv1alpha1.ConditionCapacityAvailable, metav1.ConditionTrue, chatv1alpha1.AccountAvailableReason)
	testEventually(t, func() error {
		data, err := h.configMap()
		if err != nil || data["account"] != "@TOA#_b" || data["sdkAppID"] != itoa(h.appID) {
			return fmt.Errorf("ConfigMap data %v (%v)", data, err)
		}
		return nil
	})
	h.event(chatv1alpha1.ActiveAccountChangedEvent, "@TOA#_b instead of @TOA#_a")

	// kubectl get oac shows ACTIVE and AVAILABLE.
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		out, err := exec.Command(kubectl, "--kubeconfig", env.KubeConfigFile(t), "get", "oac", "-n", h.ns).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl get oac: %v: %s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != 2 || !strings.Contains(lines[0], "ACTIVE") || !strings.Contains(lines[0], "AVAILABLE") {
			t.Fatalf("kubectl get oac:\n%s", out)
		}
		if f := strings.Fields(lines[1]); len(f) < 5 || f[2] != "@TOA#_b" || f[3] != "1" || f[4] != "True" {
			t.Errorf("kubectl get oac row = %q, want ACTIVE @TOA#_b, FULL 1, AVAILABLE True", lines[1])
		}
	}

	// An edited ConfigMap is put back.
	patchConfigMap(t, h, "@TOA#_a")
	testEventually(t, func() error {
		if data, err := h.configMap(); err != nil || data["account"] != "@TOA#_b" {
			return fmt.Errorf("ConfigMap data %v (%v), want it put back", data, err)
		}
		return nil
	})
}

func TestRaiseLimitThenFailOverAtTheCeiling(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startPool(func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
		s.OnFull = &chatv1alpha1.OnFullSpec{RaiseLimit: &chatv1alpha1.RaiseLimitSpec{Step: 50, Ceiling: 180}}
	})
	notFullAt := func(limit int64) func(a chatv1alpha1.AccountStatus) error {
		return func(a chatv1alpha1.AccountStatus) error {
			if a.Full || a.MaxSubscriberNum != limit {
				return fmt.Errorf("%+v, want not full with limit %d", a, limit)
			}
			return nil
		}
	}

	h.fill("@TOA#_a")
	h.serverLimit("@TOA#_a", 150)
	o := h.account("@TOA#_a", 10*time.Second, notFullAt(150))
	if o.Status.ActiveAccount != "@TOA#_a" {
		t.Errorf("active = %q after the raise, want the primary still", o.Status.ActiveAccount)
	}
	h.event(chatv1alpha1.LimitRaisedEvent, "from 100 to 150")

	// Full again: raised to the ceiling, not past it.
	h.fill("@TOA#_a")
	h.serverLimit("@TOA#_a", 180)
	h.account("@TOA#_a", 10*time.Second, notFullAt(180))

	// At the ceiling the next full callback fails over.
	h.fill("@TOA#_a")
	h.active("@TOA#_b")
	if a, _ := h.chat.Account("@TOA#_a"); a.MaxSubscriberNum != 180 {
		t.Errorf("limit raised past the ceiling: %d", a.MaxSubscriberNum)
	}
	if n := h.chat.Calls(chatapi.CommandModifyOfficialAccount); n != 2 {
		t.Errorf("%d modify calls, want 2", n)
	}
}

func scaleOut(max int32) func(*chatv1alpha1.OfficialAccountCapacitySpec) {
	return func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
		s.OnFull = &chatv1alpha1.OnFullSpec{ScaleOut: &chatv1alpha1.ScaleOutSpec{
			MaxAccounts: max, OwnerAccount: owner, NamePrefix: "Support", MaxSubscriberNum: 1000,
		}}
	}
}

// createdAccounts returns the accounts on the fake server other than a and b.
func createdAccounts(h *harness) []chatapitest.Account {
	var out []chatapitest.Account
	for _, a := range h.chat.Accounts() {
		if a.ID != "@TOA#_a" && a.ID != "@TOA#_b" {
			out = append(out, a)
		}
	}
	return out
}

func TestScaleOutCreatesExactlyOneAccountAndRespectsMaxAccounts(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startPool(scaleOut(3))

	now := time.Now()
	h.chat.SetSubscriberNum("@TOA#_a", 100)
	h.chat.SetSubscriberNum("@TOA#_b", 100)
	h.full("@TOA#_a", now)
	h.full("@TOA#_b", now)
	var created string
	h.wait(15*time.Second, func(o *chatv1alpha1.OfficialAccountCapacity) error {
		created = o.Status.ActiveAccount
		if a := accountOf(o, created); created == "" || a.Origin != chatv1alpha1.OriginScaleOut || a.Creating {
			return fmt.Errorf("active = %q (%+v), want a created account", created, a)
		}
		return nil
	})
	accs := createdAccounts(h)
	if len(accs) != 1 || accs[0].ID != created || accs[0].Owner != owner || accs[0].Name != "Support 1" || accs[0].MaxSubscriberNum != 1000 {
		t.Fatalf("created accounts = %+v, want one: %s, owner %s, Support 1, limit 1000", accs, created, owner)
	}
	h.event(chatv1alpha1.AccountCreatedEvent, "created "+created)

	// The same callbacks again change nothing.
	h.full("@TOA#_a", now)
	h.full("@TOA#_b", now)
	h.get() // a round trip, then the count
	if n := len(createdAccounts(h)); n != 1 {
		t.Fatalf("%d accounts after repeated callbacks, want 1", n)
	}

	// The created account fills up: the pool is at maxAccounts (3), nothing more.
	h.fill(created)
	h.condition(chatv1alpha1.ConditionCapacityAvailable, metav1.ConditionFalse, chatv1alpha1.AllAccountsFullReason)
	h.event(chatv1alpha1.CapacityExhaustedEvent, "maxAccounts (3)")
	if n := len(createdAccounts(h)); n != 1 {
		t.Fatalf("%d accounts created, want maxAccounts respected (1 created)", n)
	}
	if n := h.chat.Calls(chatapi.CommandCreateOfficialAccount); n != 1 {
		t.Errorf("%d create calls, want 1", n)
	}
}

// holdAnswer forwards REST calls to the fake server; a call of command takes effect,
// and then its answer is held until the caller gives up: the operator dies between
// the call and the status write.
type holdAnswer struct {
	next    http.RoundTripper
	command string
	done    chan struct{} // closed when the call took effect
}

func newHoldAnswer(h *harness, command string) *holdAnswer {
	return &holdAnswer{next: h.chat.HTTPClient().Transport, command: command, done: make(chan struct{})}
}

func (h *holdAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := h.next.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, "/"+h.command) {
		return resp, err
	}
	resp.Body.Close()
	close(h.done)
	<-req.Context().Done()
	return nil, req.Context().Err()
}

func (h *holdAnswer) wait(t *testing.T) {
	t.Helper()
	select {
	case <-h.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("no %s call", h.command)
	}
}

func TestScaleOutSurvivesAStopBetweenCreateAndStatusWrite(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	hold := newHoldAnswer(h, chatapi.CommandCreateOfficialAccount)
	h.startPoolVia(hold, scaleOut(4))
	h.fill("@TOA#_a", "@TOA#_b")
	hold.wait(t)
	h.stop() // the manager dies with the account created and the answer not recorded
	o := h.get()
	var pending string
	for _, a := range o.Status.Accounts {
		if a.Creating {
			pending = a.ID
		}
	}
	if pending == "" {
		t.Fatalf("status does not hold the intent to create: %s", dump(o.Status))
	}
	if accs := createdAccounts(h); len(accs) != 1 || accs[0].ID != pending {
		t.Fatalf("fake server has %+v, want the one account %s", accs, pending)
	}

	h.start(nil) // a new manager finishes the creation
	h.active(pending)
	if accs := createdAccounts(h); len(accs) != 1 {
		t.Fatalf("%d accounts after the restart, want 1: %+v", len(accs), accs)
	}
	h.event(chatv1alpha1.AccountCreatedEvent, "adopted "+pending)
	if a := accountOf(h.get(), pending); a.Creating || a.MaxSubscriberNum != 1000 {
		t.Errorf("created account after the restart: %+v", a)
	}
}

func TestLostStatusFindsCreatedAccountsAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startPool(scaleOut(4))
	h.fill("@TOA#_a", "@TOA#_b")
	created := h.wait(15*time.Second, func(o *chatv1alpha1.OfficialAccountCapacity) error {
		if a := accountOf(o, o.Status.ActiveAccount); a.Origin != chatv1alpha1.OriginScaleOut || a.Creating {
			return fmt.Errorf("no created account active yet: %s", dump(o.Status))
		}
		return nil
	}).Status.ActiveAccount

	// Status is lost (restored from a backup without it, say), while the manager is down.
	h.stop()
	o := h.get()
	o.Status = chatv1alpha1.OfficialAccountCapacityStatus{}
	if err := env.Client.Status().Update(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	h.start(nil)
	h.account(created, 15*time.Second, func(a chatv1alpha1.AccountStatus) error {
		if a.Origin != chatv1alpha1.OriginScaleOut {
			return fmt.Errorf("created account not found again: %+v", a)
		}
		return nil
	})
	// The spec accounts are at their limit: the recheck cannot know (their limits were
	// learned from callbacks), so the primary is used until its next callback, which
	// fails over to the found account, not to a new one.
	h.full("@TOA#_a", time.Now())
	h.full("@TOA#_b", time.Now())
	h.active(created)
	if n := len(createdAccounts(h)); n != 1 {
		t.Fatalf("%d accounts after losing status, want 1", n)
	}
	h.event(chatv1alpha1.AccountCreatedEvent, "found again")
}

func TestAllAccountsFullWithNothingConfigured(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startPool(publishTo)
	h.gauge("oacapacity_capacity_available", "pool", 1)
	h.gauge("oacapacity_full_accounts", "pool", 0)
	h.full("@TOA#_a", time.Now())
	h.full("@TOA#_b", time.Now())
	c := h.condition(chatv1alpha1.ConditionCapacityAvailable, metav1.ConditionFalse, chatv1alpha1.AllAccountsFullReason)
	h.gauge("oacapacity_capacity_available", "pool", 0)
	h.gauge("oacapacity_full_accounts", "pool", 2)
	if !strings.Contains(c.Message, "all 2 accounts are full") {
		t.Errorf("message %q", c.Message)
	}
	h.active("")
	h.event(chatv1alpha1.CapacityExhaustedEvent, "scaleOut is not configured")
	if n := h.chat.Calls(chatapi.CommandModifyOfficialAccount) + h.chat.Calls(chatapi.CommandCreateOfficialAccount); n != 0 {
		t.Errorf("%d REST actions with nothing configured", n)
	}
	if data, err := h.configMap(); err != nil || data["account"] != "" {
		t.Errorf("ConfigMap %v (%v), want an empty active account", data, err)
	}
}

func TestRecheckFindsLostCallbacksAndRecovers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.chat.AddAccount(chatapitest.Account{ID: "@TOA#_c", Name: "C", Owner: owner, MaxSubscriberNum: 100})
	h.startPool(func(s *chatv1alpha1.OfficialAccountCapacitySpec) { s.Accounts = append(s.Accounts, "@TOA#_c") })

	// The limit of a is learned from its callback; it then recovers only below 95%.
	h.fill("@TOA#_a")
	h.active("@TOA#_b")
	h.account("@TOA#_a", 10*time.Second, func(a chatv1alpha1.AccountStatus) error {
		if a.MaxSubscriberNum != 100 {
			return fmt.Errorf("limit = %d, want 100 learned", a.MaxSubscriberNum)
		}
		return nil
	})
	h.annotate(chatv1alpha1.RequestedAtAnnotation, "1")
	h.wait(10*time.Second, func(o *chatv1alpha1.OfficialAccountCapacity) error {
		if o.Status.LastHandledRequestedAt != "1" {
			return fmt.Errorf("requested-at not acknowledged: %q", o.Status.LastHandledRequestedAt)
		}
		return nil
	})

	// b reaches its limit but its callback is lost: the recheck finds it, once b's
	// limit is known (the fake returns it).
	h.chat.ReturnMaxSubscriberNum(true)
	h.chat.SetSubscriberNum("@TOA#_b", 100)
	h.chat.SetSubscriberNum("@TOA#_a", 96)
	h.annotate(chatv1alpha1.RequestedAtAnnotation, "2")
	o := h.active("@TOA#_c")
	if a := accountOf(o, "@TOA#_a"); !a.Full {
		t.Errorf("a cleared at 96%% of its limit: %+v", a)
	}
	h.event(chatv1alpha1.CapacityExhaustedEvent, "@TOA#_b is at its limit")

	h.chat.SetSubscriberNum("@TOA#_a", 95)
	h.annotate(chatv1alpha1.RequestedAtAnnotation, "3")
	h.active("@TOA#_a")
	h.event(chatv1alpha1.AccountRecoveredEvent, "@TOA#_a has room again: 95 of 100")
}

// Without REST credentials, full accounts are cleared by hand with an annotation.
func TestClearFullByAnnotation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.secret(map[string]string{chatv1alpha1.CredentialCallbackToken: token})
	h.start(nil)
	h.create(nil)
	h.active("@TOA#_a")
	h.full("@TOA#_a", time.Now())
	h.active("@TOA#_b")
	h.condition(chatv1alpha1.ConditionReady, metav1.ConditionTrue, chatv1alpha1.ReconciledReason)

	h.annotate(chatv1alpha1.ClearFullAnnotation, "@TOA#_a")
	h.active("@TOA#_a")
	h.wait(10*time.Second, func(o *chatv1alpha1.OfficialAccountCapacity) error {
		if _, ok := o.Annotations[chatv1alpha1.ClearFullAnnotation]; ok || o.Status.FullAccounts != 0 {
			return fmt.Errorf("annotation still there or fullAccounts %d", o.Status.FullAccounts)
		}
		return nil
	})
	h.event(chatv1alpha1.AccountRecoveredEvent, "@TOA#_a cleared by the chat.oacapacity.io/clear-full annotation")
	if n := h.chat.TotalCalls(); n != 0 {
		t.Errorf("%d REST calls without credentials", n)
	}
}

// Configuration errors are marked on Ready and not retried in a loop.
func TestCredentialProblemsDoNotLoop(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		secret func(h *harness) map[string]string // nil: no Secret
		reason string
	}{
		{"missing Secret", nil, chatv1alpha1.MissingCredentialsReason},
		{"wrong secret key", func(h *harness) map[string]string {
			c := h.credentials()
			c[chatv1alpha1.CredentialSecretKey] = "not-the-key"
			return c
		}, chatv1alpha1.InvalidCredentialsReason},
		{"no REST keys with onFull", func(h *harness) map[string]string {
			return map[string]string{chatv1alpha1.CredentialCallbackToken: token}
		}, chatv1alpha1.MissingCredentialsReason},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			if tc.secret != nil {
				h.secret(tc.secret(h))
			}
			h.start(nil)
			h.create(func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
				s.OnFull = &chatv1alpha1.OnFullSpec{RaiseLimit: &chatv1alpha1.RaiseLimitSpec{Step: 10, Ceiling: 1000}}
			})
			c := h.condition(chatv1alpha1.ConditionReady, metav1.ConditionFalse, tc.reason)
			if strings.Contains(c.Message, h.key) || strings.Contains(c.Message, "not-the-key") {
				t.Errorf("the message shows the secret key: %q", c.Message)
			}
			// Failing over needs no REST call: it still happens.
			h.active("@TOA#_a")
			start, calls := h.reconciles.Load(), h.chat.TotalCalls()
			window := time.NewTimer(time.Minute)
			<-window.C // the quiet minute this test is about
			if n := h.reconciles.Load() - start; n > 3 {
				t.Errorf("%d reconciles in a minute, want at most 3", n)
			}
			if n := h.chat.TotalCalls() - calls; n > 3 {
				t.Errorf("%d REST calls in a minute, want at most 3", n)
			}
		})
	}
}

func TestOlderResourceOwnsASharedAccount(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startPool(nil)
	newer := &chatv1alpha1.OfficialAccountCapacity{
		ObjectMeta: metav1.ObjectMeta{Name: "pool-newer", Namespace: h.ns}, // after "pool" when created in the same second
		Spec: chatv1alpha1.OfficialAccountCapacitySpec{SDKAppID: h.appID, Accounts: []string{"@TOA#_b", "@TOA#_x"},
			CredentialsRef: chatv1alpha1.LocalObjectReference{Name: "chat-app"}},
	}
	if err := env.Client.Create(context.Background(), newer); err != nil {
		t.Fatal(err)
	}
	testEventually(t, func() error {
		o, err := h.resource("pool-newer")
		if err != nil {
			return err
		}
		c := findReady(o)
		if c == nil || c.Reason != chatv1alpha1.AccountConflictReason || !strings.Contains(c.Message, "@TOA#_b is managed by "+h.ns+"/pool") {
			return fmt.Errorf("newer Ready = %+v", c)
		}
		if o.Status.ActiveAccount != "" {
			return fmt.Errorf("newer acted: active %q", o.Status.ActiveAccount)
		}
		return nil
	})
	if c := findReady(h.get()); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("older Ready = %+v", c)
	}
	h.gauge("oacapacity_capacity_available", "pool", 1)

	// Once the older one is gone, the newer one takes over.
	if err := env.Client.Delete(context.Background(), h.get()); err != nil {
		t.Fatal(err)
	}
	testEventually(t, func() error {
		o, err := h.resource("pool-newer")
		if err != nil {
			return err
		}
		if c := findReady(o); c == nil || c.Status != metav1.ConditionTrue || o.Status.ActiveAccount != "@TOA#_b" {
			return fmt.Errorf("newer Ready = %+v, active %q", c, o.Status.ActiveAccount)
		}
		return nil
	})
	// The deleted resource's series are gone; the other's stay.
	h.gauge("oacapacity_capacity_available", "pool", -1)
	h.gauge("oacapacity_full_accounts", "pool", -1)
	h.gauge("oacapacity_capacity_available", "pool-newer", 1)
}

func TestSuspendStopsActionsNotRecording(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.secret(h.credentials())
	h.start(nil)
	h.create(func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
		publishTo(s)
		s.Suspend = true
	})
	h.condition(chatv1alpha1.ConditionReady, metav1.ConditionFalse, chatv1alpha1.SuspendedReason)
	h.full("@TOA#_a", time.Now())
	o := h.wait(10*time.Second, func(o *chatv1alpha1.OfficialAccountCapacity) error {
		if !accountOf(o, "@TOA#_a").Full {
			return fmt.Errorf("callback not recorded while suspended")
		}
		return nil
	})
	if o.Status.ActiveAccount != "" {
		t.Errorf("active account set while suspended: %q", o.Status.ActiveAccount)
	}
	if _, err := h.configMap(); err == nil {
		t.Error("ConfigMap published while suspended")
	}
	if n := h.chat.TotalCalls(); n != 0 {
		t.Errorf("%d REST calls while suspended", n)
	}
}

func patchConfigMap(t *testing.T, h *harness, account string) {
	t.Helper()
	patch := []byte(fmt.Sprintf(`{"data":{"account":%q}}`, account))
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "pool-active"}}
	if err := env.Client.Patch(context.Background(), cm, client.RawPatch("application/merge-patch+json", patch)); err != nil {
		t.Fatal(err)
	}
}

func findReady(o *chatv1alpha1.OfficialAccountCapacity) *metav1.Condition {
	for i := range o.Status.Conditions {
		if o.Status.Conditions[i].Type == chatv1alpha1.ConditionReady {
			return &o.Status.Conditions[i]
		}
	}
	return nil
}

func testEventually(t *testing.T, check func() error) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, check)
}

// A scale-out ID taken by an account of another owner is not adopted.
func TestScaleOutDoesNotAdoptAnotherOwnersAccount(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.startPool(scaleOut(4))
	// The documented ID format: @TOA#_oac-<UID without dashes>-<n>.
	taken := "@TOA#_oac-" + strings.ReplaceAll(string(o.UID), "-", "") + "-1"
	h.chat.AddAccount(chatapitest.Account{ID: taken, Name: "Not ours", Owner: "mallory", MaxSubscriberNum: 5})

	h.fill("@TOA#_a", "@TOA#_b")
	c := h.condition(chatv1alpha1.ConditionReady, metav1.ConditionFalse, chatv1alpha1.AccountConflictReason)
	if !strings.Contains(c.Message, `owner "mallory"`) {
		t.Errorf("Ready message %q does not name the owner", c.Message)
	}
	o = h.get()
	if a := o.Status.Account(taken); a != nil {
		t.Errorf("another owner's account is in the pool: %+v", a)
	}
	if o.Status.ActiveAccount != "" {
		t.Errorf("active = %q, want none", o.Status.ActiveAccount)
	}
	if a, _ := h.chat.Account(taken); a.Owner != "mallory" || a.Name != "Not ours" {
		t.Errorf("the other account was changed: %+v", a)
	}
	// No loop: the next try is at the recheck interval.
	window := time.NewTimer(3 * time.Second)
	<-window.C // the quiet time this test is about
	if n := h.chat.Calls(chatapi.CommandCreateOfficialAccount); n != 1 {
		t.Errorf("%d create calls, want 1", n)
	}
}

// A raise whose answer was lost is set again with the same value after a restart, not
// raised a second time from what the subscribers grew to meanwhile.
func TestRaiseSurvivesAStopBetweenCallAndStatusWrite(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	hold := newHoldAnswer(h, chatapi.CommandModifyOfficialAccount)
	h.startPoolVia(hold, func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
		s.OnFull = &chatv1alpha1.OnFullSpec{RaiseLimit: &chatv1alpha1.RaiseLimitSpec{Step: 50, Ceiling: 500}}
	})
	h.fill("@TOA#_a")
	hold.wait(t)
	h.stop()
	if a := accountOf(h.get(), "@TOA#_a"); a.RaisingTo != 150 || !a.Full {
		t.Fatalf("status does not hold the intent to raise: %+v", a)
	}
	h.chat.SetSubscriberNum("@TOA#_a", 120) // the raise took effect: subscribers grew past the old limit

	h.start(nil)
	h.account("@TOA#_a", 15*time.Second, func(a chatv1alpha1.AccountStatus) error {
		if a.Full || a.RaisingTo != 0 || a.MaxSubscriberNum != 150 {
			return fmt.Errorf("after the restart: %+v", a)
		}
		return nil
	})
	if a, _ := h.chat.Account("@TOA#_a"); a.MaxSubscriberNum != 150 {
		t.Errorf("fake server's limit = %d, want 150 (raised once)", a.MaxSubscriberNum)
	}
}
