package controllers

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
)

// Status setters: no side effects, so they are tested without a cluster.

// findings is what a reconcile found wrong, each recorded where it is found;
// summarize turns them into the Ready condition. The zero value: nothing is wrong.
type findings struct {
	// conflict: an older resource of the app manages an account of the pool, or a
	// scale-out ID exists with another owner (AccountConflict).
	conflict string
	// forwardConflict: an older resource of the app (its Secret holds the same
	// callbackToken) sets another spec.callbackForward (ForwardConflict).
	forwardConflict string
	// credentials: the Secret, its keys or spec.chatAPI are missing
	// (MissingCredentials), or no client can be made of them (InvalidCredentials).
	credentials *finding
	// rest: the first failure of the Chat REST API: refused credentials
	// (InvalidCredentials) or any other (ChatAPIUnavailable).
	rest *finding
	// publishConflict: the ConfigMap of spec.publish is not the resource's own.
	publishConflict string
}

// finding is one problem: the reason Ready gives for it, and the message.
type finding struct {
	reason  string
	message string
}

// readiness is what Ready says of a reconcile with these findings that ended with err
// (nil: it succeeded). One problem is shown, the one to fix first: suspension, then
// a conflict of accounts, then of callbackForward, the credentials, the REST API,
// publishing, and any other error.
func readiness(oac *chatv1alpha1.OfficialAccountCapacity, f findings, err error) finding {
	switch {
	case oac.Spec.Suspend:
		return finding{chatv1alpha1.SuspendedReason, "spec.suspend is true: callbacks are recorded, no action is taken"}
	case f.conflict != "":
		return finding{chatv1alpha1.AccountConflictReason, f.conflict}
	case f.forwardConflict != "":
		return finding{chatv1alpha1.ForwardConflictReason, f.forwardConflict}
	case f.credentials != nil:
		return *f.credentials
	case f.rest != nil:
		return *f.rest
	case f.publishConflict != "":
		return finding{chatv1alpha1.PublishConflictReason, f.publishConflict}
	case err != nil:
		return finding{chatv1alpha1.ChatAPIUnavailableReason, err.Error()}
	}
	return finding{chatv1alpha1.ReconciledReason, "the pool is reconciled"}
}

// summarize sets what status says of the reconcile as a whole: Ready from the
// findings and err, observedGeneration when it succeeded, and, when it decided the
// active account (not while suspended or in conflict), CapacityAvailable. It returns
// the event the change is worth: CapacityExhausted when no account has room any more.
func summarize(oac *chatv1alpha1.OfficialAccountCapacity, f findings, decided bool, err error) []event {
	st := &oac.Status
	ready := readiness(oac, f, err)
	status := metav1.ConditionFalse
	if ready.reason == chatv1alpha1.ReconciledReason {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: chatv1alpha1.ConditionReady, Status: status, Reason: ready.reason, Message: ready.message,
		ObservedGeneration: oac.Generation,
	})
	if err == nil {
		st.ObservedGeneration = oac.Generation
	}
	if !decided {
		return nil
	}
	st.ActiveAccountUsed = usedShare(oac, st.Account(st.ActiveAccount))

	wasAvailable := !meta.IsStatusConditionFalse(st.Conditions, chatv1alpha1.ConditionCapacityAvailable)
	cond := metav1.Condition{
		Type: chatv1alpha1.ConditionCapacityAvailable, Status: metav1.ConditionTrue,
		Reason: chatv1alpha1.AccountAvailableReason, ObservedGeneration: oac.Generation,
		Message: fmt.Sprintf("%s has room for new subscribers", st.ActiveAccount),
	}
	var evs []event
	if st.ActiveAccount == "" {
		cond.Status, cond.Reason = metav1.ConditionFalse, chatv1alpha1.AllAccountsFullReason
		cond.Message = fullMessage(oac)
		if wasAvailable {
			evs = append(evs, event{warning, chatv1alpha1.CapacityExhaustedEvent, "Exhausted", cond.Message})
		}
	}
	meta.SetStatusCondition(&st.Conditions, cond)
	return evs
}

// setActive sets status.activeAccount to the account new subscribers should use (""
// when none has room). It returns the event the change is worth: ActiveAccountChanged,
// but not for the first decision of a resource, which changes nothing.
func setActive(oac *chatv1alpha1.OfficialAccountCapacity, active string) []event {
	st := &oac.Status
	var evs []event
	decidedBefore := st.ActiveAccount != "" || meta.FindStatusCondition(st.Conditions, chatv1alpha1.ConditionCapacityAvailable) != nil
	if active != st.ActiveAccount && active != "" && decidedBefore {
		msg := fmt.Sprintf("new subscribers now go to %s", active)
		if st.ActiveAccount != "" {
			msg = fmt.Sprintf("new subscribers now go to %s instead of %s", active, st.ActiveAccount)
		}
		evs = append(evs, event{normal, chatv1alpha1.ActiveAccountChangedEvent, "Failover to " + active, msg})
	}
	st.ActiveAccount = active
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

// quietReadings returns what of oac is worth writing over base, the status as stored:
// oac itself, or, when a reading changed nothing worth a write, a copy with base's
// readings (the counts, their times, the fill rates and what is derived of them). A reading is worth a write when it goes with any other change of status,
// when a count moved by at least 1% of its limit (readingStep), when it is an
// account's first, or its first after a full callback (the limit is known from it),
// and when the stored reading is stale (staleAfter). The readings left out are
// remembered in memory (see readings.seen).
func quietReadings(base, oac *chatv1alpha1.OfficialAccountCapacity, now time.Time) *chatv1alpha1.OfficialAccountCapacity {
	b := &base.Status
	if b.LastRecheckTime == nil || now.Sub(b.LastRecheckTime.Time) >= staleAfter(oac) {
		return oac
	}
	q := oac.DeepCopy()
	q.Status.LastRecheckTime = b.LastRecheckTime
	for i := range q.Status.Accounts {
		a := &q.Status.Accounts[i]
		old := b.Account(a.ID)
		switch {
		case old == nil || old.ReadTime == nil:
			if a.ReadTime != nil {
				return oac
			}
			continue
		case a.ReadTime == nil || !old.ReadTime.Before(a.ReadTime):
			continue
		case abs(a.SubscriberNum-old.SubscriberNum) >= readingStep(a.MaxSubscriberNum, a.SubscriberNum),
			a.Full && readBefore(*old, a.LastEventTime) && !readBefore(*a, a.LastEventTime):
			return oac
		}
		a.SubscriberNum, a.ReadTime, a.FillRate, a.PredictedFullTime = old.SubscriberNum, old.ReadTime, old.FillRate, old.PredictedFullTime
	}
	q.Status.ActiveAccountUsed = b.ActiveAccountUsed
	if !equality.Semantic.DeepEqual(q.Status, *b) {
		return oac // written anyway: with its readings
	}
	return q
}

// readingStep is how far a count must move to be worth a status write: 1% of the
// limit (of the count while the limit is not known), at least 1.
func readingStep(limit, count int64) int64 {
	if limit <= 0 {
		limit = count
	}
	return max(limit/100, 1)
}

// staleAfter is the age past which a stored reading is written again even though
// nothing moved: an hour, or three recheck intervals when they are longer.
func staleAfter(oac *chatv1alpha1.OfficialAccountCapacity) time.Duration {
	return max(time.Hour, 3*recheckInterval(oac))
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
