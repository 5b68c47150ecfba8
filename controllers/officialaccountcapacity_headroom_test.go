package controllers

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
)

// withHeadroom is a pool of a and b (limits 1000, known) with headroom at 90% and the
// given lead time.
func withHeadroom(lead time.Duration, onFull *chatv1alpha1.OnFullSpec) *chatv1alpha1.OfficialAccountCapacity {
	oac := pool(onFull,
		chatv1alpha1.AccountStatus{ID: "@TOA#_a", MaxSubscriberNum: 1000, LimitSource: chatv1alpha1.LimitFromOperator},
		chatv1alpha1.AccountStatus{ID: "@TOA#_b", MaxSubscriberNum: 1000, LimitSource: chatv1alpha1.LimitFromOperator},
	)
	oac.Spec.Headroom = &chatv1alpha1.HeadroomSpec{ThresholdPercent: 90, MinReadInterval: &metav1.Duration{Duration: 15 * time.Second}}
	if lead > 0 {
		oac.Spec.Headroom.LeadTime = &metav1.Duration{Duration: lead}
	}
	oac.Spec.RecheckInterval = &metav1.Duration{Duration: 10 * time.Minute}
	return oac
}

// readAt folds a reading of a's count n at `at` into status, as the reconciler does.
func readAt(oac *chatv1alpha1.OfficialAccountCapacity, at time.Time, counts map[string]int64) observation {
	var infos []chatapi.AccountInfo
	for _, id := range oac.Pool() {
		if n, ok := counts[id]; ok {
			infos = append(infos, chatapi.AccountInfo{Account: id, SubscriberNum: n})
		}
	}
	return observe(oac, infos, at)
}

func TestFillRate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		counts []int64          // readings a minute apart
		want   func(int64) bool // of the last rate (per hour)
		desc   string
	}{
		{"steady", []int64{0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000}, func(r int64) bool { return r > 5000 && r <= 6000 }, "near 6000/h"},
		{"flat", []int64{500, 500, 500, 500}, func(r int64) bool { return r == 0 }, "0"},
		{"falling", []int64{500, 400, 300, 200}, func(r int64) bool { return r < 0 }, "negative"},
		{"one burst", []int64{0, 0, 0, 0, 0, 300, 300, 300}, func(r int64) bool { return r > 0 && r < 18000/3 }, "damped, under a third of the burst's pace"},
		{"one burst first", []int64{0, 300, 300, 300, 300, 300, 300, 300}, func(r int64) bool { return r >= 0 && r < 18000/3 }, "damped after the first pace"},
		{"a new pace", []int64{0, 10, 20, 30, 130, 230, 330, 430, 530, 630}, func(r int64) bool { return r > 4000 }, "over 4000/h within 6 minutes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rate *int64
			for i := 1; i < len(tc.counts); i++ {
				r := fillRate(rate, tc.counts[i-1], t0.Add(time.Duration(i-1)*time.Minute), tc.counts[i], t0.Add(time.Duration(i)*time.Minute))
				rate = &r
			}
			if !tc.want(*rate) {
				t.Errorf("rate = %d/h, want %s", *rate, tc.desc)
			}
		})
	}
	if r := fillRate(i64(42), 0, t0, 100, t0); r != 42 {
		t.Errorf("a reading at the same time changed the rate to %d", r)
	}
	if r := fillRate(nil, 100, t0, 160, t0.Add(time.Minute)); r != 3600 {
		t.Errorf("first rate = %d/h, want the pace of its two readings, 3600", r)
	}
}

