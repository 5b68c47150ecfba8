package controllers

import (
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
)

var t0 = time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)

func ts(t time.Time) *metav1.Time { return &metav1.Time{Time: t} }

func mts(t time.Time) *metav1.MicroTime { return &metav1.MicroTime{Time: t} }

func i64(v int64) *int64 { return &v }

// pool is a resource with accounts a, b (spec) and the given status accounts.
func pool(onFull *chatv1alpha1.OnFullSpec, accounts ...chatv1alpha1.AccountStatus) *chatv1alpha1.OfficialAccountCapacity {
	oac := &chatv1alpha1.OfficialAccountCapacity{
		ObjectMeta: metav1.ObjectMeta{UID: "0a1b2c3d-0000-4000-8000-0123456789ab"},
		Spec:       chatv1alpha1.OfficialAccountCapacitySpec{SDKAppID: 1400000001, Accounts: []string{"@TOA#_a", "@TOA#_b"}, OnFull: onFull},
	}
	oac.Status.Accounts = accounts
	return oac
}

func TestSyncPool(t *testing.T) {
	oac := pool(nil,
		chatv1alpha1.AccountStatus{ID: "@TOA#_gone", Origin: chatv1alpha1.OriginSpec, Full: true},
		chatv1alpha1.AccountStatus{ID: "@TOA#_x", Origin: chatv1alpha1.OriginScaleOut, Full: true},
		chatv1alpha1.AccountStatus{ID: "@TOA#_b", Full: true, LastEventTime: 7, FullEvents: 2}, // written by the receiver
		chatv1alpha1.AccountStatus{ID: "@TOA#_stray"},                                          // no origin, not in spec
	)
	oac.Status.FullAccounts = 3
	syncPool(oac)
	var got []string
	for _, a := range oac.Status.Accounts {
		got = append(got, a.ID+":"+string(a.Origin))
	}
	want := []string{"@TOA#_a:Spec", "@TOA#_b:Spec", "@TOA#_x:ScaleOut"}
	if !slices.Equal(got, want) {
		t.Fatalf("accounts = %v, want %v", got, want)
	}
	if b := oac.Status.Account("@TOA#_b"); !b.Full || b.LastEventTime != 7 || b.FullEvents != 2 {
		t.Errorf("what the receiver recorded was lost: %+v", b)
	}
	if oac.Status.FullAccounts != 2 {
		t.Errorf("fullAccounts = %d, want 2", oac.Status.FullAccounts)
	}
	if p := oac.Pool(); !slices.Equal(p, []string{"@TOA#_a", "@TOA#_b", "@TOA#_x"}) {
		t.Errorf("pool = %v", p)
	}
}

