package controllers

import (
	"fmt"
	"math"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
)

// The headroom decisions (spec.headroom): pure functions of spec, status and time. An
// account nearly full gets the onFull policy ahead of time, so that the app learns of
// the new active account before anyone is refused.

const (
	// defaultHeadroomLimit is Chat's limit of an account created without one.
	defaultHeadroomLimit = 100000
	// defaultMinReadInterval is spec.headroom.minReadInterval when unset.
	defaultMinReadInterval = 15 * time.Second
	// rateTimeConstant smooths the fill rate: a change of pace shows fully after a few
	// of these, a single burst is damped.
	rateTimeConstant = 2 * time.Minute
)

// headroomLimit is the limit headroom reckons with: the known one, else
// spec.headroom.defaultLimit. 0 without headroom and a known limit.
func headroomLimit(oac *chatv1alpha1.OfficialAccountCapacity, a *chatv1alpha1.AccountStatus) int64 {
	if a.MaxSubscriberNum > 0 || oac.Spec.Headroom == nil {
		return a.MaxSubscriberNum
	}
	if d := oac.Spec.Headroom.DefaultLimit; d > 0 {
		return d
	}
	return defaultHeadroomLimit
}

// threshold is the count at which an account with this limit is nearly full.
func threshold(h *chatv1alpha1.HeadroomSpec, limit int64) int64 {
	return limit * int64(h.ThresholdPercent) / 100
}

// fillRate is the account's rate (subscribers an hour) after a reading of count at
// `at`: the pace since the previous reading (prevCount at prevAt), smoothed into the
// previous rate (nil: none yet, the pace is the rate) with a time constant of
// rateTimeConstant, so that a burst moves it only a little and a change of pace shows
// within a few minutes.
func fillRate(prevRate *int64, prevCount int64, prevAt time.Time, count int64, at time.Time) int64 {
	dt := at.Sub(prevAt)
	if dt <= 0 {
		return rateOf(prevRate)
	}
	pace := float64(count-prevCount) / dt.Hours()
	if prevRate == nil {
		return int64(math.Round(pace))
	}
	alpha := float64(dt) / float64(dt+rateTimeConstant)
	return int64(math.Round(alpha*pace + (1-alpha)*float64(*prevRate)))
}

// rateOf is a fill rate, 0 while it is not known.
func rateOf(rate *int64) int64 {
	if rate == nil {
		return 0
	}
	return *rate
}

// timeTo is how long count takes to reach target at rate (per hour); ok is false
// when it does not grow.
func timeTo(count, target, rate int64) (time.Duration, bool) {
	if count >= target {
		return 0, true
	}
	if rate <= 0 {
		return 0, false
	}
	return time.Duration(float64(target-count) / float64(rate) * float64(time.Hour)), true
}

// nearlyFull reports whether a (not full) is nearly full: at or above the threshold,
// or predicted full within leadTime. An account already nearly full stays so until
// it is below recoveryThresholdPercent of the threshold and no longer predicted full
// within leadTime scaled up likewise, so that traffic does not flap around it.
func nearlyFull(oac *chatv1alpha1.OfficialAccountCapacity, a *chatv1alpha1.AccountStatus) bool {
	h := oac.Spec.Headroom
	limit := headroomLimit(oac, a)
	if h == nil || a.Full || limit <= 0 || a.ReadTime == nil {
		return false
	}
	t := threshold(h, limit)
	lead := time.Duration(0)
	if h.LeadTime != nil {
		lead = h.LeadTime.Duration
	}
	toFull, grows := timeTo(a.SubscriberNum, limit, rateOf(a.FillRate))
	if !a.NearlyFull {
		return a.SubscriberNum >= t || lead > 0 && grows && toFull <= lead
	}
	r := oac.RecoveryThreshold()
	return a.SubscriberNum*100 > t*r || lead > 0 && grows && toFull*time.Duration(r) <= lead*100
}

// headroomWith reports whether the nearly full a would stop being nearly full with
// limit: a raise to it gives the account headroom again.
func headroomWith(oac *chatv1alpha1.OfficialAccountCapacity, a *chatv1alpha1.AccountStatus, limit int64) bool {
	b := *a
	b.MaxSubscriberNum, b.NearlyFull = limit, true
	return !nearlyFull(oac, &b)
}