func TestNearlyFull(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lead  time.Duration
		a     chatv1alpha1.AccountStatus
		limit int64 // spec.headroom.defaultLimit
		want  bool
	}{
		{"under the threshold", 0, chatv1alpha1.AccountStatus{SubscriberNum: 899, MaxSubscriberNum: 1000}, 0, false},
		{"at the threshold", 0, chatv1alpha1.AccountStatus{SubscriberNum: 900, MaxSubscriberNum: 1000}, 0, true},
		{"full is not nearly full", 0, chatv1alpha1.AccountStatus{SubscriberNum: 1000, MaxSubscriberNum: 1000, Full: true}, 0, false},
		{"predicted full within the lead time", 30 * time.Minute, chatv1alpha1.AccountStatus{SubscriberNum: 500, MaxSubscriberNum: 1000, FillRate: i64(1200)}, 0, true},
		{"predicted full after the lead time", 20 * time.Minute, chatv1alpha1.AccountStatus{SubscriberNum: 500, MaxSubscriberNum: 1000, FillRate: i64(1200)}, 0, false},
		{"falling, no prediction", 20 * time.Minute, chatv1alpha1.AccountStatus{SubscriberNum: 500, MaxSubscriberNum: 1000, FillRate: i64(-1200)}, 0, false},
		{"hysteresis: stays under the threshold", 0, chatv1alpha1.AccountStatus{SubscriberNum: 860, MaxSubscriberNum: 1000, NearlyFull: true}, 0, true},
		{"hysteresis: leaves below 95% of it", 0, chatv1alpha1.AccountStatus{SubscriberNum: 855, MaxSubscriberNum: 1000, NearlyFull: true}, 0, false},
		{"unknown limit: the default", 0, chatv1alpha1.AccountStatus{SubscriberNum: 90000}, 0, true},
		{"unknown limit: a configured default", 0, chatv1alpha1.AccountStatus{SubscriberNum: 90000}, 200000, false},
		{"never read", 0, chatv1alpha1.AccountStatus{MaxSubscriberNum: 1000}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oac := withHeadroom(tc.lead, nil)
			oac.Spec.Headroom.DefaultLimit = tc.limit
			a := tc.a
			if tc.name != "never read" {
				a.ReadTime = mts(t0)
			}
			if got := nearlyFull(oac, &a); got != tc.want {
				t.Errorf("nearlyFull = %v, want %v", got, tc.want)
			}
		})
	}
	oac := pool(nil)
	if nearlyFull(oac, &chatv1alpha1.AccountStatus{SubscriberNum: 1000, MaxSubscriberNum: 1000, ReadTime: mts(t0)}) {
		t.Error("nearly full without spec.headroom")
	}
}

// A steadily filling pool: the primary becomes nearly full at 90%, new subscribers go
// to b before a is full, and a is not marked full.
func TestHeadroomFailsOverAhead(t *testing.T) {
	oac := withHeadroom(0, nil)
	readAt(oac, t0, map[string]int64{"@TOA#_a": 0, "@TOA#_b": 850})
	for i, n := range []int64{300, 600, 850} {
		obs := readAt(oac, t0.Add(time.Duration(i+1)*time.Minute), map[string]int64{"@TOA#_a": n, "@TOA#_b": 0})
		if len(obs.nearlyFull) != 0 || activeAccount(oac) != "@TOA#_a" {
			t.Fatalf("at %d: nearly full %v, active %s", n, obs.nearlyFull, activeAccount(oac))
		}
	}
	at := t0.Add(4 * time.Minute)
	obs := readAt(oac, at, map[string]int64{"@TOA#_a": 910, "@TOA#_b": 0})
	a := oac.Status.Account("@TOA#_a")
	if !slices.Equal(obs.nearlyFull, []string{"@TOA#_a"}) || !a.NearlyFull || !a.NearlyFullSince.Equal(ts(at)) || a.Full {
		t.Fatalf("after 910 of 1000: %v, %+v", obs.nearlyFull, a)
	}
	if got := activeAccount(oac); got != "@TOA#_b" {
		t.Errorf("active = %s, want b", got)
	}
	if got := usedShare(oac, a); got != "91%" {
		t.Errorf("used = %q", got)
	}
	if a.PredictedFullTime == nil || a.PredictedFullTime.Time.Before(at) || a.PredictedFullTime.After(at.Add(2*time.Minute)) {
		t.Errorf("predicted full at %v, want within 2 minutes of %v", a.PredictedFullTime, at)
	}
	if note := nearlyFullNote(oac, a, at); note != "at 91% of its limit (full in under a minute)" {
		t.Errorf("note %q", note)
	}
	if !roomLeft(oac) {
		t.Error("scale-out wanted while b has headroom")
	}
	// The same state again begins no new episode; b nearly full too: none has headroom,
	// a still has room.
	obs = readAt(oac, at.Add(time.Minute), map[string]int64{"@TOA#_a": 915, "@TOA#_b": 950})
	if !slices.Equal(obs.nearlyFull, []string{"@TOA#_b"}) || roomLeft(oac) || activeAccount(oac) != "@TOA#_a" {
		t.Errorf("both nearly full: new %v, room left %v, active %s", obs.nearlyFull, roomLeft(oac), activeAccount(oac))
	}
}

