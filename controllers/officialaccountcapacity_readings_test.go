package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi/chatapitest"
)

// stored is a pool of two accounts as stored after a reading at t0: a at 500 of 1000,
// b at 0 of 1000.
func stored() *chatv1alpha1.OfficialAccountCapacity {
	oac := pool(nil,
		chatv1alpha1.AccountStatus{ID: "@TOA#_a", SubscriberNum: 500, MaxSubscriberNum: 1000, ReadTime: mts(t0)},
		chatv1alpha1.AccountStatus{ID: "@TOA#_b", MaxSubscriberNum: 1000, ReadTime: mts(t0)},
	)
	oac.Spec.RecheckInterval = &metav1.Duration{Duration: time.Minute}
	oac.Status.LastRecheckTime = ts(t0)
	return oac
}

// read is base read again at `at`, with a's count set to n.
func read(base *chatv1alpha1.OfficialAccountCapacity, at time.Time, n int64) *chatv1alpha1.OfficialAccountCapacity {
	oac := base.DeepCopy()
	oac.Status.LastRecheckTime = ts(at)
	for i := range oac.Status.Accounts {
		oac.Status.Accounts[i].ReadTime = mts(at)
	}
	oac.Status.Accounts[0].SubscriberNum = n
	return oac
}

func TestQuietReadings(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(base, oac *chatv1alpha1.OfficialAccountCapacity)
		write  bool
	}{
		{"the same count", func(_, o *chatv1alpha1.OfficialAccountCapacity) {}, false},
		{"a move under 1% of the limit", func(_, o *chatv1alpha1.OfficialAccountCapacity) { o.Status.Accounts[0].SubscriberNum = 509 }, false},
		{"a move of 1% of the limit", func(_, o *chatv1alpha1.OfficialAccountCapacity) { o.Status.Accounts[0].SubscriberNum = 510 }, true},
		{"a fall of 1%", func(_, o *chatv1alpha1.OfficialAccountCapacity) { o.Status.Accounts[0].SubscriberNum = 490 }, true},
		{"with a decision", func(_, o *chatv1alpha1.OfficialAccountCapacity) { o.Status.ActiveAccount = "@TOA#_b" }, true},
		{"a requested recheck acknowledged", func(_, o *chatv1alpha1.OfficialAccountCapacity) { o.Status.LastHandledRequestedAt = "1" }, true},
		{"the stored reading is stale", func(b, o *chatv1alpha1.OfficialAccountCapacity) { b.Status.LastRecheckTime = ts(t0.Add(-time.Hour)) }, true},
		{"never stored", func(b, o *chatv1alpha1.OfficialAccountCapacity) { b.Status.LastRecheckTime = nil }, true},
		{"an account's first reading", func(b, o *chatv1alpha1.OfficialAccountCapacity) { b.Status.Accounts[1].ReadTime = nil }, true},
		{"the first reading after a full callback", func(b, o *chatv1alpha1.OfficialAccountCapacity) {
			for _, st := range []*chatv1alpha1.OfficialAccountCapacityStatus{&b.Status, &o.Status} {
				st.Accounts[0].Full, st.Accounts[0].LastEventTime = true, t0.Add(time.Second).UnixMilli()
			}
		}, true},
		{"a later reading of a full account", func(b, o *chatv1alpha1.OfficialAccountCapacity) {
			for _, st := range []*chatv1alpha1.OfficialAccountCapacityStatus{&b.Status, &o.Status} {
				st.Accounts[0].Full, st.Accounts[0].LastEventTime = true, t0.Add(-time.Second).UnixMilli()
			}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := stored()
			oac := read(base, t0.Add(time.Minute), 500)
			tc.change(base, oac)
			want := oac.DeepCopy()
			out := quietReadings(base, oac, t0.Add(time.Minute))
			if wrote := !equalStatus(out, base); wrote != tc.write {
				t.Fatalf("status written = %v, want %v", wrote, tc.write)
			}
			if tc.write && !equalStatus(out, want) {
				t.Errorf("written status lacks the reading:\n%s\nwant\n%s", dumpStatus(out), dumpStatus(want))
			}
			if !equalStatus(oac, want) {
				t.Error("quietReadings changed the status it was given")
			}
		})
	}
}

