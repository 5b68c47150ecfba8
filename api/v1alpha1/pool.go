package v1alpha1

import (
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The rules below are shared by the callback receiver, which records "full" events,
// and the controller, which acts on them: one spelling of what counts as recorded,
// how many accounts are full and in which order the pool is used.

// DefaultRecoveryThresholdPercent is spec.recoveryThresholdPercent when unset.
const DefaultRecoveryThresholdPercent = 95

// Pool returns the account IDs of the pool in the order they are used: spec.accounts,
// then the accounts created by scale-out, in the order they were created.
func (o *OfficialAccountCapacity) Pool() []string {
	pool := slices.Clone(o.Spec.Accounts)
	for _, a := range o.Status.Accounts {
		if a.Origin == OriginScaleOut && !slices.Contains(o.Spec.Accounts, a.ID) {
			pool = append(pool, a.ID)
		}
	}
	return pool
}

// Account returns the status of account id, or nil.
func (s *OfficialAccountCapacityStatus) Account(id string) *AccountStatus {
	for i := range s.Accounts {
		if s.Accounts[i].ID == id {
			return &s.Accounts[i]
		}
	}
	return nil
}

// Recorded reports whether status already holds the "full" event of account at
// eventTime (Unix milliseconds). An event is new only when it is newer than the
// account's lastEventTime; an equal or older one is a re-delivery (or arrived after a
// newer one), so lastEventTime never moves back and one event is recorded once.
func (s *OfficialAccountCapacityStatus) Recorded(account string, eventTime int64) bool {
	a := s.Account(account)
	return a != nil && a.LastEventTime >= eventTime
}

// RecordFull records a "full" event and reports whether it changed status. It records
// the fact only; an account it adds has no origin, which the controller sets.
func (s *OfficialAccountCapacityStatus) RecordFull(account string, eventTime int64) bool {
	if s.Recorded(account, eventTime) {
		return false
	}
	a := s.Account(account)
	if a == nil {
		s.Accounts = append(s.Accounts, AccountStatus{ID: account})
		a = &s.Accounts[len(s.Accounts)-1]
	}
	at := metav1.NewTime(time.UnixMilli(eventTime).UTC())
	if !a.Full {
		a.Full = true
		a.FullSince = &at
	}
	a.LastEventTime = eventTime
	a.FullEvents++
	if s.LastFullTime == nil || s.LastFullTime.Before(&at) {
		s.LastFullTime = &at
	}
	s.CountFull()
	return true
}

// CountFull sets FullAccounts from the accounts' full flags.
func (s *OfficialAccountCapacityStatus) CountFull() {
	s.FullAccounts = 0
	for _, a := range s.Accounts {
		if a.Full {
			s.FullAccounts++
		}
	}
}

// RecoveryThreshold returns spec.recoveryThresholdPercent, or its default when unset.
func (o *OfficialAccountCapacity) RecoveryThreshold() int64 {
	if o.Spec.RecoveryThresholdPercent <= 0 {
		return DefaultRecoveryThresholdPercent
	}
	return int64(o.Spec.RecoveryThresholdPercent)
}