// With raiseLimit, a nearly full account's known limit is raised; an assumed one never.
func TestHeadroomRaisesKnownLimitsOnly(t *testing.T) {
	oac := withHeadroom(0, &chatv1alpha1.OnFullSpec{RaiseLimit: &chatv1alpha1.RaiseLimitSpec{Step: 500, Ceiling: 1200}})
	oac.Status.Accounts[1].MaxSubscriberNum, oac.Status.Accounts[1].LimitSource = 0, ""
	syncPool(oac)
	if src := oac.Status.Account("@TOA#_b").LimitSource; src != chatv1alpha1.LimitDefault {
		t.Fatalf("limit source of an unknown limit = %q, want Default", src)
	}
	readAt(oac, t0, map[string]int64{"@TOA#_a": 950, "@TOA#_b": 95000})
	got := raises(oac)
	if len(got) != 1 || got[0] != (raise{"@TOA#_a", 1200}) {
		t.Fatalf("raises = %+v, want a to the ceiling 1200 only", got)
	}
	// As many steps as give headroom again: 950 is over 95% of 90% of 1100, under
	// that of 1200.
	steps := oac.DeepCopy()
	steps.Spec.OnFull.RaiseLimit = &chatv1alpha1.RaiseLimitSpec{Step: 100, Ceiling: 5000}
	if got := raises(steps); len(got) != 1 || got[0] != (raise{"@TOA#_a", 1200}) {
		t.Errorf("raises by steps of 100 = %+v, want a to 1200", got)
	}
	limitRaised(oac, got[0])
	a := oac.Status.Account("@TOA#_a")
	if a.NearlyFull || a.NearlyFullSince != nil || a.MaxSubscriberNum != 1200 || a.LimitSource != chatv1alpha1.LimitFromOperator {
		t.Errorf("after the raise: %+v", a)
	}
	if activeAccount(oac) != "@TOA#_a" {
		t.Errorf("active = %s, want a: it has headroom again", activeAccount(oac))
	}
	// At the ceiling, nearly full again: nothing more to raise.
	readAt(oac, t0.Add(time.Minute), map[string]int64{"@TOA#_a": 1100, "@TOA#_b": 95000})
	if got := raises(oac); len(got) != 0 {
		t.Errorf("raised past the ceiling: %+v", got)
	}
}

func TestReadIntervalFollowsTheFill(t *testing.T) {
	oac := withHeadroom(0, nil)
	if got := readInterval(oac); got != 10*time.Minute {
		t.Errorf("unread pool: %v, want the recheck interval", got)
	}
	readAt(oac, t0, map[string]int64{"@TOA#_a": 0, "@TOA#_b": 850})
	if got := readInterval(oac); got != 15*time.Second {
		t.Errorf("read once: %v, want minReadInterval, to learn the fill rates", got)
	}
	for i, want := range []struct{ n int64 }{{100}, {400}, {700}, {850}} {
		readAt(oac, t0.Add(time.Duration(i+1)*time.Minute), map[string]int64{"@TOA#_a": want.n, "@TOA#_b": 850})
	}
	a := oac.Status.Account("@TOA#_a")
	d := readInterval(oac)
	toThreshold, _ := timeTo(a.SubscriberNum, 900, *a.FillRate)
	if d < 15*time.Second || d > toThreshold {
		t.Errorf("read again in %v; the threshold is %v away (rate %d/h)", d, toThreshold, *a.FillRate)
	}
	// a is nearly full: b, active now, fills at the pool's rate once the app has moved
	// to it, though it does not grow yet.
	readAt(oac, t0.Add(5*time.Minute), map[string]int64{"@TOA#_a": 950, "@TOA#_b": 850})
	oac.Status.ActiveAccount = activeAccount(oac)
	if oac.Status.ActiveAccount != "@TOA#_b" || *oac.Status.Account("@TOA#_b").FillRate != 0 {
		t.Fatalf("active %s, b %+v", oac.Status.ActiveAccount, oac.Status.Account("@TOA#_b"))
	}
	rate := *oac.Status.Account("@TOA#_a").FillRate
	if d, want := readInterval(oac), time.Duration(float64(900-850)/float64(rate)*float64(time.Hour))/2; d != max(want, 15*time.Second) {
		t.Errorf("b 50 from its threshold, the pool gaining %d/h: read again in %v, want %v", rate, d, want)
	}
	// Nothing grows: back to the recheck interval.
	readAt(oac, t0.Add(6*time.Minute), map[string]int64{"@TOA#_a": 950, "@TOA#_b": 850})
	readAt(oac, t0.Add(60*time.Minute), map[string]int64{"@TOA#_a": 950, "@TOA#_b": 850})
	readAt(oac, t0.Add(120*time.Minute), map[string]int64{"@TOA#_a": 950, "@TOA#_b": 850})
	if got := readInterval(oac); got != 10*time.Minute {
		t.Errorf("after nothing grows for two hours: %v, want the recheck interval", got)
	}
	oac.Status.Account("@TOA#_b").FillRate, oac.Status.Account("@TOA#_b").SubscriberNum = i64(1e6), 899
	if got := readInterval(oac); got != 15*time.Second {
		t.Errorf("b next to its threshold: %v, want minReadInterval", got)
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{40 * time.Minute: "40m", 3*time.Hour + 20*time.Minute: "3h20m", 2 * time.Hour: "2h"} {
		if got := shortDuration(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}
