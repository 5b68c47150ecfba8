package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/hack/internal/appsim"
	"github.com/oacapacity/oa-capacity-operator/hack/internal/fullcallback"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi/chatapitest"
)

// The growth phase: pools filling up as users subscribe, through add_subscriber, to
// the account the operator publishes, with an app that learns a change of the
// ConfigMap only D later (hack/internal/appsim). Each D has a pool of its own; they
// run at the same time. It reports the subscriptions refused (what acting before an
// account is full removes, issue 16) and the REST calls per second.

const nsGrowth, growthApp = "lt-growth", 1400000105

// growthConfig is the phase's flags.
type growthConfig struct {
	rate         float64
	limit        int64
	accounts     int
	startPercent int
	delays       string
	spec         string
}

func growthFlags(fs *flag.FlagSet, g *growthConfig) {
	fs.Float64Var(&g.rate, "growth-rate", 10, "Growth: users subscribing per second, to each pool.")
	fs.Int64Var(&g.limit, "growth-limit", 10000, "Growth: MaxSubscriberNum of every account.")
	fs.IntVar(&g.accounts, "growth-accounts", 3, "Growth: accounts per pool; the phase ends when every app sends to the last one.")
	fs.IntVar(&g.startPercent, "growth-start-percent", 85, "Growth: how full every account is at the start, in percent of its limit.")
	fs.StringVar(&g.delays, "growth-delays", "10s,60s", "Growth: how late the app uses a change of the published ConfigMap (the kubelet's sync), a pool for each.")
	fs.StringVar(&g.spec, "growth-spec", "", `Growth: a JSON merge patch of every pool's spec, e.g. '{"headroom":{"thresholdPercent":90}}' once the API has spec.headroom; the API server refuses unknown fields.`)
}

func (g growthConfig) check() ([]time.Duration, error) {
	var delays []time.Duration
	for _, s := range strings.Split(g.delays, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || d < 0 || slices.Contains(delays, d) {
			return nil, fmt.Errorf("--growth-delays %q: want distinct durations, e.g. 10s,60s", g.delays)
		}
		delays = append(delays, d)
	}
	switch {
	case g.rate <= 0:
		return nil, errors.New("--growth-rate must be positive")
	case g.limit < 100:
		return nil, errors.New("--growth-limit must be at least 100")
	case g.accounts < 2:
		return nil, errors.New("--growth-accounts must be at least 2")
	case g.startPercent < 0 || g.startPercent > 99:
		return nil, errors.New("--growth-start-percent must be 0 to 99")
	}
	return delays, nil
}

// growthPool is one pool, its app and what happened to it.
type growthPool struct {
	delay   time.Duration
	name    string
	ids     []string
	app     *appsim.App
	done    time.Time // when the app started sending to the last account
	watched chan struct{}
}

func growthAccount(d time.Duration, a int) string { return fmt.Sprintf("@TOA#_g%s_%c", d, 'a'+a) }

