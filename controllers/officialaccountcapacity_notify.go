package controllers

import (
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/notify"
	"github.com/oacapacity/oa-capacity-operator/internal/utf8cut"
)

// Notifications are planned here, purely, in the same status write as the state change
// that causes them, so that each is queued exactly once; then delivered
// (…_deliver.go), and a message leaves a target's pending list only once the target
// accepted it. A restart thus neither repeats a delivered message nor loses a queued one.

// maxPending bounds a target's queue; the oldest messages make room for new ones.
const maxPending = 20

// episodeStart is an episode worth a message when it starts, whether or not it is
// open afterwards: a full one a raise ended at once, or a nearly-full one.
type episodeStart struct {
	account string
	since   metav1.Time
	action  string
}

// planNotifications brings status.notifications in line with spec.notify and queues,
// per target, the messages the pool's state is worth:
//   - full: an episode (an account full since a time) the target was not told of, with
//     what the operator did about it;
//   - repeat: every repeatInterval while the episode lasts;
//   - recovered: once, when an episode the target was told of has ended;
//   - exhausted: once per exhaustion (CapacityAvailable False);
//   - nearlyFull: once when an account became nearly full (spec.headroom), with what
//     was done ahead of its limit; its end is not announced.
//
// actions says what was done per account in this reconcile; raised lists the episodes
// that a raise ended at once; early, the nearly-full episodes that began.
func planNotifications(oac *chatv1alpha1.OfficialAccountCapacity, now time.Time, actions map[string]string, raised, early []episodeStart) {
	st := &oac.Status
	out := make([]chatv1alpha1.NotificationStatus, 0, len(oac.Spec.Notify))
	for _, target := range oac.Spec.Notify {
		ns := chatv1alpha1.NotificationStatus{Name: target.Name}
		if i := slices.IndexFunc(st.Notifications, func(n chatv1alpha1.NotificationStatus) bool { return n.Name == target.Name }); i >= 0 {
			ns = st.Notifications[i]
		}
		planTarget(oac, target, &ns, now, actions, raised)
		for _, e := range early {
			queue(&ns, pendingFor(oac, notify.KindNearlyFull, e.account, e.since, 0, e.since.Time, e.action))
		}
		out = append(out, ns)
	}
	st.Notifications = out
}

func planTarget(oac *chatv1alpha1.OfficialAccountCapacity, target chatv1alpha1.NotifyTarget, ns *chatv1alpha1.NotificationStatus,
	now time.Time, actions map[string]string, raised []episodeStart) {
	st := &oac.Status
	told := func(account string, since metav1.Time) int {
		return slices.IndexFunc(ns.Episodes, func(e chatv1alpha1.NotifiedEpisode) bool {
			return e.Account == account && sameSecond(e.Since, since)
		})
	}
	// An episode a raise ended at once is news only to a target not told of it yet;
	// one that was told hears its end below.
	for _, r := range raised {
		if told(r.account, r.since) < 0 {
			queue(ns, pendingFor(oac, notify.KindFull, r.account, r.since, 0, r.since.Time, r.action))
		}
	}
	// Ended episodes before new ones: their end came first.
	kept := ns.Episodes[:0:0]
	for _, e := range ns.Episodes {
		a := st.Account(e.Account)
		if a != nil && a.Full && a.FullSince != nil && sameSecond(*a.FullSince, e.Since) {
			kept = append(kept, e)
			continue
		}
		queue(ns, pendingFor(oac, notify.KindRecovered, e.Account, e.Since, 0, now, recoveredAction(a, actions[e.Account])))
	}
	ns.Episodes = kept

	for _, id := range oac.Pool() {
		a := st.Account(id)
		if a == nil || !a.Full || a.FullSince == nil {
			continue
		}
		every := time.Duration(0)
		if target.RepeatInterval != nil {
			every = target.RepeatInterval.Duration
		}
		i := told(id, *a.FullSince)
		if i < 0 {
			queue(ns, pendingFor(oac, notify.KindFull, id, *a.FullSince, 0, a.FullSince.Time, fullAction(oac, id, actions[id])))
			// Repeats count from the episode's start, also for a target told late.
			ns.Episodes = append(ns.Episodes, chatv1alpha1.NotifiedEpisode{Account: id, Since: secondOf(*a.FullSince), Repeats: repeatsDue(a.FullSince.Time, every, now)})
			continue
		}
		e := &ns.Episodes[i]
		if n := repeatsDue(e.Since.Time, every, now); n > e.Repeats {
			// One message however many intervals passed (the operator was down, say).
			e.Repeats = n
			queue(ns, pendingFor(oac, notify.KindRepeat, id, e.Since, e.Repeats, now, fullAction(oac, id, "")))
		}
	}

	c := meta.FindStatusCondition(st.Conditions, chatv1alpha1.ConditionCapacityAvailable)
	switch {
	case c != nil && c.Status == metav1.ConditionFalse:
		if ns.ExhaustedSince == nil || !ns.ExhaustedSince.Equal(&c.LastTransitionTime) {
			since := c.LastTransitionTime
			ns.ExhaustedSince = &since
			queue(ns, pendingFor(oac, notify.KindExhausted, "", since, 0, since.Time, c.Message))
		}
	default:
		ns.ExhaustedSince = nil
	}
}

