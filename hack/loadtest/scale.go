package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi/chatapitest"
)

// --- scale: many resources, rechecks, memory ---

const scaleLimit = 100000 // MaxSubscriberNum of the scale accounts

// readLog is when each account was last read, from the fake Chat's OnRead: how many
// readings the manager made, and whether any account waited longer than its interval.
type readLog struct {
	mu     sync.Mutex
	reads  int
	last   map[string]time.Time
	maxGap map[string]time.Duration // since since
	since  time.Time
}

func newReadLog() *readLog {
	return &readLog{last: map[string]time.Time{}, maxGap: map[string]time.Duration{}}
}

func (l *readLog) record(id string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads++
	if prev, ok := l.last[id]; ok && !l.since.IsZero() && at.After(l.since) {
		if g := at.Sub(prev); g > l.maxGap[id] {
			l.maxGap[id] = g
		}
	}
	l.last[id] = at
}

func (l *readLog) counts() (reads, accounts int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reads, len(l.last)
}

// window starts measuring the gaps between readings at now.
func (l *readLog) window(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.since = now
	clear(l.maxGap)
}

// gaps is the longest wait of any account for a reading since window, counting the
// wait still open at now, and how many accounts waited longer than limit.
func (l *readLog) gaps(now time.Time, limit time.Duration) (worst time.Duration, over int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, last := range l.last {
		g := max(l.maxGap[id], now.Sub(last))
		worst = max(worst, g)
		if g > limit {
			over++
		}
	}
	return worst, over
}

// scaleSnap is what the API server, the fake Chat and the manager had done at one time.
type scaleSnap struct {
	at     time.Time
	reads  int
	calls  int
	writes float64 // the manager's successful status writes
	api    map[string]float64
	cpu    map[string]float64
}

func (h *harness) snap(rl *readLog) scaleSnap {
	reads, _ := rl.counts()
	return scaleSnap{at: time.Now(), reads: reads, calls: h.chat.Calls(chatapi.CommandGetOfficialAccountInfo),
		writes: h.mgr.statusWrites(), api: h.apiRequests(), cpu: cpuSeconds(cpuNames...)}
}

func sumAPI(a, b map[string]float64, keys ...string) float64 {
	t := 0.0
	for _, k := range keys {
		t += b[k] - a[k]
	}
	return t
}

func totalAPI(a, b map[string]float64) float64 {
	t := 0.0
	for k, v := range b {
		t += v - a[k]
	}
	return t
}

// printWindow prints the figures of the window from a to b: readings (of a pool of
// perRes accounts), REST calls, status writes and Events, per reading and per second.
func (h *harness) printWindow(label string, a, b scaleSnap, perRes int) {
	d := b.at.Sub(a.at).Seconds()
	readings := float64(b.reads-a.reads) / float64(perRes)
	patches := sumAPI(a.api, b.api, "PATCH officialaccountcapacities/status", "PUT officialaccountcapacities/status")
	events := sumAPI(a.api, b.api, "POST events", "PATCH events")
	per := func(x float64) float64 {
		if readings == 0 {
			return 0
		}
		return x / readings
	}
	h.printf("  %s (%.0f s): %.0f readings (%.1f/s), %d get_official_account_info calls (%.1f/s), %.0f status writes (%.3f per reading; manager counted %.0f), %.0f Events (%.4f per reading), %.0f API requests (%.1f/s)\n",
		label, d, readings, readings/d, b.calls-a.calls, float64(b.calls-a.calls)/d, patches, per(patches), b.writes-a.writes,
		events, per(events), totalAPI(a.api, b.api), totalAPI(a.api, b.api)/d)
	h.printf("    %s\n    %s\n", cpuDelta(a.cpu, b.cpu), apiDelta(a.api, b.api))
}

func (h *harness) heapProfile(name string) {
	if h.cfg.profileDir != "" {
		h.save(h.mgr.pprof+"/debug/pprof/heap?gc=1", name+"-heap.pb.gz")
	}
}

func (h *harness) printRSS(label string, m *managerProc) {
	rss, peak, gr := m.resources()
	h.printf("  manager %s: RSS %.0f MiB (peak %.0f MiB), %.0f goroutines   (target RSS ≤ 120 MiB, peak included)\n", label, rss, peak, gr)
}

