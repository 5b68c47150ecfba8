package controllers

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
)

// The capacity decisions: pure functions of (spec, status, REST readings, now). They
// change the object they are given and report what changed; the reconciler makes the
// REST calls and emits the events.

// maxScaleOutIndex bounds the indexes of scale-out IDs; the pool holds at most 64.
const maxScaleOutIndex = 64

// syncPool makes status.accounts hold exactly the pool: every spec account (origin
// Spec) in spec order, then the scale-out accounts in the order they were created.
// Entries for accounts that left the pool are dropped; what they recorded is kept.
func syncPool(oac *chatv1alpha1.OfficialAccountCapacity) {
	st := &oac.Status
	out := make([]chatv1alpha1.AccountStatus, 0, len(oac.Spec.Accounts)+len(st.Accounts))
	for _, id := range oac.Spec.Accounts {
		a := chatv1alpha1.AccountStatus{ID: id}
		if old := st.Account(id); old != nil {
			a = *old
		}
		a.Origin = chatv1alpha1.OriginSpec
		a.Creating = false
		out = append(out, a)
	}
	for _, a := range st.Accounts {
		if a.Origin == chatv1alpha1.OriginScaleOut && !slices.Contains(oac.Spec.Accounts, a.ID) {
			out = append(out, a)
		}
	}
	for i := range out {
		a := &out[i]
		if oac.Spec.OnFull == nil || oac.Spec.OnFull.RaiseLimit == nil {
			a.RaisingTo = 0 // raiseLimit was turned off: nothing to finish
		}
		if a.Full || oac.Spec.Headroom == nil {
			a.NearlyFull, a.NearlyFullSince = false, nil // full now, or headroom turned off
		}
		switch {
		case a.MaxSubscriberNum > 0:
		case oac.Spec.Headroom != nil:
			a.LimitSource = chatv1alpha1.LimitDefault
		default:
			a.LimitSource = ""
		}
	}
	st.Accounts = out
	st.CountFull()
}

// activeAccount is the first account in pool order that can take subscribers: not
// full and not still being created; with headroom, the first that is not nearly full
// either, when there is one. "" when there is none.
func activeAccount(oac *chatv1alpha1.OfficialAccountCapacity) string {
	if oac.Spec.Headroom != nil {
		for _, id := range oac.Pool() {
			if hasHeadroom(oac.Status.Account(id)) {
				return id
			}
		}
	}
	for _, id := range oac.Pool() {
		if a := oac.Status.Account(id); a == nil || (!a.Full && !a.Creating) {
			return id
		}
	}
	return ""
}

// readingDue reports whether the pool's subscriber counts should be read now: at the
// recheck interval, or when a decision waits for a reading (readingUrgent).
func readingDue(oac *chatv1alpha1.OfficialAccountCapacity, now time.Time) bool {
	st := &oac.Status
	return st.LastRecheckTime == nil || now.Sub(st.LastRecheckTime.Time) >= readInterval(oac) || readingUrgent(oac)
}

// readingUrgent reports whether a decision waits for a reading: the first one (it
// finds the accounts an earlier scale-out created before another is made), a new
// requested-at, a full account not read since its last event (its limit is needed to
// raise it), an account being created or raised.
func readingUrgent(oac *chatv1alpha1.OfficialAccountCapacity) bool {
	st := &oac.Status
	if st.LastRecheckTime == nil {
		return true
	}
	if v, ok := oac.Annotations[chatv1alpha1.RequestedAtAnnotation]; ok && v != st.LastHandledRequestedAt {
		return true
	}
	for _, a := range st.Accounts {
		if a.Creating || a.RaisingTo > 0 || a.Full && readBefore(a, a.LastEventTime) {
			return true
		}
	}
	return false
}

