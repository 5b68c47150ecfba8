package controllers

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/notify"
)

func notifying(targets ...chatv1alpha1.NotifyTarget) *chatv1alpha1.OfficialAccountCapacity {
	oac := pool(nil)
	oac.Namespace, oac.Name = "chat", "support"
	oac.Spec.Notify = targets
	syncPool(oac)
	oac.Status.ActiveAccount = "@TOA#_a"
	return oac
}

func pendingKinds(ns chatv1alpha1.NotificationStatus) []string {
	var out []string
	for _, p := range ns.Pending {
		out = append(out, p.Kind+":"+p.Account)
	}
	return out
}

// deliverAll stands for a delivery that every target accepted.
func deliverAll(oac *chatv1alpha1.OfficialAccountCapacity) {
	for i := range oac.Status.Notifications {
		oac.Status.Notifications[i].Pending = nil
	}
}

func markFull(oac *chatv1alpha1.OfficialAccountCapacity, id string, since time.Time) {
	a := oac.Status.Account(id)
	a.Full, a.FullSince = true, ts(since)
}

func TestPlanFullOncePerEpisodeThenRecovered(t *testing.T) {
	oac := notifying(chatv1alpha1.NotifyTarget{Name: "ops", Type: chatv1alpha1.NotifySlack}, chatv1alpha1.NotifyTarget{Name: "owners", Type: chatv1alpha1.NotifyChat})
	markFull(oac, "@TOA#_a", t0)
	oac.Status.ActiveAccount = "@TOA#_b"
	planNotifications(oac, t0, nil, nil, nil)
	for _, ns := range oac.Status.Notifications {
		if got := pendingKinds(ns); !slices.Equal(got, []string{"full:@TOA#_a"}) {
			t.Fatalf("%s: queued %v", ns.Name, got)
		}
		p := ns.Pending[0]
		if p.ID != "chat/support/@TOA#_a/"+itoa(t0.UnixMilli())+"/full" || p.ActiveAccount != "@TOA#_b" ||
			!strings.Contains(p.Action, "new subscribers now go to @TOA#_b") || !p.Time.Equal(ts(t0)) {
			t.Errorf("%s: message %+v", ns.Name, p)
		}
	}

	// Planned again, before or after delivery: nothing new.
	planNotifications(oac, t0.Add(time.Minute), nil, nil, nil)
	if n := len(oac.Status.Notifications[0].Pending); n != 1 {
		t.Fatalf("%d queued after planning twice, want 1", n)
	}
	deliverAll(oac)
	planNotifications(oac, t0.Add(time.Hour), nil, nil, nil)
	if n := len(oac.Status.Notifications[0].Pending); n != 0 {
		t.Fatalf("%d queued for a told episode", n)
	}

	// The episode ends: recovered, once; the episode is forgotten.
	a := oac.Status.Account("@TOA#_a")
	clearFull(a)
	a.SubscriberNum, a.MaxSubscriberNum, a.ReadTime = 90, 100, mts(t0.Add(time.Hour))
	planNotifications(oac, t0.Add(time.Hour), nil, nil, nil)
	ns := oac.Status.Notifications[0]
	if got := pendingKinds(ns); !slices.Equal(got, []string{"recovered:@TOA#_a"}) || !strings.Contains(ns.Pending[0].Action, "90 of 100") {
		t.Fatalf("queued %v %+v", got, ns.Pending)
	}
	if len(ns.Episodes) != 0 {
		t.Errorf("episodes kept: %+v", ns.Episodes)
	}
	deliverAll(oac)
	planNotifications(oac, t0.Add(2*time.Hour), nil, nil, nil)
	if n := len(oac.Status.Notifications[0].Pending); n != 0 {
		t.Errorf("%d queued after the recovered message", n)
	}

	// A new episode of the same account is a new message.
	markFull(oac, "@TOA#_a", t0.Add(3*time.Hour))
	planNotifications(oac, t0.Add(3*time.Hour), nil, nil, nil)
	if got := pendingKinds(oac.Status.Notifications[1]); !slices.Equal(got, []string{"full:@TOA#_a"}) {
		t.Errorf("new episode: %v", got)
	}
}