func (h *harness) growthPhase(ctx context.Context) error {
	g := h.cfg.growth
	delays, err := g.check()
	if err != nil {
		return err
	}
	start := g.limit * int64(g.startPercent) / 100
	perFill := time.Duration(float64(g.limit-start) / g.rate * float64(time.Second))
	patch := "none"
	if g.spec != "" {
		patch = g.spec
	}
	h.printf("\n== Growth: a pool of %d accounts (limit %d, %d%% full at the start) per D; %g users/s each through add_subscriber to the published account;"+
		" the app uses a change of the ConfigMap D = %s after it; spec patch: %s\n",
		g.accounts, g.limit, g.startPercent, g.rate, g.delays, patch)

	// A fake Chat of its own, whose full callbacks go to the manager, signed.
	fake := &chatapitest.Standalone{Out: os.Stderr, Prefix: "loadtest: growth fake Chat: "}
	defer fake.Close()
	chat := chatapitest.NewServerOn(fake, nil, growthApp, chatAdmin, chatKey)
	chat.RecordRequests(false)
	chat.SetSubscriberMemory(0) // the apps' IDs are all new; counts suffice
	var (
		fillMu sync.Mutex
		fills  = map[string]time.Time{} // account → EventTime of its full callback
		cbOK   atomic.Int64
		cbErrs []string
	)
	sender := &fullcallback.Sender{URL: h.mgr.callback, SDKAppID: growthApp, Token: token,
		Done: func(account string, at time.Time, _ int, err error) {
			fillMu.Lock()
			defer fillMu.Unlock()
			fills[account] = at
			if err != nil {
				cbErrs = append(cbErrs, err.Error())
				return
			}
			cbOK.Add(1)
		}}
	chat.OnFull(sender.Hook)

	if err := h.namespace(ctx, nsGrowth, credentials(map[string]string{
		chatv1alpha1.CredentialAdminIdentifier: chatAdmin, chatv1alpha1.CredentialSecretKey: chatKey})); err != nil {
		return err
	}
	wc, err := client.NewWithWatch(h.restCfg, client.Options{Scheme: h.c.Scheme()})
	if err != nil {
		return err
	}
	appClient := chat.ClientConfig()
	appClient.RateLimit = chatapi.MaxRateLimit // the apps' own budget, not the operator's
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	var pools []*growthPool
	for _, d := range delays {
		p := &growthPool{delay: d, name: "growth-" + strings.ToLower(d.String()), watched: make(chan struct{})}
		for a := range g.accounts {
			id := growthAccount(d, a)
			p.ids = append(p.ids, id)
			chat.AddAccount(chatapitest.Account{ID: id, Name: id, Owner: chatAdmin, SubscriberNum: start, MaxSubscriberNum: g.limit})
		}
		o := pool(nsGrowth, p.name, growthApp, p.ids)
		o.Spec.ChatAPI = &chatv1alpha1.ChatAPISpec{Endpoint: chat.URL()}
		o.Spec.Publish = &chatv1alpha1.PublishSpec{ConfigMapName: p.name + "-active"}
		if err := h.createPatched(ctx, o, g.spec); err != nil {
			return err
		}
		c, err := chatapi.New(appClient)
		if err != nil {
			return err
		}
		if p.app, err = appsim.New(appsim.Config{Chat: c, Rate: g.rate, Delay: d, Prefix: p.name + "-user-"}); err != nil {
			return err
		}
		go func() {
			defer close(p.watched)
			p.app.Watch(watchCtx, wc, nsGrowth, p.name+"-active", "activeAccount", time.Second)
		}()
		pools = append(pools, p)
	}
	defer func() {
		stopWatch()
		for _, p := range pools {
			<-p.watched
		}
	}()
	// Every app knows the first account before the users come.
	if err := waitFor(ctx, time.Minute, func() bool {
		for _, p := range pools {
			if a, _ := p.app.Active(time.Now()); a != p.ids[0] {
				return false
			}
		}
		return true
	}); err != nil {
		return fmt.Errorf("the pools' ConfigMaps do not show their first account: %w", err)
	}

	// The users come; REST calls are counted each second.
	commands := []string{chatapi.CommandGetOfficialAccountInfo, chatapi.CommandModifyOfficialAccount, chatapi.CommandCreateOfficialAccount, chatapi.CommandAddSubscriber}
	counter := startCallCounter(chat, commands)
	t0 := time.Now()
	runCtx, stopApps := context.WithCancel(ctx)
	var running sync.WaitGroup
	for _, p := range pools {
		running.Go(func() { p.app.Run(runCtx, 100*time.Millisecond) })
	}
	// Until every app sends to its pool's last account: (accounts−1) fills and
	// their delays, with room to spare.
	limit := time.Duration(g.accounts-1)*(perFill+slices.Max(delays))*2 + time.Minute
	err = waitFor(ctx, limit, func() bool {
		now := time.Now()
		all := true
		for _, p := range pools {
			if a, _ := p.app.Active(now); a == p.ids[len(p.ids)-1] && p.done.IsZero() {
				p.done = now
			}
			all = all && !p.done.IsZero()
		}
		return all
	})
	stopApps()
	running.Wait()
	elapsed := time.Since(t0)
	perSecond := counter.stop()
	if err != nil {
		h.printf("  stopped after %v: not every app reached its last account\n", elapsed.Round(time.Second))
	}

	// The report.
	since := func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return fmt.Sprintf("%.1fs", t.Sub(t0).Seconds())
	}
	fillMu.Lock()
	defer fillMu.Unlock()
	for _, p := range pools {
		st := p.app.Stats()
		h.printf("  D = %-4v %6d users: %d added, %d REFUSED, %d failed, %d with no account; the app on the last account at %s\n",
			p.delay, st.Attempts, st.Added, st.Refused, st.Failed, st.NoAccount, since(p.done))
		last := p.ids[len(p.ids)-1]
		for i, id := range p.ids[:len(p.ids)-1] {
			var published, from time.Time
			for _, sw := range st.Switches {
				if sw.Account == p.ids[i+1] {
					published, from = sw.Seen, sw.From
				}
			}
			h.printf("    %s full at %s; %s published by %s (the app's read), the app's users go to it from %s; %d refused by %s (Chat counted %d)\n",
				id, since(fills[id]), p.ids[i+1], since(published), since(from), st.ByAccount[id].Refused, id, chat.Refused(id))
		}
		if n := st.ByAccount[last].Refused; n > 0 {
			h.printf("    %s, the last account, filled at %s before the others' end: %d refused by it\n", last, since(fills[last]), n)
		}
	}
	h.printf("  full callbacks sent: %d answered 200, %d failed %v\n", cbOK.Load(), len(cbErrs), cbErrs)
	for i, cmd := range commands {
		var total, peak int
		for _, s := range perSecond {
			total += s[i]
			peak = max(peak, s[i])
		}
		who := "operator"
		if cmd == chatapi.CommandAddSubscriber {
			who = "apps"
		}
		h.printf("  REST %-34s (%s) %6d calls, mean %.2f/s, peak %d/s over %v\n", cmd, who, total,
			float64(total)/max(elapsed.Seconds(), 1), peak, elapsed.Round(time.Second))
	}
	var reads []string
	for sec, s := range perSecond {
		if s[0] > 0 {
			reads = append(reads, fmt.Sprintf("%ds: %d", sec+1, s[0]))
		}
	}
	h.printf("  get_official_account_info calls in the seconds that had any: %s\n", strings.Join(reads, ", "))
	return err
}

