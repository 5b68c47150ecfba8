package controllers

import (
	"context"
	"slices"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlevent "sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
)

// maxReadIDs is how many accounts get_official_account_info takes in one call.
const maxReadIDs = 50

// readings batches the periodic readings of the pools of one app: a reconcile whose
// pool is due asks for a reading and returns; the asks that meet in one linger share
// get_official_account_info calls of up to 50 accounts, and each pool is reconciled
// again with its answer. At 10,000 pools of 3 accounts read every minute, that is
// about 10 calls a second instead of 167. Readings a decision waits for (a full
// account's limit, a requested recheck) are not asked here: the reconcile makes them
// at once.
type readings struct {
	linger time.Duration
	now    func() time.Time

	mu      sync.Mutex
	seen    map[types.NamespacedName]seen // the readings as last computed, stored or not
	queued  map[ChatAPI][]ask             // by client: the pools of one app and credentials share calls
	asked   map[types.NamespacedName]bool
	answers map[types.NamespacedName]answer
	wake    chan struct{}
	ready   chan ctrlevent.TypedGenericEvent[types.NamespacedName]
}

// seen is what the reconciler last computed of a pool's readings. A status write
// leaves out a reading that changed nothing worth it (quietReadings); it lives on
// here, so that the next reconcile decides and schedules from it.
type seen struct {
	uid         types.UID
	lastRecheck metav1.Time
	// A slice, not a map: 3 or so accounts a pool, and 10,000 maps of them were
	// several MiB of buckets.
	accounts []seenAccount
}

type seenAccount struct {
	id            string
	subscribers   int64
	readTime      metav1.MicroTime
	fillRate      *int64
	predictedFull *metav1.Time
}

// ask is a pool's request for a reading.
type ask struct {
	key types.NamespacedName
	ids []string
}

// answer is a reading of a pool: what the REST API said of its accounts, or why the
// call failed, and when.
type answer struct {
	at    time.Time
	infos []chatapi.AccountInfo
	err   error
}

func newReadings(linger time.Duration, now func() time.Time) *readings {
	return &readings{
		linger:  linger,
		now:     now,
		seen:    map[types.NamespacedName]seen{},
		queued:  map[ChatAPI][]ask{},
		asked:   map[types.NamespacedName]bool{},
		answers: map[types.NamespacedName]answer{},
		wake:    make(chan struct{}, 1),
		ready:   make(chan ctrlevent.TypedGenericEvent[types.NamespacedName], 1024),
	}
}

// source enqueues the pools whose answer arrived.
func (rd *readings) source() source.Source {
	return source.Channel(rd.ready, handler.TypedEnqueueRequestsFromMapFunc(
		func(_ context.Context, key types.NamespacedName) []reconcile.Request {
			return []reconcile.Request{{NamespacedName: key}}
		}))
}

// ask queues a reading of ids for the pool key through api, unless one is queued or
// under way already.
func (rd *readings) ask(key types.NamespacedName, api ChatAPI, ids []string) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if rd.asked[key] {
		return
	}
	rd.asked[key] = true
	rd.queued[api] = append(rd.queued[api], ask{key, ids})
	select {
	case rd.wake <- struct{}{}:
	default:
	}
}

// answer returns the pool's answer that has not been applied yet.
func (rd *readings) answer(key types.NamespacedName) (answer, bool) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	a, ok := rd.answers[key]
	return a, ok
}

// applied forgets the pool's answer at: it is stored. A newer answer stays.
func (rd *readings) applied(key types.NamespacedName, at time.Time) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if a, ok := rd.answers[key]; ok && !a.at.After(at) {
		delete(rd.answers, key)
	}
}

// forget drops what is kept of a pool that is gone.
func (rd *readings) forget(key types.NamespacedName) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	delete(rd.answers, key)
	delete(rd.seen, key)
}