func TestPlanRaisedAtOnceIsOneMessage(t *testing.T) {
	oac := notifying(chatv1alpha1.NotifyTarget{Name: "ops", Type: chatv1alpha1.NotifySlack})
	planNotifications(oac, t0, map[string]string{"@TOA#_a": "raised its limit from 100 to 150"},
		[]episodeStart{{account: "@TOA#_a", since: *ts(t0), action: "raised its limit from 100 to 150; new subscribers still go to @TOA#_a"}}, nil)
	ns := oac.Status.Notifications[0]
	if got := pendingKinds(ns); !slices.Equal(got, []string{"full:@TOA#_a"}) || !strings.Contains(ns.Pending[0].Action, "raised its limit from 100 to 150") {
		t.Fatalf("queued %v %+v", got, ns.Pending)
	}
	if len(ns.Episodes) != 0 {
		t.Errorf("an ended episode is kept open: %+v", ns.Episodes)
	}
}

func TestPlanRepeatsWhileTheEpisodeLasts(t *testing.T) {
	oac := notifying(chatv1alpha1.NotifyTarget{Name: "ops", Type: chatv1alpha1.NotifySlack, RepeatInterval: &metav1.Duration{Duration: time.Hour}},
		chatv1alpha1.NotifyTarget{Name: "quiet", Type: chatv1alpha1.NotifySlack})
	markFull(oac, "@TOA#_a", t0)
	planNotifications(oac, t0, nil, nil, nil)
	deliverAll(oac)
	if d := nextRepeat(oac, t0.Add(10*time.Minute)); d != 50*time.Minute {
		t.Errorf("next repeat in %v, want 50m", d)
	}
	planNotifications(oac, t0.Add(59*time.Minute), nil, nil, nil)
	if n := len(oac.Status.Notifications[0].Pending); n != 0 {
		t.Fatalf("repeated early: %v", pendingKinds(oac.Status.Notifications[0]))
	}
	planNotifications(oac, t0.Add(time.Hour), nil, nil, nil)
	planNotifications(oac, t0.Add(time.Hour+time.Second), nil, nil, nil)
	ns := oac.Status.Notifications[0]
	if got := pendingKinds(ns); !slices.Equal(got, []string{"repeat:@TOA#_a"}) || !strings.HasSuffix(ns.Pending[0].ID, "/repeat/1") {
		t.Fatalf("queued %v %+v", got, ns.Pending)
	}
	if n := len(oac.Status.Notifications[1].Pending); n != 0 {
		t.Errorf("a target without repeatInterval repeated")
	}
	deliverAll(oac)
	clearFull(oac.Status.Account("@TOA#_a"))
	planNotifications(oac, t0.Add(3*time.Hour), nil, nil, nil)
	if got := pendingKinds(oac.Status.Notifications[0]); !slices.Equal(got, []string{"recovered:@TOA#_a"}) {
		t.Errorf("after the end: %v, want only recovered", got)
	}
	if d := nextRepeat(oac, t0.Add(3*time.Hour)); d != 0 {
		t.Errorf("a repeat is still planned: %v", d)
	}
}