func (h *harness) scalePhase(ctx context.Context) error {
	n, perRes := h.cfg.scale, h.cfg.scaleAcc
	h.printf("\n== Scale: %d resources × %d accounts (one app), spec.recheckInterval %v, REST through the fake Chat\n", n, perRes, h.cfg.recheck)
	rss0, _, gr0 := h.mgr.resources()
	h.printf("  manager before the phase: RSS %.0f MiB, %.0f goroutines\n", rss0, gr0)
	if err := h.namespace(ctx, nsScale, credentials(map[string]string{
		chatv1alpha1.CredentialAdminIdentifier: chatAdmin, chatv1alpha1.CredentialSecretKey: chatKey})); err != nil {
		return err
	}
	rl := newReadLog()
	h.chat.OnRead(rl.record)
	h.chat.ReturnMaxSubscriberNum(h.cfg.scaleLimit)
	h.printf("  the operator learns each account's limit from the REST API: %v\n", h.cfg.scaleLimit)
	objs := make([]client.Object, n)
	for r := range n {
		ids := accounts(perRes, func(a int) string { return scaleAccount(r, a) })
		for _, id := range ids {
			h.chat.AddAccount(chatapitest.Account{ID: id, Name: id, Owner: chatAdmin, SubscriberNum: 1000, MaxSubscriberNum: scaleLimit})
		}
		o := pool(nsScale, fmt.Sprintf("s-%05d", r), scaleApp, ids)
		o.Spec.ChatAPI = &chatv1alpha1.ChatAPISpec{Endpoint: h.chat.URL()}
		o.Spec.RecheckInterval = &metav1.Duration{Duration: h.cfg.recheck}
		objs[r] = o
	}
	s0 := h.snap(rl)
	if err := h.createAll(ctx, objs, 32); err != nil {
		return err
	}
	created := time.Since(s0.at)
	h.printf("  created %d resources in %v (%.0f/s, 32 at a time)\n", n, created.Round(time.Millisecond), float64(n)/created.Seconds())
	h.printRSS("after the creates", h.mgr)

	// The first readings: until every account has been read once.
	profiled := h.cpuProfile("scale", 20*time.Second)
	deadline := time.Now().Add(10 * time.Minute)
	for {
		if _, accs := rl.counts(); accs >= n*perRes || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Second)
	}
	profiled()
	s1 := h.snap(rl)
	_, accs := rl.counts()
	h.printf("  %d of %d accounts read once, %v after the first create\n", accs, n*perRes, s1.at.Sub(s0.at).Round(time.Second))
	h.printWindow("creates and first readings", s0, s1, perRes)
	h.printRSS("after the first readings", h.mgr)
	h.heapProfile("scale-first")

	// Counts unchanged: the rechecks, with the duplicates run meanwhile.
	rl.window(time.Now())
	s2 := h.snap(rl)
	h.printf("  duplicates with the %d resources present, the rechecks running:\n", n)
	p99, ratios := h.compareDup(ctx, h.dupEvents(), "")
	if len(h.dupP99) > 0 {
		var rs, norm []float64
		for i := range p99 {
			rs = append(rs, ratio(p99[i], h.dupP99[i%len(h.dupP99)]))
			norm = append(norm, ratios[i]/h.dupRatio[i%len(h.dupRatio)])
		}
		h.printf("  RATIO duplicate p99, %d resources / %d resources (raw): %v   (target ≤ 1.3)\n", n+h.cfg.dupRes, h.cfg.dupRes, spreadOf(rs))
		h.printf("  RATIO of the p99 ratios to the baseline, %d / %d resources: %v (net of what the rechecks take from the machine)\n", n+h.cfg.dupRes, h.cfg.dupRes, spreadOf(norm))
	}
	for time.Since(s2.at) < h.cfg.rateWindow && ctx.Err() == nil {
		time.Sleep(time.Second)
	}
	s3 := h.snap(rl)
	h.printWindow("rechecks, counts unchanged", s2, s3, perRes)
	worst, over := rl.gaps(s3.at, h.cfg.recheck*11/10)
	h.printf("  longest wait of an account for its reading: %v (%.2f× the interval); accounts over 1.1×: %d of %d   (target 0)\n",
		worst.Round(100*time.Millisecond), worst.Seconds()/h.cfg.recheck.Seconds(), over, n*perRes)
	h.printRSS("after the rechecks", h.mgr)

	// Counts drifting: the active account of each pool gains about 0.1% of its limit a
	// minute. Each starts at a random point of the 1% step, as in a steady state where
	// writes are spread over time, rather than all at once 10 minutes on.
	if h.cfg.drift > 0 {
		const tick = 6 * time.Second
		perTick := int64(float64(scaleLimit) * 0.001 * tick.Seconds() / 60)
		counts := make([]int64, n)
		for r := range n {
			counts[r] = 1000 + rand.Int64N(scaleLimit/100-perTick)
			h.chat.SetSubscriberNum(scaleAccount(r, 0), counts[r])
		}
		s4 := h.snap(rl)
		t := time.NewTicker(tick)
		for time.Since(s4.at) < h.cfg.drift && ctx.Err() == nil {
			<-t.C
			for r := range n {
				counts[r] += perTick
				h.chat.SetSubscriberNum(scaleAccount(r, 0), counts[r])
			}
		}
		t.Stop()
		s5 := h.snap(rl)
		h.printWindow(fmt.Sprintf("rechecks, the active accounts drifting %d a minute (0.1%% of the limit)", perTick*int64(time.Minute/tick)), s4, s5, perRes)
	}
	h.printRSS("at the end", h.mgr)
	h.heapProfile("scale-end")
	return nil
}

