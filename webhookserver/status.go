package webhookserver

import (
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
)

// fullEvent is one "account full" fact: account and EventTime in Unix milliseconds.
type fullEvent struct {
	Account   string
	EventTime int64
}

// recorded reports whether status already holds ev. An event is new only when it is
// newer than the account's lastEventTime; an equal or older one is a re-delivery (or
// arrived after a newer one) and changes nothing, so lastEventTime never moves back
// and the same (app, account, EventTime) is written once.
func recorded(status *chatv1alpha1.OfficialAccountCapacityStatus, ev fullEvent) bool {
	for i := range status.Accounts {
		if status.Accounts[i].ID == ev.Account {
			return status.Accounts[i].LastEventTime >= ev.EventTime
		}
	}
	return false
}

// applyFullEvents writes events into the status of oac and reports which of them
// changed it. It records facts only; what to do about them is the controller's
// decision.
func applyFullEvents(oac *chatv1alpha1.OfficialAccountCapacity, events []fullEvent) (applied []bool) {
	st := &oac.Status
	applied = make([]bool, len(events))
	changed := false
	for n, ev := range events {
		if recorded(st, ev) {
			continue
		}
		applied[n] = true
		i := slices.IndexFunc(st.Accounts, func(a chatv1alpha1.AccountStatus) bool { return a.ID == ev.Account })
		if i < 0 {
			origin := chatv1alpha1.OriginScaleOut
			if slices.Contains(oac.Spec.Accounts, ev.Account) {
				origin = chatv1alpha1.OriginSpec
			}
			st.Accounts = append(st.Accounts, chatv1alpha1.AccountStatus{ID: ev.Account, Origin: origin})
			i = len(st.Accounts) - 1
		}
		a := &st.Accounts[i]
		at := metav1.NewTime(time.UnixMilli(ev.EventTime).UTC())
		if !a.Full {
			a.Full = true
			a.FullSince = &at
		}
		a.LastEventTime = ev.EventTime
		a.FullEvents++
		if st.LastFullTime == nil || st.LastFullTime.Before(&at) {
			st.LastFullTime = &at
		}
		changed = true
	}
	if changed {
		st.FullAccounts = 0
		for _, a := range st.Accounts {
			if a.Full {
				st.FullAccounts++
			}
		}
	}
	return applied
}

// anyTrue reports whether one of bs is true.
func anyTrue(bs []bool) bool {
	return slices.Contains(bs, true)
}