func TestPlanExhaustedOncePerExhaustion(t *testing.T) {
	oac := notifying(chatv1alpha1.NotifyTarget{Name: "ops", Type: chatv1alpha1.NotifySlack})
	markFull(oac, "@TOA#_a", t0)
	markFull(oac, "@TOA#_b", t0)
	setActive(oac, "")
	summarize(oac, findings{}, true, nil)
	planNotifications(oac, t0, nil, nil, nil)
	got := pendingKinds(oac.Status.Notifications[0])
	if !slices.Equal(got, []string{"full:@TOA#_a", "full:@TOA#_b", "exhausted:"}) {
		t.Fatalf("queued %v", got)
	}
	deliverAll(oac)
	planNotifications(oac, t0.Add(time.Minute), nil, nil, nil)
	if n := len(oac.Status.Notifications[0].Pending); n != 0 {
		t.Fatalf("exhaustion told twice")
	}
	// Room again, then exhausted again: a new exhaustion.
	setActive(oac, "@TOA#_a")
	summarize(oac, findings{}, true, nil)
	planNotifications(oac, t0.Add(2*time.Minute), nil, nil, nil)
	deliverAll(oac)
	meta.RemoveStatusCondition(&oac.Status.Conditions, chatv1alpha1.ConditionCapacityAvailable)
	meta.SetStatusCondition(&oac.Status.Conditions, metav1.Condition{Type: chatv1alpha1.ConditionCapacityAvailable, Status: metav1.ConditionFalse,
		Reason: chatv1alpha1.AllAccountsFullReason, LastTransitionTime: *ts(t0.Add(time.Hour))})
	planNotifications(oac, t0.Add(time.Hour), nil, nil, nil)
	if got := pendingKinds(oac.Status.Notifications[0]); !slices.Contains(got, "exhausted:") {
		t.Errorf("second exhaustion not told: %v", got)
	}
}

