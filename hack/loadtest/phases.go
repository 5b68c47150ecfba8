package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
)

const (
	token     = "loadtest-token"
	chatAdmin = "administrator"
	chatKey   = "loadtest-secret-key-of-the-fake-chat"

	nsDup, dupApp           = "lt-dup", 1400000101
	nsBurst, burstApp       = "lt-burst", 1400000102
	nsFailover, failoverApp = "lt-failover", 1400000103
	nsScale, scaleApp       = "lt-scale", 1400000104
)

func numCPU() int { return runtime.NumCPU() }

func newScheme() (*apiruntime.Scheme, error) {
	s := apiruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := chatv1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

func dupAccount(r, a int) string      { return fmt.Sprintf("@TOA#_dup%03d_%d", r, a) }
func burstAccount(r, a int) string    { return fmt.Sprintf("@TOA#_b%03d_%02d", r, a) }
func failoverAccount(r, a int) string { return fmt.Sprintf("@TOA#_fo%03d_%c", r, 'a'+a) }
func scaleAccount(r, a int) string    { return fmt.Sprintf("@TOA#_s%05d_%d", r, a) }

func accounts(n int, id func(int) string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = id(i)
	}
	return out
}

func (h *harness) namespace(ctx context.Context, ns string, secrets ...*corev1.Secret) error {
	if err := h.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	for _, s := range secrets {
		s.Namespace = ns
		if err := h.c.Create(ctx, s); err != nil {
			return fmt.Errorf("create Secret %s/%s: %w", ns, s.Name, err)
		}
	}
	return nil
}

func credentials(extra map[string]string) *corev1.Secret {
	data := map[string]string{chatv1alpha1.CredentialCallbackToken: token}
	for k, v := range extra {
		data[k] = v
	}
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds"}, StringData: data}
}

func pool(ns, name string, app int64, ids []string) *chatv1alpha1.OfficialAccountCapacity {
	return &chatv1alpha1.OfficialAccountCapacity{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: chatv1alpha1.OfficialAccountCapacitySpec{
			SDKAppID: app, Accounts: ids,
			CredentialsRef: chatv1alpha1.LocalObjectReference{Name: "creds"},
		},
	}
}

// createAll creates objs with workers at a time.
func (h *harness) createAll(ctx context.Context, objs []client.Object, workers int) error {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(objs) || ctx.Err() != nil {
					return
				}
				if err := h.c.Create(ctx, objs[i]); err != nil && !apierrors.IsAlreadyExists(err) {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("create %s: %w", objs[i].GetName(), err)
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(first, ctx.Err())
}

// createFixed creates the resources of the duplicate, burst and failover phases.
func (h *harness) createFixed(ctx context.Context, phases []string) error {
	var objs []client.Object
	if slices.Contains(phases, "dup") || slices.Contains(phases, "scale") {
		if err := h.namespace(ctx, nsDup, credentials(nil)); err != nil {
			return err
		}
		for r := range h.cfg.dupRes {
			objs = append(objs, pool(nsDup, fmt.Sprintf("dup-%03d", r), dupApp, accounts(3, func(a int) string { return dupAccount(r, a) })))
		}
	}
	if slices.Contains(phases, "burst") {
		if err := h.namespace(ctx, nsBurst, credentials(nil)); err != nil {
			return err
		}
		for r := range h.cfg.burstRes {
			objs = append(objs, pool(nsBurst, fmt.Sprintf("burst-%03d", r), burstApp, accounts(h.cfg.burstAcc, func(a int) string { return burstAccount(r, a) })))
		}
	}
	if slices.Contains(phases, "failover") {
		sinkSecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sink"}, StringData: map[string]string{
			chatv1alpha1.NotifyURLKey: h.sink.url, chatv1alpha1.NotifySigningKey: "loadtest-signing-key"}}
		if err := h.namespace(ctx, nsFailover, credentials(nil), sinkSecret); err != nil {
			return err
		}
		for r := range h.cfg.failovers {
			o := pool(nsFailover, fmt.Sprintf("fo-%03d", r), failoverApp, accounts(2, func(a int) string { return failoverAccount(r, a) }))
			o.Spec.Publish = &chatv1alpha1.PublishSpec{ConfigMapName: fmt.Sprintf("fo-%03d-active", r)}
			o.Spec.Notify = []chatv1alpha1.NotifyTarget{{Name: "sink", Type: chatv1alpha1.NotifyWebhook, SecretRef: &chatv1alpha1.LocalObjectReference{Name: "sink"}}}
			objs = append(objs, o)
		}
	}
	start := time.Now()
	if err := h.createAll(ctx, objs, 16); err != nil {
		return err
	}
	h.logf("created %d resources in %v", len(objs), time.Since(start).Round(time.Millisecond))
	return nil
}

