package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
)

// The relay phase (spec.callbackForward): the same callbacks, at a fixed rate (open
// loop), sent straight to a bare backend (the baseline server) and through the
// manager to that same backend, in alternating runs of one process each. Figures:
// the p99 of each, and the manager's CPU per relayed callback against the bare
// backend's CPU per callback.

const (
	nsRelay, relayApp = "lt-relay", 1400000105
	relayCommand      = "C2C.CallbackBeforeSendMsg"
)

func relayBody(ev event) []byte {
	return fmt.Appendf(nil, `{"CallbackCommand":%q,"From_Account":"user%d","To_Account":"peer","MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"你好, message %d"}}]}`,
		ev.command, ev.eventTime%1000, ev.eventTime)
}

// openLoop sends rate callbacks a second for d, signed with the load token, whatever
// the answers' pace; each latency is measured from the callback's scheduled time, so
// that a generator that falls behind shows as latency, not as a lower rate.
func openLoop(ctx context.Context, base string, rate int, d time.Duration, next func(i int64) event) runStats {
	c := newClient(512)
	defer c.CloseIdleConnections()
	interval := time.Second / time.Duration(rate)
	n := int(d / interval)
	results := make([]result, n)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if w := time.Until(at); w > 0 {
			t := time.NewTimer(w) // pacing the generator, not waiting on the system
			select {
			case <-ctx.Done():
				t.Stop()
				return collect(results[:i], time.Since(start))
			case <-t.C:
			}
		}
		wg.Go(func() {
			r := send(ctx, c, base, token, next(int64(i)))
			r.latency = time.Since(at) // from the scheduled time
			results[i] = r
		})
	}
	wg.Wait()
	return collect(results, d)
}

// processCPU is the CPU seconds (user and system) used so far by process pid.
func processCPU(pid int) float64 {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(raw)
	end := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[end+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}

func (h *harness) relayPhase(ctx context.Context) error {
	h.printf("\n== relay: %d callbacks/s (open loop) of %s, straight to a bare backend and through the manager to it (spec.callbackForward)\n", h.cfg.relayRate, relayCommand)
	if err := h.namespace(ctx, nsRelay, credentials(nil)); err != nil {
		return err
	}
	oac := pool(nsRelay, "relay", relayApp, []string{"@TOA#_relay_a"})
	oac.Spec.CallbackForward = &chatv1alpha1.CallbackForwardSpec{URL: h.baseline}
	if err := h.c.Create(ctx, oac); err != nil {
		return fmt.Errorf("create the relay resource: %w", err)
	}
	var seq int64
	next := func(int64) event {
		seq++
		return event{app: relayApp, account: "@TOA#_relay_a", eventTime: time.Now().UnixMilli()*1000 + seq%1000, command: relayCommand}
	}
	// Relayed once the manager's cache has the resource (403 before).
	if err := waitFor(ctx, 30*time.Second, func() bool {
		return send(ctx, newClient(1), h.mgr.callback, token, next(0)).ok
	}); err != nil {
		return fmt.Errorf("the manager does not relay: %w", err)
	}
	// Warm both paths: connections, the manager's pool to the backend.
	openLoop(ctx, h.baseline, h.cfg.relayRate, time.Second, next)
	openLoop(ctx, h.mgr.callback, h.cfg.relayRate, time.Second, next)

	var directP99, relayedP99 []time.Duration
	var directCPU, relayedCPU, baseInRelay float64
	var directN, relayedN, errs int
	for r := range h.cfg.rounds {
		b0, c0 := processCPU(h.basePID), cpuSeconds(cpuNames...)
		direct := openLoop(ctx, h.baseline, h.cfg.relayRate, h.cfg.duration, next)
		b1, c1 := processCPU(h.basePID), cpuSeconds(cpuNames...)
		directCPU += b1 - b0
		directN += direct.sent
		errs += direct.failed
		h.printRun(fmt.Sprintf("direct, round %d", r+1), direct)
		h.printf("  %s\n", cpuDelta(c0, c1))

		mgr0, bb0, c2 := processCPU(h.mgr.cmd.Process.Pid), processCPU(h.basePID), cpuSeconds(cpuNames...)
		relayed := openLoop(ctx, h.mgr.callback, h.cfg.relayRate, h.cfg.duration, next)
		mgr1, bb1, c3 := processCPU(h.mgr.cmd.Process.Pid), processCPU(h.basePID), cpuSeconds(cpuNames...)
		relayedCPU += mgr1 - mgr0
		baseInRelay += bb1 - bb0
		relayedN += relayed.sent
		errs += relayed.failed
		h.printRun(fmt.Sprintf("relayed, round %d", r+1), relayed)
		h.printf("  %s\n", cpuDelta(c2, c3))
		directP99 = append(directP99, direct.lat.p99)
		relayedP99 = append(relayedP99, relayed.lat.p99)
	}
	for i := range directP99 {
		target := max(directP99[i]*3/2, directP99[i]+5*time.Millisecond)
		verdict := "met"
		if relayedP99[i] > target {
			verdict = "NOT met"
		}
		h.printf("  round %d: p99 direct %v, relayed %v; target ≤ %v: %s\n", i+1,
			directP99[i].Round(10*time.Microsecond), relayedP99[i].Round(10*time.Microsecond), target.Round(10*time.Microsecond), verdict)
	}
	perDirect := directCPU / float64(max(directN, 1))
	perRelayed := relayedCPU / float64(max(relayedN, 1))
	perBaseRelayed := baseInRelay / float64(max(relayedN, 1))
	h.printf("  CPU per callback: bare backend %.1f µs; manager per relayed callback %.1f µs (%.2f× the backend; target ≤ 1.5×); the backend behind the manager %.1f µs\n",
		perDirect*1e6, perRelayed*1e6, perRelayed/max(perDirect, 1e-12), perBaseRelayed*1e6)
	h.printf("  errors: %d of %d callbacks\n", errs, directN+relayedN)
	return nil
}