func TestPlanFollowsSpecAndBoundsTheQueue(t *testing.T) {
	oac := notifying(chatv1alpha1.NotifyTarget{Name: "ops", Type: chatv1alpha1.NotifySlack})
	oac.Status.Notifications = []chatv1alpha1.NotificationStatus{{Name: "gone", Failures: 3}, {Name: "ops", Failures: 2}}
	for i := range 30 {
		markFull(oac, "@TOA#_a", t0.Add(time.Duration(i)*time.Hour))
		planNotifications(oac, t0.Add(time.Duration(i)*time.Hour), nil, nil, nil)
	}
	if len(oac.Status.Notifications) != 1 || oac.Status.Notifications[0].Name != "ops" || oac.Status.Notifications[0].Failures != 2 {
		t.Fatalf("notifications = %+v, want only ops, its state kept", oac.Status.Notifications)
	}
	ns := oac.Status.Notifications[0]
	if len(ns.Pending) != maxPending || !strings.Contains(ns.Pending[maxPending-1].ID, itoa(t0.Add(29*time.Hour).UnixMilli())) {
		t.Errorf("queue holds %d, newest %q; want the %d newest", len(ns.Pending), ns.Pending[len(ns.Pending)-1].ID, maxPending)
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// The outcome of a delivery applies to a status read afresh after a conflict: by target
// name and message ID, not by position.
func TestApplyDeliveriesToAFreshStatus(t *testing.T) {
	oac := notifying(chatv1alpha1.NotifyTarget{Name: "ops"}, chatv1alpha1.NotifyTarget{Name: "hook"})
	oac.Status.Notifications = []chatv1alpha1.NotificationStatus{
		{Name: "hook", Failures: 2, Pending: []chatv1alpha1.PendingNotification{{ID: "h1"}}},
		{Name: "ops", Pending: []chatv1alpha1.PendingNotification{{ID: "new"}, {ID: "m1"}, {ID: "m2"}}},
	}
	applyDeliveries(oac, []delivery{
		{name: "ops", index: 0, sent: []string{"m1", "m2"}},
		{name: "hook", index: 1, err: &notify.Error{Permanent: true, Info: "HTTP 404"}, config: "fp"},
	}, t0)
	ops, hook := oac.Status.Notifications[1], oac.Status.Notifications[0]
	if len(ops.Pending) != 1 || ops.Pending[0].ID != "new" || ops.LastNotifiedEpisode != "m2" || !ops.LastSentTime.Equal(ts(t0)) {
		t.Errorf("ops after delivery: %+v", ops)
	}
	if hook.Failures != 3 || hook.BlockedConfig != "fp" || !strings.Contains(hook.LastError, "404") || len(hook.Pending) != 1 {
		t.Errorf("hook after a permanent failure: %+v", hook)
	}
}

// A raise in a later reconcile ends an episode the target was told of: recovered only,
// not its full message again.
func TestPlanDelayedRaiseIsNotAnnouncedTwice(t *testing.T) {
	oac := notifying(chatv1alpha1.NotifyTarget{Name: "ops", Type: chatv1alpha1.NotifySlack})
	markFull(oac, "@TOA#_a", t0)
	planNotifications(oac, t0, nil, nil, nil)
	deliverAll(oac)
	clearFull(oac.Status.Account("@TOA#_a"))
	planNotifications(oac, t0.Add(time.Minute), map[string]string{"@TOA#_a": "raised its limit from 100 to 150"},
		[]episodeStart{{account: "@TOA#_a", since: *ts(t0), action: "raised its limit from 100 to 150"}}, nil)
	ns := oac.Status.Notifications[0]
	if got := pendingKinds(ns); !slices.Equal(got, []string{"recovered:@TOA#_a"}) || ns.Pending[0].Action != "raised its limit from 100 to 150" {
		t.Errorf("queued %v %+v, want only recovered, saying the raise", got, ns.Pending)
	}
}

// A target told late (added to spec, or the operator was down) gets one repeat per
// interval from then on, not a burst to catch up.
func TestPlanRepeatsDoNotCatchUp(t *testing.T) {
	oac := notifying(chatv1alpha1.NotifyTarget{Name: "ops", Type: chatv1alpha1.NotifySlack, RepeatInterval: &metav1.Duration{Duration: time.Minute}})
	markFull(oac, "@TOA#_a", t0)
	now := t0.Add(3 * time.Hour)
	planNotifications(oac, now, nil, nil, nil)
	if got := pendingKinds(oac.Status.Notifications[0]); !slices.Equal(got, []string{"full:@TOA#_a"}) {
		t.Fatalf("queued %v, want the full message only", got)
	}
	deliverAll(oac)
	for _, at := range []time.Duration{time.Second, 30 * time.Second} {
		planNotifications(oac, now.Add(at), nil, nil, nil)
	}
	if n := len(oac.Status.Notifications[0].Pending); n != 0 {
		t.Fatalf("%d repeats queued within the first interval", n)
	}
	planNotifications(oac, now.Add(time.Minute), nil, nil, nil)
	planNotifications(oac, now.Add(time.Minute+time.Second), nil, nil, nil)
	if got := pendingKinds(oac.Status.Notifications[0]); !slices.Equal(got, []string{"repeat:@TOA#_a"}) {
		t.Errorf("queued %v, want one repeat", got)
	}
}

// The API's NotifyType and notify's target types are one set kept in two places (notify
// knows nothing of Kubernetes, so it cannot import the API): every type the apiserver
// admits must build a notifier, and every notifier type must be admitted. The enum is
// read from the generated CRD, which is what the apiserver enforces.
func TestNotifyTypesAreTheAPIEnum(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "config", "crd", "bases", "chat.oacapacity.io_officialaccountcapacities.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	var api []string
	for _, v := range crd.Spec.Versions {
		if v.Name != chatv1alpha1.GroupVersion.Version {
			continue
		}
		typ := v.Schema.OpenAPIV3Schema.Properties["spec"].Properties["notify"].Items.Schema.Properties["type"]
		for _, e := range typ.Enum {
			var s string
			if err := json.Unmarshal(e.Raw, &s); err != nil {
				t.Fatal(err)
			}
			api = append(api, s)
		}
	}
	slices.Sort(api)
	if want := notify.Types(); !slices.Equal(api, want) {
		t.Errorf("the API's NotifyType enum is %q; notify's target types are %q", api, want)
	}
	for _, typ := range []chatv1alpha1.NotifyType{chatv1alpha1.NotifySlack, chatv1alpha1.NotifyWeCom, chatv1alpha1.NotifyDingTalk,
		chatv1alpha1.NotifyFeishu, chatv1alpha1.NotifyWebhook, chatv1alpha1.NotifyChat} {
		if !slices.Contains(notify.Types(), string(typ)) {
			t.Errorf("the API's %q is no notify type", typ)
		}
	}
}