func TestOverlayPutsBackTheReadingsLeftOut(t *testing.T) {
	rd := newReadings(time.Millisecond, time.Now)
	base := stored()
	base.Name, base.Namespace = "pool", "chat"
	oac := read(base, t0.Add(time.Minute), 505)
	rd.remember(oac)

	cached := base.DeepCopy() // what the next reconcile reads: the stored status
	rd.overlay(cached)
	if !equalStatus(cached, oac) {
		t.Fatalf("overlay =\n%s\nwant\n%s", dumpStatus(cached), dumpStatus(oac))
	}
	// A newer stored reading (from another replica's term as leader, say) wins.
	newer := read(base, t0.Add(2*time.Minute), 600)
	rd.overlay(newer)
	if a := newer.Status.Accounts[0]; a.SubscriberNum != 600 || !a.ReadTime.Equal(mts(t0.Add(2*time.Minute))) {
		t.Errorf("a newer stored reading was overwritten: %+v", a)
	}
	// A resource of the same name made anew starts from nothing.
	recreated := base.DeepCopy()
	recreated.UID = "another"
	rd.overlay(recreated)
	if !equalStatus(recreated, base) {
		t.Error("the readings of a deleted resource were put into its successor")
	}
}

func equalStatus(a, b *chatv1alpha1.OfficialAccountCapacity) bool {
	return dumpStatus(a) == dumpStatus(b)
}

func dumpStatus(o *chatv1alpha1.OfficialAccountCapacity) string {
	raw, err := json.Marshal(o.Status)
	if err != nil {
		panic(err)
	}
	return string(raw)
}

// The rechecks of 20 pools of 3 accounts that fall due together cost 2 calls, not
// 20: 16 pools (48 accounts) in the first, 4 in the second, none split.
func TestReadingsShareCalls(t *testing.T) {
	srv := chatapitest.NewServer(t, 1400000001, "administrator", "secret-key")
	api, err := chatapi.New(srv.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	const pools = 20
	ids := map[types.NamespacedName][]string{}
	for p := range pools {
		key := types.NamespacedName{Namespace: "chat", Name: fmt.Sprintf("pool-%d", p)}
		for a := range 3 {
			id := fmt.Sprintf("@TOA#_p%d_%d", p, a)
			srv.AddAccount(chatapitest.Account{ID: id, Owner: "admin", MaxSubscriberNum: 1000})
			srv.SetSubscriberNum(id, int64(10*p+a))
			ids[key] = append(ids[key], id)
		}
	}
	rd := newReadings(50*time.Millisecond, time.Now)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- rd.Start(ctx) }()
	defer func() { cancel(); <-stopped }() //nolint:errcheck // waits for the stop; the test checked what it needs

	for key, accounts := range ids {
		rd.ask(key, api, accounts)
		rd.ask(key, api, accounts) // asked twice, read once
	}
	got := map[types.NamespacedName]bool{}
	timeout := time.After(30 * time.Second)
	for len(got) < pools {
		select {
		case e := <-rd.ready:
			got[e.Object] = true
		case <-timeout:
			t.Fatalf("%d of %d pools got their answer", len(got), pools)
		}
	}
	if n := srv.Calls(chatapi.CommandGetOfficialAccountInfo); n != 2 {
		t.Errorf("%d calls for %d pools of 3 accounts, want 2", n, pools)
	}
	for key, accounts := range ids {
		ans, ok := rd.answer(key)
		if !ok || ans.err != nil || len(ans.infos) != 3 {
			t.Fatalf("answer of %s: %+v", key, ans)
		}
		for i, info := range ans.infos {
			if info.Account != accounts[i] {
				t.Errorf("%s got the reading of %s, want %s", key, info.Account, accounts[i])
			}
			if a, _ := srv.Account(info.Account); info.SubscriberNum != a.SubscriberNum {
				t.Errorf("%s: %d subscribers, want %d", info.Account, info.SubscriberNum, a.SubscriberNum)
			}
		}
		rd.applied(key, ans.at)
		if _, ok := rd.answer(key); ok {
			t.Errorf("the answer of %s is kept once applied", key)
		}
	}
}