// --- duplicates ---

// dupEvents are the events of the duplicate phase, the same ones every time.
func (h *harness) dupEvents() []event {
	if h.dupEvs != nil {
		return h.dupEvs
	}
	var evs []event
	et := time.Now().Add(-time.Hour).UnixMilli()
	for r := range h.cfg.dupRes {
		for a := range 3 {
			evs = append(evs, event{app: dupApp, account: dupAccount(r, a), eventTime: et})
		}
	}
	h.dupEvs = evs
	return evs
}

func (h *harness) dupPhase(ctx context.Context) error {
	evs := h.dupEvents()
	// Record each event once; what follows are re-deliveries of them.
	seed := closedSeed(ctx, h.mgr.callback, evs)
	if seed.failed > 0 {
		return fmt.Errorf("seeding the duplicates: %v", seed.answers)
	}
	time.Sleep(2 * time.Second) // the manager's cache shows the writes
	h.printf("\n== Duplicates: %d connections, %d resources × 3 accounts, events already in status; %d rounds of %v (after %v warm-up)\n",
		h.cfg.conns, h.cfg.dupRes, h.cfg.rounds, h.cfg.duration, h.cfg.warmup)
	res, ratios := h.compareDup(ctx, evs, "dup")
	h.dupRatio = ratios
	rss, _, gr := h.mgr.resources()
	h.printf("  manager after: RSS %.0f MiB, %.0f goroutines\n", rss, gr)
	h.dupP99 = res
	return nil
}

// compareDup runs the duplicate comparison and returns the manager's p99 and its
// ratio to the baseline's, per round.
func (h *harness) compareDup(ctx context.Context, evs []event, profile string) ([]time.Duration, []float64) {
	pick := func(i int64) event { return evs[int(i)%len(evs)] }
	var thr, p99s []float64
	var mgrP99 []time.Duration
	var writes float64
	for round := range h.cfg.rounds {
		b := closedLoop(ctx, h.baseline, token, h.cfg.conns, h.cfg.warmup, h.cfg.duration, pick)
		w0 := h.mgr.statusWrites()
		var wait func()
		if round == 0 && profile != "" {
			h.allocProfile(profile + "-before")
			wait = h.cpuProfile(profile, h.cfg.warmup+h.cfg.duration)
		}
		cpu0 := cpuSeconds(cpuNames...)
		m := closedLoop(ctx, h.mgr.callback, token, h.cfg.conns, h.cfg.warmup, h.cfg.duration, pick)
		cpu1 := cpuSeconds(cpuNames...)
		if wait != nil {
			h.allocProfile(profile + "-after")
			wait()
		}
		writes += h.mgr.statusWrites() - w0
		h.printRun(fmt.Sprintf("round %d baseline", round+1), b)
		h.printRun(fmt.Sprintf("round %d manager", round+1), m)
		h.printf("  %-22s %s\n", "", cpuDelta(cpu0, cpu1))
		thr = append(thr, m.rps/b.rps)
		p99s = append(p99s, ratio(m.lat.p99, b.lat.p99))
		mgrP99 = append(mgrP99, m.lat.p99)
	}
	h.printf("  RATIO throughput manager/baseline %v   (target ≥ 0.85)\n", spreadOf(thr))
	h.printf("  RATIO p99 manager/baseline        %v   (target ≤ 1.3)\n", spreadOf(p99s))
	h.printf("  status writes during the duplicates: %.0f (want 0)\n", writes)
	return mgrP99, p99s
}

// closedSeed sends evs once each, 16 at a time.
func closedSeed(ctx context.Context, url string, evs []event) runStats {
	c := newClient(16)
	defer c.CloseIdleConnections()
	results := make([]result, len(evs))
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(evs) {
					return
				}
				results[i] = send(ctx, c, url, token, evs[i])
			}
		})
	}
	wg.Wait()
	return collect(results, time.Since(start))
}