// --- restart: start-up and takeover with the scale resources present ---

// caughtUp waits until m has reconciled every one of n resources once: its
// controller's reconciles reach n and its work queue is empty.
func (h *harness) caughtUp(ctx context.Context, m *managerProc, n int, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		text, err := m.scrape()
		if err == nil {
			done, _ := metricValue(text, "controller_runtime_reconcile_total", `controller="officialaccountcapacity"`)
			depth, _ := metricValue(text, "workqueue_depth", `name="officialaccountcapacity"`)
			if done >= float64(n) && depth == 0 {
				return time.Now(), nil
			}
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("not caught up after %v", timeout)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(time.Second): // a scrape of 10,000 resources' gauges is not free
		}
	}
}

func (h *harness) restartPhase(ctx context.Context) error {
	var list chatv1alpha1.OfficialAccountCapacityList
	if err := h.c.List(ctx, &list); err != nil {
		return err
	}
	n := len(list.Items)
	list.Items = nil
	h.printf("\n== Start-up and takeover: %d resources present, nothing changed while the manager was down\n", n)
	h.mgr.stop()
	dir := filepath.Dir(h.mgr.logPath)
	leader := []string{"--leader-elect", "--leader-election-namespace", nsScale}

	// Start-up: from the exec until every resource was reconciled once.
	a0 := h.apiRequests()
	start := time.Now()
	a, err := h.startManager(ctx, filepath.Join(dir, "manager-a.log"), leader...)
	if err != nil {
		return err
	}
	h.mgr = a
	done, err := h.caughtUp(ctx, a, n, 10*time.Minute)
	if err != nil {
		return fmt.Errorf("start-up: %w", err)
	}
	a1 := h.apiRequests()
	d := done.Sub(start)
	h.printf("  start-up: every resource reconciled once %v after the exec; %.0f API requests (%.1f/s), %.0f status writes\n    %s\n",
		d.Round(100*time.Millisecond), totalAPI(a0, a1), totalAPI(a0, a1)/d.Seconds(),
		sumAPI(a0, a1, "PATCH officialaccountcapacities/status", "PUT officialaccountcapacities/status"), apiDelta(a0, a1))
	h.printRSS("A after start-up", a)

	// Takeover: a second replica waits, its cache filled; the leader is killed.
	b, err := h.startManager(ctx, filepath.Join(dir, "manager-b.log"), leader...)
	if err != nil {
		return err
	}
	defer b.stop()
	time.Sleep(30 * time.Second) // B's informers list the resources meanwhile
	h.printRSS("B waiting", b)
	b0 := h.apiRequests()
	killed := time.Now()
	_ = syscall.Kill(a.cmd.Process.Pid, syscall.SIGKILL)
	<-a.exited
	done, err = h.caughtUp(ctx, b, n, 10*time.Minute)
	if err != nil {
		return fmt.Errorf("takeover: %w", err)
	}
	b1 := h.apiRequests()
	d = done.Sub(killed)
	h.printf("  takeover: every resource reconciled once by B %v after the leader's SIGKILL (the Lease lasts 15 s); %.0f API requests (%.1f/s), %.0f status writes\n    %s\n",
		d.Round(100*time.Millisecond), totalAPI(b0, b1), totalAPI(b0, b1)/d.Seconds(),
		sumAPI(b0, b1, "PATCH officialaccountcapacities/status", "PUT officialaccountcapacities/status"), apiDelta(b0, b1))
	h.mgr = b
	h.printRSS("B after the takeover", b)
	fmt.Fprintln(os.Stderr)
	return nil
}