// nextReading is when the pool should be read next: a readInterval after the last
// reading, or sooner when a full account's last event is later than its last reading
// (the Chat backend's clock may run up to the allowed skew ahead of ours), so that its
// limit is known soon.
func nextReading(oac *chatv1alpha1.OfficialAccountCapacity, now time.Time) time.Time {
	next := now.Add(readInterval(oac))
	if t := oac.Status.LastRecheckTime; t != nil {
		next = t.Add(readInterval(oac))
	}
	for _, a := range oac.Status.Accounts {
		if a.Full && readBefore(a, a.LastEventTime) && a.LastEventTime >= now.UnixMilli() {
			next = minTime(next, time.UnixMilli(a.LastEventTime+1))
		}
	}
	return next
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// readBefore reports whether the account's last reading is older than eventTime (Unix
// milliseconds), or missing.
func readBefore(a chatv1alpha1.AccountStatus, eventTime int64) bool {
	return a.ReadTime == nil || a.ReadTime.UnixMilli() <= eventTime
}

func recheckInterval(oac *chatv1alpha1.OfficialAccountCapacity) time.Duration {
	if d := oac.Spec.RecheckInterval; d != nil && d.Duration > 0 {
		return d.Duration
	}
	return defaultRecheckInterval
}

const defaultRecheckInterval = 10 * time.Minute

// readIDs is what to read: the pool, and, on the first reading of a status (a new
// resource, or one whose status was lost), the scale-out IDs it may have created
// before, so that they are found again instead of created a second time.
func readIDs(oac *chatv1alpha1.OfficialAccountCapacity) []string {
	ids := oac.Pool()
	if oac.Spec.OnFull != nil && oac.Spec.OnFull.ScaleOut != nil && oac.Status.LastRecheckTime == nil {
		for i := 1; i <= maxScaleOutIndex; i++ {
			if id := scaleOutID(oac, i); !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// observation is what a reading changed.
type observation struct {
	filled     []string // found at or over its limit without a callback
	recovered  []string // cleared: room again
	adopted    []string // scale-out accounts found again by their IDs
	nearlyFull []string // nearly full from this reading on (spec.headroom)
}

// observe folds readings taken at `at` into status:
//   - the limit is the REST answer's when it has one; else it is kept (what the
//     operator set), and while the account is full it is at least the reading (when
//     an account fills up, its count and its limit are equal);
//   - an account at or over a known limit is full, even when its callback was lost;
//   - a full account is cleared when a reading taken after its last event shows at
//     most recoveryThresholdPercent of its limit.
//
// Readings of IDs outside the pool are scale-out IDs probed by readIDs: those that
// exist and belong to the configured owner are adopted.
func observe(oac *chatv1alpha1.OfficialAccountCapacity, infos []chatapi.AccountInfo, at time.Time) observation {
	var obs observation
	st := &oac.Status
	stamp, readStamp := metav1.NewTime(at), metav1.NewMicroTime(at)
	for _, info := range infos {
		if info.Err != nil {
			continue
		}
		a := st.Account(info.Account)
		if a == nil {
			so := scaleOutSpec(oac)
			if so == nil || info.Owner != so.OwnerAccount {
				continue
			}
			st.Accounts = append(st.Accounts, chatv1alpha1.AccountStatus{
				ID: info.Account, Origin: chatv1alpha1.OriginScaleOut, MaxSubscriberNum: so.MaxSubscriberNum, LimitSource: chatv1alpha1.LimitFromOperator,
			})
			a = &st.Accounts[len(st.Accounts)-1]
			obs.adopted = append(obs.adopted, info.Account)
		}
		if a.ReadTime != nil {
			rate := fillRate(a.FillRate, a.SubscriberNum, a.ReadTime.Time, info.SubscriberNum, at)
			a.FillRate = &rate
		}
		a.SubscriberNum = info.SubscriberNum
		a.ReadTime = &readStamp
		switch {
		case info.MaxSubscriberNum != nil:
			a.MaxSubscriberNum, a.LimitSource = *info.MaxSubscriberNum, chatv1alpha1.LimitFromAPI
		case a.Full && info.SubscriberNum > a.MaxSubscriberNum:
			a.MaxSubscriberNum, a.LimitSource = info.SubscriberNum, chatv1alpha1.LimitLearned
		}
		limit := a.MaxSubscriberNum
		switch {
		case limit <= 0:
		case !a.Full && info.SubscriberNum >= limit:
			a.Full, a.FullSince = true, &stamp
			a.NearlyFull, a.NearlyFullSince = false, nil
			obs.filled = append(obs.filled, a.ID)
		case a.Full && at.UnixMilli() > a.LastEventTime && info.SubscriberNum*100 <= limit*oac.RecoveryThreshold():
			clearFull(a)
			obs.recovered = append(obs.recovered, a.ID)
		}
		if setNearlyFull(oac, a, stamp) {
			obs.nearlyFull = append(obs.nearlyFull, a.ID)
		}
		a.PredictedFullTime = predictedFull(oac, a, at)
	}
	st.CountFull()
	return obs
}

// setNearlyFull brings a's nearly-full state in line with its reading, an episode
// beginning at `at`, and reports whether one began.
func setNearlyFull(oac *chatv1alpha1.OfficialAccountCapacity, a *chatv1alpha1.AccountStatus, at metav1.Time) bool {
	was := a.NearlyFull
	a.NearlyFull = nearlyFull(oac, a)
	switch {
	case !a.NearlyFull:
		a.NearlyFullSince = nil
	case !was:
		a.NearlyFullSince = &at
		return true
	}
	return false
}

func clearFull(a *chatv1alpha1.AccountStatus) {
	a.Full, a.FullSince = false, nil
}

// clearByHand clears the full accounts named by the clear-full annotation and returns
// those it cleared and the IDs that are not in the pool.
func clearByHand(oac *chatv1alpha1.OfficialAccountCapacity, value string) (cleared, unknown []string) {
	for id := range strings.SplitSeq(value, ",") {
		id = strings.TrimSpace(id)
		if id == "" {
			continue
		}
		a := oac.Status.Account(id)
		switch {
		case a == nil:
			unknown = append(unknown, id)
		case a.Full:
			clearFull(a)
			cleared = append(cleared, id)
		}
	}
	oac.Status.CountFull()
	return cleared, unknown
}

// raise is one limit to raise: account from its known limit to newLimit.
type raise struct {
	account  string
	newLimit int64
}

// raises lists the limits to raise: first those whose raise is under way (stored in
// raisingTo, set again with the same value), then every full account whose limit is
// known from a reading after its last event and below the ceiling, raised by step,
// then every nearly full one whose limit is known (not assumed), raised by as many
// steps as give it headroom again; never above the ceiling.
func raises(oac *chatv1alpha1.OfficialAccountCapacity) []raise {
	if oac.Spec.OnFull == nil || oac.Spec.OnFull.RaiseLimit == nil {
		return nil
	}
	rl := oac.Spec.OnFull.RaiseLimit
	var out []raise
	for _, id := range oac.Pool() {
		if a := oac.Status.Account(id); a != nil && a.RaisingTo > 0 {
			out = append(out, raise{account: id, newLimit: min(a.RaisingTo, rl.Ceiling)})
		}
	}
	for _, early := range []bool{false, true} {
		for _, id := range oac.Pool() {
			a := oac.Status.Account(id)
			if a == nil || a.RaisingTo > 0 || a.MaxSubscriberNum <= 0 {
				continue
			}
			if early && !a.NearlyFull || !early && (!a.Full || readBefore(*a, a.LastEventTime)) {
				continue
			}
			next := min(a.MaxSubscriberNum+rl.Step, rl.Ceiling)
			for early && next < rl.Ceiling && !headroomWith(oac, a, next) {
				next = min(next+rl.Step, rl.Ceiling)
			}
			if next > a.MaxSubscriberNum {
				out = append(out, raise{account: id, newLimit: next})
			}
		}
	}
	return out
}

// limitRaised records a successful raise. The account has room again unless a newer
// callback, or a reading at the new limit, says it filled up meanwhile (possible when
// the raise was repeated after a crash); it has headroom again unless its count is
// still near the new limit.
func limitRaised(oac *chatv1alpha1.OfficialAccountCapacity, r raise) {
	if a := oac.Status.Account(r.account); a != nil {
		a.MaxSubscriberNum, a.RaisingTo, a.LimitSource = r.newLimit, 0, chatv1alpha1.LimitFromOperator
		if !readBefore(*a, a.LastEventTime) && a.SubscriberNum < r.newLimit {
			clearFull(a)
		}
		if a.ReadTime != nil {
			setNearlyFull(oac, a, metav1.NewTime(a.ReadTime.Time))
			a.PredictedFullTime = predictedFull(oac, a, a.ReadTime.Time)
		}
	}
	oac.Status.CountFull()
}

// roomLeft reports whether no scale-out is needed: an account can take new
// subscribers (with headroom, one that is not nearly full either).
func roomLeft(oac *chatv1alpha1.OfficialAccountCapacity) bool {
	for _, id := range oac.Pool() {
		a := oac.Status.Account(id)
		if oac.Spec.Headroom != nil && hasHeadroom(a) || oac.Spec.Headroom == nil && (a == nil || !a.Full && !a.Creating) {
			return true
		}
	}
	return false
}

func scaleOutSpec(oac *chatv1alpha1.OfficialAccountCapacity) *chatv1alpha1.ScaleOutSpec {
	if oac.Spec.OnFull == nil {
		return nil
	}
	return oac.Spec.OnFull.ScaleOut
}

// scaleOutID is the ID of the index-th account created for oac: derived from the
// resource's UID, so that a retry, or a resource whose status was lost, asks for the
// same ID and finds the account instead of creating another. 45 bytes at most.
func scaleOutID(oac *chatv1alpha1.OfficialAccountCapacity, index int) string {
	uid := strings.ReplaceAll(string(oac.UID), "-", "")
	if _, err := hex.DecodeString(uid); err != nil || len(uid) != 32 {
		uid = fmt.Sprintf("%032x", []byte(uid))[:32] // not a UUID (tests): still fixed
	}
	return fmt.Sprintf("%soac-%s-%d", chatapi.AccountIDPrefix, uid, index)
}

// nextScaleOut returns the account to create when no account has room, or ok=false
// when scale-out is off, the pool is at maxAccounts, or a creation is already under
// way.
func nextScaleOut(oac *chatv1alpha1.OfficialAccountCapacity) (id string, ok bool) {
	so := scaleOutSpec(oac)
	if so == nil || len(oac.Pool()) >= int(so.MaxAccounts) {
		return "", false
	}
	for _, a := range oac.Status.Accounts {
		if a.Creating {
			return "", false
		}
	}
	for i := 1; i <= maxScaleOutIndex; i++ {
		if id := scaleOutID(oac, i); oac.Status.Account(id) == nil && !slices.Contains(oac.Spec.Accounts, id) {
			return id, true
		}
	}
	return "", false
}

// scaleOutName is the display name of the index-th created account.
func scaleOutName(so *chatv1alpha1.ScaleOutSpec, index int) string {
	return fmt.Sprintf("%s %d", so.NamePrefix, index)
}

// scaleOutIndex returns the index of a scale-out ID of oac, or 0.
func scaleOutIndex(oac *chatv1alpha1.OfficialAccountCapacity, id string) int {
	for i := 1; i <= maxScaleOutIndex; i++ {
		if scaleOutID(oac, i) == id {
			return i
		}
	}
	return 0
}