// --- a burst of new events ---

func (h *harness) burstPhase(ctx context.Context) error { //nolint:unparam // every phase has this signature: main's switch runs them alike
	n := h.cfg.burstRes * h.cfg.burstAcc
	h.printf("\n== Burst: %d new events at once (a connection each) over %d resources × %d accounts; %d rounds\n",
		n, h.cfg.burstRes, h.cfg.burstAcc, h.cfg.rounds)
	var p99s, perCallback []float64
	for round := range h.cfg.rounds {
		et := time.Now().UnixMilli()
		evs := make([]event, 0, n)
		for r := range h.cfg.burstRes {
			for a := range h.cfg.burstAcc {
				evs = append(evs, event{app: burstApp, account: burstAccount(r, a), eventTime: et})
			}
		}
		// Interleave resources, as independent senders would.
		slices.SortStableFunc(evs, func(x, y event) int { return cmpInt(x.account[len(x.account)-2:], y.account[len(y.account)-2:]) })
		b := burst(ctx, h.baseline, token, evs)
		time.Sleep(500 * time.Millisecond)
		w0 := h.mgr.statusWrites()
		c0 := h.mgr.counter("oacapacity_status_writes_total", `result="conflict"`)
		var wait func()
		if round == 0 {
			h.allocProfile("burst-before")
			wait = h.cpuProfile("burst", 3*time.Second)
			time.Sleep(100 * time.Millisecond) // the profile has started
		}
		api0 := h.apiRequests()
		cpu0 := cpuSeconds(cpuNames...)
		m := burst(ctx, h.mgr.callback, token, evs)
		cpu1 := cpuSeconds(cpuNames...)
		api1 := h.apiRequests()
		writes := h.mgr.statusWrites() - w0
		if wait != nil {
			wait()
			h.allocProfile("burst-after")
		}
		h.printRun(fmt.Sprintf("round %d baseline", round+1), b)
		h.printRun(fmt.Sprintf("round %d manager", round+1), m)
		h.printf("  %-22s status writes %.0f for %d callbacks (%.3f per callback; all OK: %v); %.0f conflicts\n", "", writes, n, writes/float64(n), m.failed == 0,
			h.mgr.counter("oacapacity_status_writes_total", `result="conflict"`)-c0)
		h.printf("  %-22s during the manager's burst: %s\n", "", cpuDelta(cpu0, cpu1))
		h.printf("  %-22s %s\n", "", apiDelta(api0, api1))
		p99s = append(p99s, ratio(m.lat.p99, b.lat.p99))
		perCallback = append(perCallback, writes/float64(n))
		time.Sleep(h.cfg.settle)
	}
	h.printf("  RATIO burst p99 manager/baseline  %v   (target ≤ 2.5)\n", spreadOf(p99s))
	h.printf("  status writes per callback        %.3f (%.3f–%.3f)   (target ≤ 0.2)\n", spreadOf(perCallback).median, spreadOf(perCallback).lo, spreadOf(perCallback).hi)
	return nil
}