// remember keeps the readings of oac, as the reconciler computed them.
func (rd *readings) remember(oac *chatv1alpha1.OfficialAccountCapacity) {
	st := &oac.Status
	if st.LastRecheckTime == nil {
		return
	}
	s := seen{uid: oac.UID, lastRecheck: *st.LastRecheckTime, accounts: make([]seenAccount, 0, len(st.Accounts))}
	for _, a := range st.Accounts {
		if a.ReadTime != nil {
			s.accounts = append(s.accounts, seenAccount{a.ID, a.SubscriberNum, *a.ReadTime, a.FillRate, a.PredictedFullTime})
		}
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	rd.seen[client.ObjectKeyFromObject(oac)] = s
}

// overlay puts into oac the readings remembered of it that are newer than its
// stored ones.
func (rd *readings) overlay(oac *chatv1alpha1.OfficialAccountCapacity) {
	rd.mu.Lock()
	s, ok := rd.seen[client.ObjectKeyFromObject(oac)]
	rd.mu.Unlock()
	if !ok || s.uid != oac.UID {
		return
	}
	st := &oac.Status
	if st.LastRecheckTime == nil || st.LastRecheckTime.Before(&s.lastRecheck) {
		st.LastRecheckTime = &s.lastRecheck
	}
	for i := range st.Accounts {
		a := &st.Accounts[i]
		i := slices.IndexFunc(s.accounts, func(r seenAccount) bool { return r.id == a.ID })
		if i < 0 {
			continue
		}
		if r := s.accounts[i]; a.ReadTime == nil || a.ReadTime.Before(&r.readTime) {
			a.SubscriberNum, a.ReadTime, a.FillRate, a.PredictedFullTime = r.subscribers, &r.readTime, r.fillRate, r.predictedFull
		}
	}
}

// NeedLeaderElection: only the leader reconciles, so only it reads.
func (rd *readings) NeedLeaderElection() bool { return true }

// Start reads what was asked, a linger after the first ask, until ctx ends. The calls
// of one client run one batch at a time; asks that arrive meanwhile join the next,
// so slow calls make larger batches rather than more calls.
func (rd *readings) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	busy := map[ChatAPI]bool{}
	done := make(chan ChatAPI)
	for {
		select {
		case <-ctx.Done():
			return nil
		case api := <-done:
			busy[api] = false
		case <-rd.wake:
			t := time.NewTimer(rd.linger)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
		rd.mu.Lock()
		for api, asks := range rd.queued {
			if busy[api] {
				continue
			}
			busy[api] = true
			delete(rd.queued, api)
			wg.Add(1)
			go func() {
				defer wg.Done()
				rd.read(ctx, api, asks)
				select {
				case done <- api:
				case <-ctx.Done():
				}
			}()
		}
		rd.mu.Unlock()
	}
}

// read makes the calls for asks, packing their accounts 50 to a call (a pool is not
// split across calls), and hands each pool its answer.
func (rd *readings) read(ctx context.Context, api ChatAPI, asks []ask) {
	for len(asks) > 0 {
		var ids []string
		n := 0
		for n < len(asks) && (n == 0 || len(ids)+len(asks[n].ids) <= maxReadIDs) {
			ids = append(ids, asks[n].ids...)
			n++
		}
		batch := asks[:n]
		asks = asks[n:]
		infos, err := api.GetOfficialAccountInfo(ctx, ids)
		at := rd.now()
		byID := make(map[string]chatapi.AccountInfo, len(infos))
		for _, info := range infos {
			byID[info.Account] = info
		}
		rd.mu.Lock()
		for _, a := range batch {
			ans := answer{at: at, err: err}
			for _, id := range a.ids {
				if info, ok := byID[id]; ok {
					ans.infos = append(ans.infos, info)
				}
			}
			rd.answers[a.key] = ans
			delete(rd.asked, a.key)
		}
		rd.mu.Unlock()
		for _, a := range batch {
			select {
			case rd.ready <- ctrlevent.TypedGenericEvent[types.NamespacedName]{Object: a.key}:
			case <-ctx.Done():
				return
			}
		}
	}
}