// createPatched creates o with the JSON merge patch spec (RFC 7386) applied to its
// spec. The API server validates strictly, so a field it does not know (a spec field
// of a newer API) is an error, not silently dropped.
func (h *harness) createPatched(ctx context.Context, o *chatv1alpha1.OfficialAccountCapacity, spec string) error {
	o.SetGroupVersionKind(chatv1alpha1.GroupVersion.WithKind("OfficialAccountCapacity"))
	raw, err := patchSpec(o, spec)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(raw); err != nil {
		return fmt.Errorf("%s: %w", o.Name, err)
	}
	if err := h.c.Create(ctx, u, client.FieldValidation(metav1.FieldValidationStrict)); err != nil {
		return fmt.Errorf("create %s with spec patch %s: %w", o.Name, spec, err)
	}
	return nil
}

// patchSpec is o as JSON with the merge patch spec applied to its spec.
func patchSpec(o *chatv1alpha1.OfficialAccountCapacity, spec string) ([]byte, error) {
	raw, err := json.Marshal(o)
	if err != nil || spec == "" {
		return raw, err
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	var patch any
	if err := json.Unmarshal([]byte(spec), &patch); err != nil {
		return nil, fmt.Errorf("--growth-spec is not JSON: %w", err)
	}
	pm, ok := patch.(map[string]any)
	if !ok {
		return nil, errors.New("--growth-spec must be a JSON object")
	}
	s, _ := obj["spec"].(map[string]any)
	obj["spec"] = mergePatch(s, pm)
	return json.Marshal(obj)
}

// mergePatch applies a JSON merge patch (RFC 7386) to target: objects merge, null
// deletes, anything else replaces.
func mergePatch(target, patch map[string]any) map[string]any {
	if target == nil {
		target = map[string]any{}
	}
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(target, k)
		case map[string]any:
			tv, _ := target[k].(map[string]any)
			target[k] = mergePatch(tv, pv)
		default:
			target[k] = v
		}
	}
	return target
}

// waitFor polls done every 200 ms until it is true, ctx ends or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, done func() bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for !done() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("not done within %v", timeout)
		case <-tick.C:
		}
	}
	return nil
}

// callCounter counts the fake's calls of some commands each second.
type callCounter struct {
	stopCh chan struct{}
	done   chan [][]int
}

func startCallCounter(chat *chatapitest.Server, commands []string) *callCounter {
	c := &callCounter{stopCh: make(chan struct{}), done: make(chan [][]int, 1)}
	read := func() []int {
		out := make([]int, len(commands))
		for i, cmd := range commands {
			out[i] = chat.Calls(cmd)
		}
		return out
	}
	go func() {
		var perSecond [][]int
		last := read()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-c.stopCh:
				c.done <- perSecond
				return
			case <-t.C:
				now := read()
				d := make([]int, len(now))
				for i := range now {
					d[i] = now[i] - last[i]
				}
				perSecond, last = append(perSecond, d), now
			}
		}
	}()
	return c
}

// stop ends the count and returns the calls of each second, by command.
func (c *callCounter) stop() [][]int {
	close(c.stopCh)
	return <-c.done
}
