package webhookserver

import (
	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
)

// fullEvent is one "account full" fact: account and EventTime in Unix milliseconds.
type fullEvent struct {
	Account   string
	EventTime int64
}

// applyFullEvents writes events into the status of oac and reports which of them
// changed it. It records facts only (chatv1alpha1's shared rules); what to do about
// them, and the origin of an account, is the controller's decision.
func applyFullEvents(oac *chatv1alpha1.OfficialAccountCapacity, events []fullEvent) (applied []bool) {
	applied = make([]bool, len(events))
	for n, ev := range events {
		applied[n] = oac.Status.RecordFull(ev.Account, ev.EventTime)
	}
	return applied
}