func TestActiveAccount(t *testing.T) {
	full := func(id string) chatv1alpha1.AccountStatus { return chatv1alpha1.AccountStatus{ID: id, Full: true} }
	for _, tc := range []struct {
		name     string
		accounts []chatv1alpha1.AccountStatus
		want     string
	}{
		{"nothing recorded", nil, "@TOA#_a"},
		{"primary full", []chatv1alpha1.AccountStatus{full("@TOA#_a")}, "@TOA#_b"},
		{"spec full, created has room", []chatv1alpha1.AccountStatus{full("@TOA#_a"), full("@TOA#_b"),
			{ID: "@TOA#_x", Origin: chatv1alpha1.OriginScaleOut}}, "@TOA#_x"},
		{"created still being created", []chatv1alpha1.AccountStatus{full("@TOA#_a"), full("@TOA#_b"),
			{ID: "@TOA#_x", Origin: chatv1alpha1.OriginScaleOut, Creating: true}}, ""},
		{"all full", []chatv1alpha1.AccountStatus{full("@TOA#_a"), full("@TOA#_b")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := activeAccount(pool(nil, tc.accounts...)); got != tc.want {
				t.Errorf("activeAccount = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestObserve(t *testing.T) {
	event := t0.Add(-time.Minute).UnixMilli()
	for _, tc := range []struct {
		name      string
		before    chatv1alpha1.AccountStatus
		info      chatapi.AccountInfo
		at        time.Time
		want      chatv1alpha1.AccountStatus // ID, Full, SubscriberNum, MaxSubscriberNum compared
		filled    bool
		recovered bool
	}{
		{"limit from the answer", chatv1alpha1.AccountStatus{MaxSubscriberNum: 10},
			chatapi.AccountInfo{SubscriberNum: 5, MaxSubscriberNum: i64(200)}, t0,
			chatv1alpha1.AccountStatus{SubscriberNum: 5, MaxSubscriberNum: 200}, false, false},
		{"limit learned while full", chatv1alpha1.AccountStatus{Full: true, LastEventTime: event},
			chatapi.AccountInfo{SubscriberNum: 1000}, t0,
			chatv1alpha1.AccountStatus{Full: true, SubscriberNum: 1000, MaxSubscriberNum: 1000}, false, false},
		{"limit the operator set is kept while not full", chatv1alpha1.AccountStatus{MaxSubscriberNum: 150},
			chatapi.AccountInfo{SubscriberNum: 20}, t0,
			chatv1alpha1.AccountStatus{SubscriberNum: 20, MaxSubscriberNum: 150}, false, false},
		{"at the limit without a callback is full", chatv1alpha1.AccountStatus{MaxSubscriberNum: 100},
			chatapi.AccountInfo{SubscriberNum: 100}, t0,
			chatv1alpha1.AccountStatus{Full: true, SubscriberNum: 100, MaxSubscriberNum: 100}, true, false},
		{"unknown limit decides nothing", chatv1alpha1.AccountStatus{},
			chatapi.AccountInfo{SubscriberNum: 100000}, t0,
			chatv1alpha1.AccountStatus{SubscriberNum: 100000}, false, false},
		{"below the threshold after the event: cleared", chatv1alpha1.AccountStatus{Full: true, LastEventTime: event, MaxSubscriberNum: 100},
			chatapi.AccountInfo{SubscriberNum: 95}, t0,
			chatv1alpha1.AccountStatus{SubscriberNum: 95, MaxSubscriberNum: 100}, false, true},
		{"one under the limit is not enough", chatv1alpha1.AccountStatus{Full: true, LastEventTime: event, MaxSubscriberNum: 100},
			chatapi.AccountInfo{SubscriberNum: 96}, t0,
			chatv1alpha1.AccountStatus{Full: true, SubscriberNum: 96, MaxSubscriberNum: 100}, false, false},
		{"a reading older than the event clears nothing", chatv1alpha1.AccountStatus{Full: true, LastEventTime: event, MaxSubscriberNum: 100},
			chatapi.AccountInfo{SubscriberNum: 10}, t0.Add(-2 * time.Minute),
			chatv1alpha1.AccountStatus{Full: true, SubscriberNum: 10, MaxSubscriberNum: 100}, false, false},
		{"a per-account error changes nothing", chatv1alpha1.AccountStatus{Full: true, LastEventTime: event, MaxSubscriberNum: 100},
			chatapi.AccountInfo{SubscriberNum: 10, Err: &chatapi.APIError{Code: 130004}}, t0,
			chatv1alpha1.AccountStatus{Full: true, MaxSubscriberNum: 100}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.before.ID, tc.info.Account = "@TOA#_a", "@TOA#_a"
			oac := pool(nil, tc.before)
			obs := observe(oac, []chatapi.AccountInfo{tc.info}, tc.at)
			a := oac.Status.Account("@TOA#_a")
			if a.Full != tc.want.Full || a.SubscriberNum != tc.want.SubscriberNum || a.MaxSubscriberNum != tc.want.MaxSubscriberNum {
				t.Errorf("after reading: full=%v subscribers=%d limit=%d, want full=%v subscribers=%d limit=%d",
					a.Full, a.SubscriberNum, a.MaxSubscriberNum, tc.want.Full, tc.want.SubscriberNum, tc.want.MaxSubscriberNum)
			}
			if got := len(obs.filled) == 1; got != tc.filled {
				t.Errorf("filled = %v, want %v", obs.filled, tc.filled)
			}
			if got := len(obs.recovered) == 1; got != tc.recovered {
				t.Errorf("recovered = %v, want %v", obs.recovered, tc.recovered)
			}
			if tc.recovered && a.FullSince != nil {
				t.Errorf("fullSince kept after recovery: %v", a.FullSince)
			}
			if wantFull := tc.want.Full; (oac.Status.FullAccounts == 1) != wantFull {
				t.Errorf("fullAccounts = %d, want the account counted: %v", oac.Status.FullAccounts, wantFull)
			}
		})
	}
}

func TestObserveRecoveryThreshold(t *testing.T) {
	oac := pool(nil, chatv1alpha1.AccountStatus{ID: "@TOA#_a", Full: true, MaxSubscriberNum: 1000})
	oac.Spec.RecoveryThresholdPercent = 50
	observe(oac, []chatapi.AccountInfo{{Account: "@TOA#_a", SubscriberNum: 501}}, t0)
	if !oac.Status.Account("@TOA#_a").Full {
		t.Fatal("cleared above a 50% threshold")
	}
	observe(oac, []chatapi.AccountInfo{{Account: "@TOA#_a", SubscriberNum: 500}}, t0)
	if oac.Status.Account("@TOA#_a").Full {
		t.Fatal("not cleared at a 50% threshold")
	}
}

func TestObserveAdoptsOwnScaleOutAccounts(t *testing.T) {
	so := &chatv1alpha1.OnFullSpec{ScaleOut: &chatv1alpha1.ScaleOutSpec{MaxAccounts: 4, OwnerAccount: "admin", NamePrefix: "S", MaxSubscriberNum: 500}}
	oac := pool(so)
	ids := readIDs(oac)
	if len(ids) != 2+maxScaleOutIndex || ids[2] != scaleOutID(oac, 1) {
		t.Fatalf("first reading asks for %d IDs (%v...), want the pool and every scale-out ID", len(ids), ids[:3])
	}
	obs := observe(oac, []chatapi.AccountInfo{
		{Account: scaleOutID(oac, 1), Owner: "admin", SubscriberNum: 7},
		{Account: scaleOutID(oac, 2), Owner: "someone-else"},
		{Account: scaleOutID(oac, 3), Err: &chatapi.APIError{Code: 130004}},
	}, t0)
	if !slices.Equal(obs.adopted, []string{scaleOutID(oac, 1)}) {
		t.Fatalf("adopted %v, want only the account with the configured owner", obs.adopted)
	}
	a := oac.Status.Account(scaleOutID(oac, 1))
	if a.Origin != chatv1alpha1.OriginScaleOut || a.SubscriberNum != 7 || a.MaxSubscriberNum != 500 {
		t.Errorf("adopted account = %+v", a)
	}
	oac.Status.LastRecheckTime = ts(t0)
	if ids := readIDs(oac); len(ids) != 3 {
		t.Errorf("later readings ask for %v, want only the pool", ids)
	}
}

func TestRaises(t *testing.T) {
	event := t0.Add(-time.Minute).UnixMilli()
	read := mts(t0)
	rl := &chatv1alpha1.OnFullSpec{RaiseLimit: &chatv1alpha1.RaiseLimitSpec{Step: 50, Ceiling: 180}}
	for _, tc := range []struct {
		name   string
		onFull *chatv1alpha1.OnFullSpec
		a      chatv1alpha1.AccountStatus
		want   []raise
	}{
		{"by step", rl, chatv1alpha1.AccountStatus{Full: true, LastEventTime: event, ReadTime: read, MaxSubscriberNum: 100},
			[]raise{{"@TOA#_a", 150}}},
		{"capped at the ceiling", rl, chatv1alpha1.AccountStatus{Full: true, LastEventTime: event, ReadTime: read, MaxSubscriberNum: 150},
			[]raise{{"@TOA#_a", 180}}},
		{"at the ceiling", rl, chatv1alpha1.AccountStatus{Full: true, LastEventTime: event, ReadTime: read, MaxSubscriberNum: 180}, nil},
		{"above the ceiling", rl, chatv1alpha1.AccountStatus{Full: true, LastEventTime: event, ReadTime: read, MaxSubscriberNum: 900}, nil},
		{"not read since the event", rl, chatv1alpha1.AccountStatus{Full: true, LastEventTime: event, ReadTime: mts(t0.Add(-time.Hour)), MaxSubscriberNum: 100}, nil},
		{"limit unknown", rl, chatv1alpha1.AccountStatus{Full: true, LastEventTime: event, ReadTime: read}, nil},
		{"not full", rl, chatv1alpha1.AccountStatus{ReadTime: read, MaxSubscriberNum: 100}, nil},
		{"not configured", nil, chatv1alpha1.AccountStatus{Full: true, LastEventTime: event, ReadTime: read, MaxSubscriberNum: 100}, nil},
		{"a raise under way is set again, not raised further", rl,
			chatv1alpha1.AccountStatus{Full: true, LastEventTime: event, ReadTime: read, MaxSubscriberNum: 120, RaisingTo: 150},
			[]raise{{"@TOA#_a", 150}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.a.ID = "@TOA#_a"
			oac := pool(tc.onFull, tc.a)
			got := raises(oac)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("raises = %v, want %v", got, tc.want)
			}
			if len(got) == 1 {
				limitRaised(oac, got[0])
				if a := oac.Status.Account("@TOA#_a"); a.Full || a.MaxSubscriberNum != got[0].newLimit {
					t.Errorf("after the raise: %+v", a)
				}
			}
		})
	}
}

// A raise repeated after a crash does not clear an account that filled up again.
func TestLimitRaisedKeepsANewEpisode(t *testing.T) {
	for _, tc := range []struct {
		name string
		a    chatv1alpha1.AccountStatus
		full bool
	}{
		{"room", chatv1alpha1.AccountStatus{Full: true, LastEventTime: 1, ReadTime: mts(t0), SubscriberNum: 100, RaisingTo: 150}, false},
		{"newer callback", chatv1alpha1.AccountStatus{Full: true, LastEventTime: t0.Add(time.Hour).UnixMilli(), ReadTime: mts(t0), SubscriberNum: 100, RaisingTo: 150}, true},
		{"read at the new limit", chatv1alpha1.AccountStatus{Full: true, LastEventTime: 1, ReadTime: mts(t0), SubscriberNum: 150, RaisingTo: 150}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.a.ID = "@TOA#_a"
			oac := pool(nil, tc.a)
			limitRaised(oac, raise{"@TOA#_a", 150})
			a := oac.Status.Account("@TOA#_a")
			if a.Full != tc.full || a.MaxSubscriberNum != 150 || a.RaisingTo != 0 {
				t.Errorf("after the raise: %+v, want full=%v", a, tc.full)
			}
		})
	}
}

func TestNextScaleOut(t *testing.T) {
	so := func(max int32) *chatv1alpha1.OnFullSpec {
		return &chatv1alpha1.OnFullSpec{ScaleOut: &chatv1alpha1.ScaleOutSpec{MaxAccounts: max, OwnerAccount: "admin", NamePrefix: "Support"}}
	}
	if _, ok := nextScaleOut(pool(nil)); ok {
		t.Error("scale-out without onFull.scaleOut")
	}
	if _, ok := nextScaleOut(pool(so(2))); ok {
		t.Error("scale-out past maxAccounts")
	}
	oac := pool(so(4))
	id, ok := nextScaleOut(oac)
	if !ok || id != scaleOutID(oac, 1) {
		t.Fatalf("first scale-out = %q %v", id, ok)
	}
	oac.Status.Accounts = append(oac.Status.Accounts, chatv1alpha1.AccountStatus{ID: id, Origin: chatv1alpha1.OriginScaleOut, Creating: true})
	if _, ok := nextScaleOut(oac); ok {
		t.Error("a second creation while one is under way")
	}
	oac.Status.Accounts[0].Creating = false
	if id, ok := nextScaleOut(oac); !ok || id != scaleOutID(oac, 2) {
		t.Errorf("second scale-out = %q %v", id, ok)
	}
	if scaleOutIndex(oac, scaleOutID(oac, 2)) != 2 || scaleOutIndex(oac, "@TOA#_a") != 0 {
		t.Error("scaleOutIndex does not invert scaleOutID")
	}
	if got := scaleOutName(oac.Spec.OnFull.ScaleOut, 2); got != "Support 2" {
		t.Errorf("name = %q", got)
	}
}

func TestScaleOutIDIsValidAndStable(t *testing.T) {
	a := pool(nil)
	b := pool(nil)
	b.UID = "ffffffff-ffff-4fff-bfff-ffffffffffff"
	for _, oac := range []*chatv1alpha1.OfficialAccountCapacity{a, b} {
		for _, i := range []int{1, 9, maxScaleOutIndex} {
			id := scaleOutID(oac, i)
			if err := chatapi.ValidAccountID(id); err != nil {
				t.Errorf("scaleOutID(%d) = %q: %v", i, id, err)
			}
			if id != scaleOutID(oac.DeepCopy(), i) {
				t.Errorf("scaleOutID(%d) is not stable", i)
			}
		}
	}
	if scaleOutID(a, 1) == scaleOutID(b, 1) {
		t.Error("two resources get the same scale-out ID")
	}
	if !strings.HasPrefix(scaleOutID(a, 1), "@TOA#_oac-0a1b2c3d00004000800001234567") {
		t.Errorf("ID %q does not carry the UID", scaleOutID(a, 1))
	}
}

func TestClearByHand(t *testing.T) {
	oac := pool(nil, chatv1alpha1.AccountStatus{ID: "@TOA#_a", Full: true, FullSince: ts(t0)}, chatv1alpha1.AccountStatus{ID: "@TOA#_b"})
	oac.Status.FullAccounts = 1
	cleared, unknown := clearByHand(oac, " @TOA#_a, @TOA#_b,,@TOA#_nope")
	if !slices.Equal(cleared, []string{"@TOA#_a"}) || !slices.Equal(unknown, []string{"@TOA#_nope"}) {
		t.Fatalf("cleared %v unknown %v", cleared, unknown)
	}
	if a := oac.Status.Account("@TOA#_a"); a.Full || a.FullSince != nil || oac.Status.FullAccounts != 0 {
		t.Errorf("after clearing: %+v, fullAccounts %d", a, oac.Status.FullAccounts)
	}
}

func TestReadingDue(t *testing.T) {
	interval := &metav1.Duration{Duration: time.Minute}
	for _, tc := range []struct {
		name   string
		mutate func(*chatv1alpha1.OfficialAccountCapacity)
		due    bool
		urgent bool // a decision waits for it: read at once, not batched
	}{
		{"never read", func(o *chatv1alpha1.OfficialAccountCapacity) { o.Status.LastRecheckTime = nil }, true, true},
		{"read just now", func(*chatv1alpha1.OfficialAccountCapacity) {}, false, false},
		{"interval passed", func(o *chatv1alpha1.OfficialAccountCapacity) { o.Status.LastRecheckTime = ts(t0.Add(-time.Minute)) }, true, false},
		{"new requested-at", func(o *chatv1alpha1.OfficialAccountCapacity) {
			o.Annotations = map[string]string{chatv1alpha1.RequestedAtAnnotation: "now"}
		}, true, true},
		{"requested-at handled", func(o *chatv1alpha1.OfficialAccountCapacity) {
			o.Annotations = map[string]string{chatv1alpha1.RequestedAtAnnotation: "now"}
			o.Status.LastHandledRequestedAt = "now"
		}, false, false},
		{"full event after the last reading", func(o *chatv1alpha1.OfficialAccountCapacity) {
			o.Status.Accounts[0].Full, o.Status.Accounts[0].LastEventTime = true, t0.Add(time.Second).UnixMilli()
		}, true, true},
		{"full event before the last reading", func(o *chatv1alpha1.OfficialAccountCapacity) {
			o.Status.Accounts[0].Full, o.Status.Accounts[0].LastEventTime = true, t0.Add(-time.Second).UnixMilli()
		}, false, false},
		{"creation under way", func(o *chatv1alpha1.OfficialAccountCapacity) { o.Status.Accounts[0].Creating = true }, true, true},
		{"raise under way", func(o *chatv1alpha1.OfficialAccountCapacity) { o.Status.Accounts[0].RaisingTo = 150 }, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oac := pool(nil, chatv1alpha1.AccountStatus{ID: "@TOA#_a", ReadTime: mts(t0)})
			oac.Spec.RecheckInterval = interval
			oac.Status.LastRecheckTime = ts(t0)
			tc.mutate(oac)
			if got := readingDue(oac, t0.Add(time.Second)); got != tc.due {
				t.Errorf("readingDue = %v, want %v", got, tc.due)
			}
			if got := readingUrgent(oac); got != tc.urgent {
				t.Errorf("readingUrgent = %v, want %v", got, tc.urgent)
			}
		})
	}
}

func TestNextReading(t *testing.T) {
	oac := pool(nil, chatv1alpha1.AccountStatus{ID: "@TOA#_a", ReadTime: mts(t0)})
	oac.Spec.RecheckInterval = &metav1.Duration{Duration: time.Minute}
	oac.Status.LastRecheckTime = ts(t0)
	if got := nextReading(oac, t0); !got.Equal(t0.Add(time.Minute)) {
		t.Errorf("next reading = %v, want the recheck", got)
	}
	// An event stamped by a clock 20 s ahead of ours: read again just after it.
	oac.Status.Accounts[0].Full, oac.Status.Accounts[0].LastEventTime = true, t0.Add(20*time.Second).UnixMilli()
	if got, want := nextReading(oac, t0), t0.Add(20*time.Second+time.Millisecond); !got.Equal(want) {
		t.Errorf("next reading = %v, want %v", got, want)
	}
}