func cmpInt(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// --- failovers: callback → ConfigMap, → sink ---

func (h *harness) failoverPhase(ctx context.Context) error {
	n := h.cfg.failovers
	h.printf("\n== Failover: %d callbacks, one at a time, each failing over a resource (2 accounts, spec.publish, a webhook target)\n", n)
	// Every ConfigMap shows the first account before the clock starts.
	deadline := time.Now().Add(2 * time.Minute)
	for r := range n {
		for h.cms.active(fmt.Sprintf("fo-%03d-active", r), time.Time{}) != failoverAccount(r, 0) {
			if time.Now().After(deadline) {
				return fmt.Errorf("ConfigMap fo-%03d-active not published", r)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	c := newClient(1)
	defer c.CloseIdleConnections()
	var toCM, toSink []time.Duration
	for r := range n {
		t0 := time.Now()
		res := send(ctx, c, h.mgr.callback, token, event{app: failoverApp, account: failoverAccount(r, 0), eventTime: t0.UnixMilli()})
		if !res.ok {
			return fmt.Errorf("failover %d: callback answered %s", r, res.key)
		}
		cm, want := fmt.Sprintf("fo-%03d-active", r), failoverAccount(r, 1)
		tCM, err := h.cms.wait(ctx, cm, want, t0, 10*time.Second)
		if err != nil {
			return err
		}
		tSink, err := h.sink.wait(ctx, nsFailover+"/"+fmt.Sprintf("fo-%03d", r), t0, 10*time.Second)
		if err != nil {
			return err
		}
		toCM = append(toCM, tCM.Sub(t0))
		toSink = append(toSink, tSink.Sub(t0))
	}
	cm, sk := summarize(toCM), summarize(toSink)
	h.printf("  callback → ConfigMap shows the new account: %s   (target p99 ≤ 300ms)\n", cm)
	h.printf("  callback → message at the sink:             %s   (target p99 ≤ 1s)\n", sk)
	return nil
}

// cmWatch timestamps every change of the ConfigMaps of a namespace.
type cmWatch struct {
	mu      sync.Mutex
	seen    map[string][]cmObs
	changed chan struct{}
	cancel  context.CancelFunc
}

type cmObs struct {
	at     time.Time
	active string
}

func watchConfigMaps(ctx context.Context, cfg *rest.Config, ns string) (*cmWatch, error) {
	scheme, err := newScheme()
	if err != nil {
		return nil, err
	}
	wc, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &cmWatch{seen: map[string][]cmObs{}, changed: make(chan struct{}), cancel: cancel}
	go func() {
		for ctx.Err() == nil {
			wi, err := wc.Watch(ctx, &corev1.ConfigMapList{}, client.InNamespace(ns))
			if err != nil {
				time.Sleep(200 * time.Millisecond)
				continue
			}
			for e := range wi.ResultChan() {
				now := time.Now()
				cm, ok := e.Object.(*corev1.ConfigMap)
				if !ok || e.Type == watch.Deleted {
					continue
				}
				w.mu.Lock()
				w.seen[cm.Name] = append(w.seen[cm.Name], cmObs{now, cm.Data["activeAccount"]})
				close(w.changed)
				w.changed = make(chan struct{})
				w.mu.Unlock()
			}
			wi.Stop()
		}
	}()
	return w, nil
}

func (w *cmWatch) stop() { w.cancel() }

// active is the account the ConfigMap showed last, when seen at or after since.
func (w *cmWatch) active(name string, since time.Time) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	obs := w.seen[name]
	if len(obs) == 0 || obs[len(obs)-1].at.Before(since) {
		return ""
	}
	return obs[len(obs)-1].active
}

// wait returns when the ConfigMap was first seen showing want after since.
func (w *cmWatch) wait(ctx context.Context, name, want string, since time.Time, timeout time.Duration) (time.Time, error) {
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		for _, o := range w.seen[name] {
			if !o.at.Before(since) && o.active == want {
				w.mu.Unlock()
				return o.at, nil
			}
		}
		ch := w.changed
		w.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			return time.Time{}, fmt.Errorf("ConfigMap %s did not show %s within %v", name, want, timeout)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// sink receives the webhook notifications and timestamps them by resource.
type sink struct {
	url     string
	srv     *http.Server
	mu      sync.Mutex
	got     map[string][]time.Time // "full" messages by resource
	changed chan struct{}
}

func startSink() (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{url: "http://" + ln.Addr().String() + "/notify", got: map[string][]time.Time{}, changed: make(chan struct{})}
	s.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var m struct{ Kind, Resource string }
		if err != nil || json.Unmarshal(body, &m) != nil {
			http.Error(w, "bad message", http.StatusBadRequest)
			return
		}
		if m.Kind == "full" {
			s.mu.Lock()
			s.got[m.Resource] = append(s.got[m.Resource], now)
			close(s.changed)
			s.changed = make(chan struct{})
			s.mu.Unlock()
		}
		w.WriteHeader(http.StatusOK)
	})}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *sink) close() { _ = s.srv.Close() }

func (s *sink) wait(ctx context.Context, resource string, since time.Time, timeout time.Duration) (time.Time, error) {
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		for _, t := range s.got[resource] {
			if !t.Before(since) {
				s.mu.Unlock()
				return t, nil
			}
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			return time.Time{}, fmt.Errorf("no message about %s at the sink within %v", resource, timeout)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}
