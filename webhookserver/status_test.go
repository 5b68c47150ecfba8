package webhookserver

import (
	"slices"
	"testing"
	"time"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
)

func TestApplyFullEvents(t *testing.T) {
	oac := &chatv1alpha1.OfficialAccountCapacity{Spec: chatv1alpha1.OfficialAccountCapacitySpec{
		Accounts: []string{"@TOA#_a", "@TOA#_b"},
	}}
	const t0 = int64(1670574414123)

	if got := applyFullEvents(oac, []fullEvent{{"@TOA#_a", t0}}); !slices.Equal(got, []bool{true}) {
		t.Fatal("first event changed nothing")
	}
	a := oac.Status.Accounts[0]
	if a.ID != "@TOA#_a" || a.Origin != "" || !a.Full || a.LastEventTime != t0 || a.FullEvents != 1 ||
		!a.FullSince.Time.Equal(time.UnixMilli(t0)) {
		t.Fatalf("after first event: %+v", a)
	}
	if oac.Status.FullAccounts != 1 || !oac.Status.LastFullTime.Time.Equal(time.UnixMilli(t0)) {
		t.Fatalf("summary after first event: %+v", oac.Status)
	}

	// The same event, and an older one, change nothing.
	if got := applyFullEvents(oac, []fullEvent{{"@TOA#_a", t0}, {"@TOA#_a", t0 - 1000}}); !slices.Equal(got, []bool{false, false}) {
		t.Fatal("duplicate or older event changed status")
	}

	// A newer event moves lastEventTime on and counts, but fullSince stays.
	if got := applyFullEvents(oac, []fullEvent{{"@TOA#_a", t0 + 5000}, {"@TOA#_b", t0 + 1}, {"@TOA#_a", t0 + 4000}}); !slices.Equal(got, []bool{true, true, false}) {
		t.Fatal("newer events changed nothing")
	}
	a = oac.Status.Accounts[0]
	if a.LastEventTime != t0+5000 || a.FullEvents != 2 || !a.FullSince.Time.Equal(time.UnixMilli(t0)) {
		t.Fatalf("after newer event: %+v", a)
	}
	if oac.Status.FullAccounts != 2 || !oac.Status.LastFullTime.Time.Equal(time.UnixMilli(t0+5000)) {
		t.Fatalf("summary after newer events: %+v", oac.Status)
	}

	// After the controller clears an episode, the next event starts a new one.
	oac.Status.Accounts[0].Full = false
	if got := applyFullEvents(oac, []fullEvent{{"@TOA#_a", t0 + 9000}}); !slices.Equal(got, []bool{true}) {
		t.Fatal("event of a new episode changed nothing")
	}
	if a := oac.Status.Accounts[0]; !a.FullSince.Time.Equal(time.UnixMilli(t0+9000)) || a.FullEvents != 3 {
		t.Fatalf("new episode: %+v", a)
	}
}
