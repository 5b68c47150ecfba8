package webhookserver

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/index"
	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
)

const sampleAccount = "@TOA#_test_OA_for_penn"
const sampleEventTime = 1670574414123

// The documentation page's sample request, signed, marks the account full in status
// by the time the answer arrives.
func TestSampleRequestMarksAccountFull(t *testing.T) {
	h := startServer(t, Options{})
	appID := newAppID()
	oac := h.pool(env.Namespace(t), appID, "xxxxyyyy", sampleAccount, "@TOA#_test_OA_spare")

	h.full(appID, "xxxxyyyy", sampleAccount, sampleEventTime)

	got := stored(t, oac) // no waiting: OK means written
	a := accountStatus(got, sampleAccount)
	if a == nil || !a.Full || a.LastEventTime != sampleEventTime || a.FullEvents != 1 || a.Origin != "" { // only the controller sets origin
		t.Fatalf("account status = %+v", a)
	}
	if want := time.UnixMilli(sampleEventTime).Truncate(time.Second); !a.FullSince.Time.Equal(want) {
		t.Errorf("fullSince = %v, want %v", a.FullSince, want)
	}
	if got.Status.FullAccounts != 1 || got.Status.LastFullTime == nil || !got.Status.LastFullTime.Time.Equal(a.FullSince.Time) {
		t.Errorf("summary = fullAccounts %d lastFullTime %v", got.Status.FullAccounts, got.Status.LastFullTime)
	}
	if accountStatus(got, "@TOA#_test_OA_spare") != nil {
		t.Errorf("the other account got a status entry: %+v", got.Status.Accounts)
	}
	if n := h.counter("callbacks", CommandAccountFull, resultRecorded); n != 1 {
		t.Errorf("callbacks{recorded} = %v, want 1", n)
	}
}

