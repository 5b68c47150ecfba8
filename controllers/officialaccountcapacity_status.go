package controllers

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
)

// Status setters: no side effects, so they are tested without a cluster.

// setReady sets the Ready condition.
func setReady(oac *chatv1alpha1.OfficialAccountCapacity, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&oac.Status.Conditions, metav1.Condition{
		Type: chatv1alpha1.ConditionReady, Status: status, Reason: reason, Message: message,
		ObservedGeneration: oac.Generation,
	})
}

// setActive sets status.activeAccount and the CapacityAvailable condition from the
// account new subscribers should use ("" when none has room). It returns the events
// the change is worth: ActiveAccountChanged, CapacityExhausted.
func setActive(oac *chatv1alpha1.OfficialAccountCapacity, active string) []event {
	st := &oac.Status
	var evs []event
	if active != st.ActiveAccount && active != "" {
		msg := fmt.Sprintf("new subscribers now go to %s", active)
		if st.ActiveAccount != "" {
			msg = fmt.Sprintf("new subscribers now go to %s instead of %s", active, st.ActiveAccount)
		}
		evs = append(evs, event{normal, chatv1alpha1.ActiveAccountChangedEvent, "Failover to " + active, msg})
	}
	wasAvailable := !meta.IsStatusConditionFalse(st.Conditions, chatv1alpha1.ConditionCapacityAvailable)
	st.ActiveAccount = active
	cond := metav1.Condition{
		Type: chatv1alpha1.ConditionCapacityAvailable, Status: metav1.ConditionTrue,
		Reason: chatv1alpha1.AccountAvailableReason, ObservedGeneration: oac.Generation,
		Message: fmt.Sprintf("%s has room for new subscribers", active),
	}
	if active == "" {
		cond.Status, cond.Reason = metav1.ConditionFalse, chatv1alpha1.AllAccountsFullReason
		cond.Message = fullMessage(oac)
		if wasAvailable {
			evs = append(evs, event{warning, chatv1alpha1.CapacityExhaustedEvent, "Exhausted", cond.Message})
		}
	}
	meta.SetStatusCondition(&st.Conditions, cond)
	return evs
}

// fullMessage says that the pool is exhausted and why nothing could make room.
func fullMessage(oac *chatv1alpha1.OfficialAccountCapacity) string {
	var why []string
	switch so := scaleOutSpec(oac); {
	case so == nil:
		why = append(why, "onFull.scaleOut is not configured")
	case len(oac.Pool()) >= int(so.MaxAccounts):
		why = append(why, fmt.Sprintf("the pool is at onFull.scaleOut.maxAccounts (%d)", so.MaxAccounts))
	}
	if oac.Spec.OnFull == nil || oac.Spec.OnFull.RaiseLimit == nil {
		why = append(why, "onFull.raiseLimit is not configured")
	} else {
		why = append(why, fmt.Sprintf("limits are at onFull.raiseLimit.ceiling (%d) or not known", oac.Spec.OnFull.RaiseLimit.Ceiling))
	}
	return fmt.Sprintf("all %d accounts are full: %s", len(oac.Pool()), strings.Join(why, "; "))
}

// event is a Kubernetes Event to emit about the resource.
type event struct {
	eventType string
	reason    string
	action    string
	message   string
}

const (
	normal  = "Normal"
	warning = "Warning"
)
