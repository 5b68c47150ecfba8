// Package appsim plays an app's backend while a pool of Official Accounts fills, for
// make run's local mode and make loadtest: users arrive at a steady rate and the app
// subscribes them (add_subscriber) to the account it believes active. It learns that
// account from the operator's published ConfigMap, read through the API, but uses a
// change only Delay after it was published: the time a pod with the ConfigMap mounted
// as a volume takes to see it (the kubelet's sync). It counts what happened to every
// user: added, refused (the account was full), and so on.
package appsim

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
)

// Config is what New needs.
type Config struct {
	Chat   *chatapi.Client // the app's REST client (add_subscriber)
	Rate   float64         // users arriving per second, > 0
	Delay  time.Duration   // how late the app uses a change of the published account, ≥ 0
	Prefix string          // subscriber IDs are Prefix and a sequence number: unique per run
}

// Counts is what happened to the users who arrived.
type Counts struct {
	Attempts  int64 // users who arrived
	Added     int64 // subscribed (Result 1)
	Already   int64 // were subscribed already (Result 2)
	Refused   int64 // refused (Result 0): the account was full
	Failed    int64 // no answer for them: the REST call failed, or its answer lacked them
	NoAccount int64 // arrived while the app knew no active account ("" published)
}

// Switch is a change of the account the app uses.
type Switch struct {
	Account string    // the account published
	Seen    time.Time // when it was read from the ConfigMap
	From    time.Time // when the app started using it: Seen + Delay (Seen for the first)
}

// Stats is a snapshot of an App.
type Stats struct {
	Counts
	ByAccount map[string]Counts // by the account the users were sent to ("" for NoAccount)
	Switches  []Switch          // every account the app used or will use, in order
	LastError string            // of the last failed REST call; "" when none failed
}

// App is the simulated backend. Observe and Stats are safe for concurrent use; Step
// and Run are for one goroutine.
type App struct {
	cfg Config

	known chan struct{} // closed at the first Observe

	mu        sync.Mutex
	switches  []Switch
	start     time.Time // of the first Step
	arrived   int64     // users who arrived so far, an ID each
	counts    Counts
	byAccount map[string]*Counts
	lastErr   string
}

// New checks cfg and returns an app that knows no account yet.
func New(cfg Config) (*App, error) {
	switch {
	case cfg.Chat == nil:
		return nil, errors.New("appsim: no Chat client")
	case cfg.Rate <= 0:
		return nil, fmt.Errorf("appsim: rate %v is not positive", cfg.Rate)
	case cfg.Delay < 0:
		return nil, fmt.Errorf("appsim: delay %v is negative", cfg.Delay)
	}
	return &App{cfg: cfg, known: make(chan struct{}), byAccount: map[string]*Counts{}}, nil
}

// Known is closed once the app has read the published account: before, it has
// nowhere to send users (they count as NoAccount).
func (a *App) Known() <-chan struct{} { return a.known }

// Observe records that the published account was read as account at seen. The first
// reading is used at once (a pod that starts reads the mounted file as it is); a
// change from seen + Delay on. Reading the same account again changes nothing.
func (a *App) Observe(account string, seen time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n := len(a.switches); n > 0 && a.switches[n-1].Account == account {
		return
	}
	from := seen
	if len(a.switches) > 0 {
		from = seen.Add(a.cfg.Delay)
	} else {
		close(a.known)
	}
	a.switches = append(a.switches, Switch{Account: account, Seen: seen, From: from})
}

// Active returns the account the app uses at t, and whether it knows one: the last
// observed account whose From is not after t.
func (a *App) Active(t time.Time) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.active(t)
}

func (a *App) active(t time.Time) (string, bool) {
	for i := len(a.switches) - 1; i >= 0; i-- {
		if !a.switches[i].From.After(t) {
			return a.switches[i].Account, true
		}
	}
	return "", false
}

// Step subscribes the users who arrived by now: Rate × (now − the first Step) in
// all, less those handled by earlier Steps, all to the account active at now. The
// error is that of the REST call; its users count as Failed.
func (a *App) Step(ctx context.Context, now time.Time) error {
	a.mu.Lock()
	if a.start.IsZero() {
		a.start = now
	}
	n := int64(a.cfg.Rate*now.Sub(a.start).Seconds()) - a.arrived
	if n <= 0 {
		a.mu.Unlock()
		return nil
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = a.cfg.Prefix + strconv.FormatInt(a.arrived+int64(i), 10)
	}
	a.arrived += n
	account, ok := a.active(now)
	if !ok || account == "" {
		a.add("", Counts{Attempts: n, NoAccount: n})
		a.mu.Unlock()
		return nil
	}
	a.mu.Unlock()

	results, err := a.cfg.Chat.AddSubscribers(ctx, account, ids)
	c := Counts{Attempts: n, Failed: n - int64(len(results))}
	for _, r := range results {
		switch {
		case r.Err != nil:
			c.Failed++
		case r.Result == chatapi.SubscribeAdded:
			c.Added++
		case r.Result == chatapi.SubscribeAlreadySubscribed:
			c.Already++
		default:
			c.Refused++
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.add(account, c)
	if err != nil {
		a.lastErr = err.Error()
	}
	return err
}

// add adds c to the counts, in all and of account; a.mu is held.
func (a *App) add(account string, c Counts) {
	for _, to := range []*Counts{&a.counts, a.accountCounts(account)} {
		to.Attempts += c.Attempts
		to.Added += c.Added
		to.Already += c.Already
		to.Refused += c.Refused
		to.Failed += c.Failed
		to.NoAccount += c.NoAccount
	}
}

func (a *App) accountCounts(account string) *Counts {
	c := a.byAccount[account]
	if c == nil {
		c = &Counts{}
		a.byAccount[account] = c
	}
	return c
}

// Run calls Step every tick until ctx ends. A failed REST call does not stop it (the
// app goes on serving users); Stats has the last error. The end of ctx stops the
// arrivals, not a call in flight: its users get their answer.
func (a *App) Run(ctx context.Context, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if ctx.Err() != nil {
				return
			}
			_ = a.Step(context.WithoutCancel(ctx), now)
		}
	}
}

// Stats returns a snapshot of the counts and the switches.
func (a *App) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := Stats{Counts: a.counts, ByAccount: make(map[string]Counts, len(a.byAccount)),
		Switches: append([]Switch(nil), a.switches...), LastError: a.lastErr}
	for k, v := range a.byAccount {
		s.ByAccount[k] = *v
	}
	return s
}