// repeatsDue is how many repeat intervals have passed since the episode began.
func repeatsDue(since time.Time, every time.Duration, now time.Time) int32 {
	if every <= 0 || now.Before(since) {
		return 0
	}
	return int32(min(now.Sub(since)/every, 1<<30))
}

func sameSecond(a, b metav1.Time) bool { return a.Unix() == b.Unix() }

// secondOf is t as status stores it.
func secondOf(t metav1.Time) metav1.Time { return metav1.NewTime(t.Truncate(time.Second)) }

// nextRepeat is how long until the next repeat of an open episode is due; 0: none.
func nextRepeat(oac *chatv1alpha1.OfficialAccountCapacity, now time.Time) time.Duration {
	var next time.Duration
	for _, ns := range oac.Status.Notifications {
		i := slices.IndexFunc(oac.Spec.Notify, func(t chatv1alpha1.NotifyTarget) bool { return t.Name == ns.Name })
		if i < 0 || oac.Spec.Notify[i].RepeatInterval == nil {
			continue
		}
		every := oac.Spec.Notify[i].RepeatInterval.Duration
		for _, e := range ns.Episodes {
			d := max(e.Since.Add(time.Duration(e.Repeats+1)*every).Sub(now), time.Second)
			if next == 0 || d < next {
				next = d
			}
		}
	}
	return next
}

// queue appends p unless a message with its ID is already queued, dropping the oldest
// past maxPending.
func queue(ns *chatv1alpha1.NotificationStatus, p chatv1alpha1.PendingNotification) {
	if slices.ContainsFunc(ns.Pending, func(q chatv1alpha1.PendingNotification) bool { return q.ID == p.ID }) {
		return
	}
	ns.Pending = append(ns.Pending, p)
	if n := len(ns.Pending) - maxPending; n > 0 {
		ns.Pending = slices.Delete(ns.Pending, 0, n)
	}
}

// pendingFor builds a message with a stable ID: the resource, the account, the start
// of the episode, the kind and, for repeats, their number.
func pendingFor(oac *chatv1alpha1.OfficialAccountCapacity, kind, account string, since metav1.Time, n int32, at time.Time, action string) chatv1alpha1.PendingNotification {
	start := secondOf(since).UnixMilli() // as status stores it: the same in every message of the episode
	id := fmt.Sprintf("%s/%s/%s/%d/%s", oac.Namespace, oac.Name, account, start, kind)
	if kind == notify.KindExhausted {
		id = fmt.Sprintf("%s/%s/%d/%s", oac.Namespace, oac.Name, start, kind)
	}
	if n > 0 {
		id += fmt.Sprintf("/%d", n)
	}
	return chatv1alpha1.PendingNotification{
		ID: id, Kind: kind, Account: account, Time: metav1.NewTime(at.UTC().Truncate(time.Second)),
		Action: utf8cut.Cut(action, 512), ActiveAccount: oac.Status.ActiveAccount,
	}
}

// fullAction says what was done about a full account: what this reconcile did to it,
// and where new subscribers go.
func fullAction(oac *chatv1alpha1.OfficialAccountCapacity, account, did string) string {
	active := oac.Status.ActiveAccount
	var where string
	switch active {
	case "":
		where = "no account of the pool has room"
	case account:
		where = "new subscribers still go to " + account
	default:
		where = "new subscribers now go to " + active
	}
	if did == "" {
		return where
	}
	return did + "; " + where
}

func recoveredAction(a *chatv1alpha1.AccountStatus, did string) string {
	switch {
	case did != "":
		return did
	case a == nil:
		return "the account left the pool"
	case a.Full:
		return "a new episode began" // the account filled up again since
	case a.MaxSubscriberNum > 0 && a.ReadTime != nil:
		return fmt.Sprintf("a recheck read %d of %d subscribers", a.SubscriberNum, a.MaxSubscriberNum)
	}
	return "it is no longer full"
}