func TestDuplicatesWriteOnce(t *testing.T) {
	h := startServer(t, Options{})
	appID := newAppID()
	oac := h.pool(env.Namespace(t), appID, "tok", "@TOA#_dup")

	h.full(appID, "tok", "@TOA#_dup", sampleEventTime)
	first := stored(t, oac)
	writes := h.counter("writes", "success")
	h.waitCachedEvent(appID, "@TOA#_dup", sampleEventTime)

	// Re-deliveries, one after another and at once.
	for range 3 {
		h.full(appID, "tok", "@TOA#_dup", sampleEventTime)
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if err := h.tryFull(appID, "tok", "@TOA#_dup", sampleEventTime); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()

	if n := h.counter("writes", "success"); n != writes {
		t.Errorf("duplicates caused %v more writes", n-writes)
	}
	again := stored(t, oac)
	if again.ResourceVersion != first.ResourceVersion {
		t.Errorf("resourceVersion moved from %s to %s", first.ResourceVersion, again.ResourceVersion)
	}
	if a := accountStatus(again, "@TOA#_dup"); a.FullEvents != 1 {
		t.Errorf("fullEvents = %d, want 1", a.FullEvents)
	}
	if n := h.counter("callbacks", CommandAccountFull, resultDuplicate); n != 13 {
		t.Errorf("callbacks{duplicate} = %v, want 13", n)
	}
}

func TestOlderEventDoesNotMoveLastEventTimeBack(t *testing.T) {
	h := startServer(t, Options{})
	appID := newAppID()
	oac := h.pool(env.Namespace(t), appID, "tok", "@TOA#_order")

	h.full(appID, "tok", "@TOA#_order", sampleEventTime+60000)
	h.full(appID, "tok", "@TOA#_order", sampleEventTime)

	a := accountStatus(stored(t, oac), "@TOA#_order")
	if a.LastEventTime != sampleEventTime+60000 || a.FullEvents != 1 {
		t.Fatalf("after an older event: lastEventTime %d fullEvents %d", a.LastEventTime, a.FullEvents)
	}
}

// 200 callbacks at once for 20 accounts of one resource all land, merged into far
// fewer writes than callbacks.
func TestConcurrentCallbacksAreGroupCommitted(t *testing.T) {
	h := startServer(t, Options{})
	appID := newAppID()
	accounts := make([]string, 20)
	for i := range accounts {
		accounts[i] = fmt.Sprintf("@TOA#_conc_%02d", i)
	}
	oac := h.pool(env.Namespace(t), appID, "tok", accounts...)

	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			<-start
			if err := h.tryFull(appID, "tok", accounts[i%20], sampleEventTime+int64(i)); err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()

	got := stored(t, oac)
	if got.Status.FullAccounts != 20 {
		t.Errorf("fullAccounts = %d, want 20", got.Status.FullAccounts)
	}
	for j, id := range accounts {
		a := accountStatus(got, id)
		// Account j received EventTimes t+j, t+j+20, ..., t+j+180.
		if a == nil || !a.Full || a.LastEventTime != sampleEventTime+int64(180+j) {
			t.Errorf("%s: %+v, want full with lastEventTime %d", id, a, sampleEventTime+int64(180+j))
		}
	}
	writes := h.counter("writes", "success")
	if writes < 1 || writes > 50 {
		t.Errorf("status writes = %v for 200 callbacks, want between 1 and 50", writes)
	}
	if n := h.counter("callbacks", CommandAccountFull, resultRecorded) + h.counter("callbacks", CommandAccountFull, resultDuplicate); n != 200 {
		t.Errorf("acknowledged %v callbacks, want 200", n)
	}
	t.Logf("200 callbacks, %v status writes, %v conflicts", writes, h.counter("writes", "conflict"))
}

// A burst over more resources than write slots: every event is stored, and events
// that arrive while their resource waits for a slot join its next write (the load
// harness shows the effect on writes and latency: docs/performance.md).
func TestBurstOverResourcesSharesWriteSlots(t *testing.T) {
	h := startServer(t, Options{MaxConcurrentWrites: 2})
	ns := env.Namespace(t)
	const resources, perResource = 10, 10
	type target struct {
		app     int64
		oac     *chatv1alpha1.OfficialAccountCapacity
		account []string
	}
	targets := make([]target, resources)
	for r := range targets {
		targets[r].app = newAppID()
		for a := range perResource {
			targets[r].account = append(targets[r].account, fmt.Sprintf("@TOA#_slot_%02d_%02d", r, a))
		}
		targets[r].oac = h.pool(ns, targets[r].app, "tok", targets[r].account...)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range resources * perResource {
		tg := targets[i%resources]
		wg.Go(func() {
			<-start
			if err := h.tryFull(tg.app, "tok", tg.account[i/resources], sampleEventTime); err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	for _, tg := range targets {
		if got := stored(t, tg.oac); got.Status.FullAccounts != perResource {
			t.Errorf("%s: fullAccounts = %d, want %d", tg.oac.Name, got.Status.FullAccounts, perResource)
		}
	}
	writes := h.counter("writes", "success")
	if writes < resources || writes > resources*perResource/2 {
		t.Errorf("status writes = %v for %d callbacks over %d resources, want %d to %d", writes, resources*perResource, resources, resources, resources*perResource/2)
	}
	t.Logf("%d callbacks over %d resources, 2 write slots: %v status writes", resources*perResource, resources, writes)
}

func TestOtherCommandsAreAcknowledgedWithoutWriting(t *testing.T) {
	h := startServer(t, Options{})
	appID := newAppID()
	oac := h.pool(env.Namespace(t), appID, "tok", "@TOA#_other")
	before := stored(t, oac)

	for _, cmd := range []string{"OfficialAccount.CallbackAfterAddSubscriber", "OfficialAccount.CallbackBeforeSendMsg", "Group.CallbackAfterNewMemberJoin"} {
		body := fmt.Sprintf(`{"CallbackCommand":%q,"Official_Account":"@TOA#_other","EventTime":%d}`, cmd, sampleEventTime)
		code, a := h.post(http.MethodPost, query(appID, cmd, "tok", time.Now()), body)
		if code != http.StatusOK || a != answerOK {
			t.Errorf("%s: HTTP %d %+v, want 200 OK", cmd, code, a)
		}
		// Acknowledged only from the Chat backend: they are authenticated too.
		for name, q := range map[string]string{"unsigned": query(appID, cmd, "", time.Time{}), "wrongly signed": query(appID, cmd, "other", time.Now())} {
			if code, a := h.post(http.MethodPost, q, body); code != http.StatusUnauthorized || a.ErrorCode != http.StatusUnauthorized {
				t.Errorf("%s %s: HTTP %d %+v, want 401", name, cmd, code, a)
			}
		}
	}
	if after := stored(t, oac); after.ResourceVersion != before.ResourceVersion {
		t.Errorf("another command wrote status: %+v", after.Status)
	}
	if n := h.counter("callbacks", "OfficialAccount.CallbackAfterAddSubscriber", resultIgnored); n != 1 {
		t.Errorf("callbacks{AfterAddSubscriber, ignored} = %v, want 1", n)
	}
	if n := h.counter("callbacks", "other", resultIgnored); n != 1 {
		t.Errorf("callbacks{other, ignored} = %v, want 1 (unknown commands share one label)", n)
	}
}

func TestUnknownAccountIsAcknowledgedWithoutWriting(t *testing.T) {
	h := startServer(t, Options{})
	appID := newAppID()
	oac := h.pool(env.Namespace(t), appID, "tok", "@TOA#_known")
	before := stored(t, oac)

	h.full(appID, "tok", "@TOA#_unknown", sampleEventTime)
	h.full(appID, "tok", "@TOA#_unknown", sampleEventTime+1)

	if after := stored(t, oac); after.ResourceVersion != before.ResourceVersion {
		t.Errorf("unknown account wrote status: %+v", after.Status)
	}
	if n := h.counter("callbacks", CommandAccountFull, resultUnknownAccount); n != 2 {
		t.Errorf("callbacks{unknown_account} = %v, want 2", n)
	}
	// Even for an unknown account, the app's token is required.
	code, _ := h.post(http.MethodPost, query(appID, CommandAccountFull, "wrong", time.Now()), fullBody("@TOA#_unknown", sampleEventTime))
	if code != http.StatusUnauthorized {
		t.Errorf("wrongly signed callback for an unknown account: HTTP %d, want 401", code)
	}
}

// A Secret without callbackToken refuses every callback by default: secure unless the
// manager is told otherwise.
func TestNoTokenRefusesCallbacksByDefault(t *testing.T) {
	h := startServer(t, Options{})
	appID := newAppID()
	oac := h.pool(env.Namespace(t), appID, "", "@TOA#_closed")
	before := stored(t, oac)

	for name, q := range map[string]string{"unsigned": query(appID, CommandAccountFull, "", time.Time{}), "signed": query(appID, CommandAccountFull, "any", time.Now())} {
		code, a := h.post(http.MethodPost, q, fullBody("@TOA#_closed", sampleEventTime))
		if code != http.StatusUnauthorized || a.ActionStatus != "FAIL" || a.ErrorCode != http.StatusUnauthorized {
			t.Errorf("%s callback with no callbackToken set: HTTP %d %+v, want 401 FAIL", name, code, a)
		}
	}
	if after := stored(t, oac); after.ResourceVersion != before.ResourceVersion {
		t.Errorf("a refused callback wrote status: %+v", after.Status)
	}
	if n := h.counter("callbacks", CommandAccountFull, resultUnauthorized); n != 2 {
		t.Errorf("callbacks{unauthorized} = %v, want 2", n)
	}
}

func TestUnsignedCallbacksWhenAllowedAndNoTokenIsSet(t *testing.T) {
	h := startServer(t, Options{AllowUnsigned: true})
	appID := newAppID()
	oac := h.pool(env.Namespace(t), appID, "", "@TOA#_open")

	h.full(appID, "", "@TOA#_open", sampleEventTime)
	if a := accountStatus(stored(t, oac), "@TOA#_open"); a == nil || !a.Full {
		t.Fatalf("unsigned callback not recorded: %+v", a)
	}
	// The flag does not weaken a resource that has a token.
	signedApp := newAppID()
	h.pool(env.Namespace(t), signedApp, "tok", "@TOA#_signed")
	if code, a := h.post(http.MethodPost, query(signedApp, CommandAccountFull, "", time.Time{}), fullBody("@TOA#_signed", sampleEventTime)); code != http.StatusUnauthorized {
		t.Errorf("unsigned callback for a resource with a token: HTTP %d %+v, want 401", code, a)
	}
}

// An account the operator created (status origin ScaleOut) is found like a spec one.
func TestScaleOutAccountIsFound(t *testing.T) {
	h := startServer(t, Options{})
	appID := newAppID()
	oac := h.pool(env.Namespace(t), appID, "tok", "@TOA#_first")
	oac.Status.Accounts = []chatv1alpha1.AccountStatus{{ID: "@TOA#_created", Origin: "ScaleOut"}}
	if err := env.Client.Status().Update(t.Context(), oac); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		var list chatv1alpha1.OfficialAccountCapacityList
		if err := h.cache.List(t.Context(), &list, client.MatchingFields{index.AppAccount: index.AppAccountKey(appID, "@TOA#_created")}); err != nil {
			return err
		}
		if len(list.Items) != 1 {
			return fmt.Errorf("index holds %d resources for the created account", len(list.Items))
		}
		return nil
	})

	h.full(appID, "tok", "@TOA#_created", sampleEventTime)
	a := accountStatus(stored(t, oac), "@TOA#_created")
	if a == nil || !a.Full || a.Origin != "ScaleOut" {
		t.Fatalf("created account: %+v", a)
	}
}