// hasHeadroom reports whether a can take new subscribers without being nearly full.
func hasHeadroom(a *chatv1alpha1.AccountStatus) bool {
	return a == nil || !a.Full && !a.Creating && !a.NearlyFull
}

// readInterval is how long after a reading the pool is read again: recheckInterval,
// or, with headroom, about half the time the fastest filling account takes to its
// threshold, from minReadInterval to recheckInterval; minReadInterval while an
// account read once has no fill rate yet, so that it gets one. The active account is
// reckoned to fill at the pool's rate at least: the new subscribers of the pool go to
// it, though its own rate shows it only after the app has moved to it.
func readInterval(oac *chatv1alpha1.OfficialAccountCapacity) time.Duration {
	every := recheckInterval(oac)
	h := oac.Spec.Headroom
	if h == nil {
		return every
	}
	least := defaultMinReadInterval
	if h.MinReadInterval != nil && h.MinReadInterval.Duration > 0 {
		least = h.MinReadInterval.Duration
	}
	var inflow int64 // the pool's: what its growing accounts gain together
	for _, a := range oac.Status.Accounts {
		inflow += max(rateOf(a.FillRate), 0)
	}
	for i := range oac.Status.Accounts {
		a := &oac.Status.Accounts[i]
		switch {
		case !hasHeadroom(a) || a.ReadTime == nil:
		case a.FillRate == nil:
			every = least
		default:
			rate := *a.FillRate
			if a.ID == oac.Status.ActiveAccount {
				rate = max(rate, inflow)
			}
			if d, ok := timeTo(a.SubscriberNum, threshold(h, headroomLimit(oac, a)), rate); ok {
				every = min(every, d/2)
			}
		}
	}
	return min(max(every, least), recheckInterval(oac))
}

// predictedFull is when a reaches its limit at its fill rate; nil when it does not
// grow or its limit is not reckoned with.
func predictedFull(oac *chatv1alpha1.OfficialAccountCapacity, a *chatv1alpha1.AccountStatus, at time.Time) *metav1.Time {
	limit := headroomLimit(oac, a)
	if limit <= 0 || a.Full {
		return nil
	}
	d, ok := timeTo(a.SubscriberNum, limit, rateOf(a.FillRate))
	if !ok {
		return nil
	}
	t := metav1.NewTime(at.Add(d).Truncate(time.Second))
	return &t
}

// usedShare is a's count as a share of the limit reckoned with, e.g. "87%"; "" while
// the limit is not known.
func usedShare(oac *chatv1alpha1.OfficialAccountCapacity, a *chatv1alpha1.AccountStatus) string {
	if a == nil || a.ReadTime == nil {
		return ""
	}
	limit := headroomLimit(oac, a)
	if limit <= 0 {
		return ""
	}
	return fmt.Sprintf("%d%%", a.SubscriberNum*100/limit)
}

// nearlyFullNote says how full a nearly full account is, e.g. "at 91% of its limit
// (full in about 40m)".
func nearlyFullNote(oac *chatv1alpha1.OfficialAccountCapacity, a *chatv1alpha1.AccountStatus, now time.Time) string {
	note := fmt.Sprintf("at %s of its limit", usedShare(oac, a))
	if a.PredictedFullTime != nil {
		d := max(a.PredictedFullTime.Sub(now), 0).Round(time.Minute)
		if d < time.Minute {
			note += " (full in under a minute)"
		} else {
			note += fmt.Sprintf(" (full in about %s)", shortDuration(d))
		}
	}
	return note
}

// shortDuration writes a whole number of minutes as "40m" or "3h20m".
func shortDuration(d time.Duration) string {
	s := d.String() // "3h20m0s"
	if len(s) > 2 && s[len(s)-2:] == "0s" {
		s = s[:len(s)-2]
	}
	if len(s) > 3 && s[len(s)-3:] == "h0m" {
		s = s[:len(s)-2]
	}
	return s
}
