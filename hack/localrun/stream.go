package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/hack/internal/appsim"
	"github.com/oacapacity/oa-capacity-operator/hack/internal/fullcallback"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi/chatapitest"
	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
)

// Bounds of a stream's parameters: well under the fake's and the client's limits.
const (
	maxStreamRate    = 5000
	maxStreamSeconds = 3600
)

// streamer plays an app's users for POST /stream: they arrive at a rate and are
// subscribed (add_subscriber, in the fake Chat) to the account the app believes
// active. The app reads the published ConfigMap through the API but uses a change
// only a delay later, as a pod with the ConfigMap mounted waits for the kubelet's
// sync. The answer streams what happens, line by line, and ends with the refused
// count: what acting ahead of the limit would save.
type streamer struct {
	chat      chatapi.Config // the app's REST client's
	kube      client.WithWatch
	namespace string // of the published ConfigMap
	configMap string
	key       string
	seq       atomic.Int64 // numbers the streams, for unique subscriber IDs
}

// streamParams are the query of POST /stream.
type streamParams struct {
	rate    float64
	seconds int
	delay   time.Duration
}

func parseStreamParams(r *http.Request) (streamParams, error) {
	p := streamParams{rate: 50, seconds: 60, delay: 10 * time.Second}
	if v := r.FormValue("rate"); v != "" {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f <= 0 || f > maxStreamRate {
			return p, fmt.Errorf("rate must be a number of users per second, above 0 and at most %d", maxStreamRate)
		}
		p.rate = f
	}
	if v := r.FormValue("seconds"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > maxStreamSeconds {
			return p, fmt.Errorf("seconds must be 1 to %d", maxStreamSeconds)
		}
		p.seconds = n
	}
	if v := r.FormValue("delay"); v != "" {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d < 0 || d > time.Hour {
			return p, fmt.Errorf("delay must be a duration from 0s to 1h, e.g. 10s")
		}
		p.delay = d
	}
	return p, nil
}

func (s *streamer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, err := parseStreamParams(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c, err := chatapi.New(s.chat)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	app, err := appsim.New(appsim.Config{Chat: c, Rate: p.rate, Delay: p.delay,
		Prefix: fmt.Sprintf("user-%d-", s.seq.Add(1))})
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	out := &flushWriter{w: w, rc: http.NewResponseController(w)}
	fmt.Fprintf(out, "%g users a second for %ds, to the account published in configmap/%s; the app uses a change %v after it\n",
		p.rate, p.seconds, s.configMap, p.delay)

	watchCtx, stopWatch := context.WithCancel(r.Context())
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		app.Watch(watchCtx, s.kube, s.namespace, s.configMap, s.key, time.Second)
	}()
	defer func() { stopWatch(); <-watched }()

	// The users come once the app knows where to send them.
	select {
	case <-app.Known():
	case <-time.After(10 * time.Second):
		fmt.Fprintf(out, "configmap/%s shows no account after 10s; is spec.publish set?\n", s.configMap)
		return
	case <-r.Context().Done():
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(p.seconds)*time.Second)
	defer cancel()
	ran := make(chan struct{})
	go func() { defer close(ran); app.Run(ctx, 100*time.Millisecond) }()
	report(ctx, out, app, app.Stats().Switches[0].Seen)
	<-ran
	summary(out, app.Stats())
}

// report prints, once a second, what the app learnt and, every 5 s, the counts so
// far, until ctx ends.
func report(ctx context.Context, out io.Writer, app *appsim.App, start time.Time) {
	since := func(t time.Time) string { return fmt.Sprintf("%5.1fs", t.Sub(start).Seconds()) }
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	printed := 0
	for i := 1; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		st := app.Stats()
		for _, sw := range st.Switches[printed:] {
			if printed == 0 {
				fmt.Fprintf(out, "%s  the app starts with %s\n", since(sw.Seen), orNone(sw.Account))
			} else {
				fmt.Fprintf(out, "%s  %s is published; the app uses it from %s\n", since(sw.Seen), orNone(sw.Account), strings.TrimSpace(since(sw.From)))
			}
		}
		printed = len(st.Switches)
		if i%5 == 0 {
			active, _ := app.Active(time.Now())
			fmt.Fprintf(out, "%s  sending to %s; so far %s\n", since(time.Now()), orNone(active), countsLine(st.Counts))
		}
	}
}

func summary(out io.Writer, st appsim.Stats) {
	fmt.Fprintf(out, "done: %d users: %s\n", st.Attempts, countsLine(st.Counts))
	accounts := make([]string, 0, len(st.ByAccount))
	for a := range st.ByAccount {
		accounts = append(accounts, a)
	}
	slices.Sort(accounts)
	for _, a := range accounts {
		fmt.Fprintf(out, "  %s: %s\n", orNone(a), countsLine(st.ByAccount[a]))
	}
	if st.LastError != "" {
		fmt.Fprintf(out, "last REST error: %s\n", st.LastError)
	}
}

func countsLine(c appsim.Counts) string {
	s := fmt.Sprintf("%d added, %d refused", c.Added, c.Refused)
	if c.Already > 0 {
		s += fmt.Sprintf(", %d already subscribed", c.Already)
	}
	if c.Failed > 0 {
		s += fmt.Sprintf(", %d failed", c.Failed)
	}
	if c.NoAccount > 0 {
		s += fmt.Sprintf(", %d with no account to go to", c.NoAccount)
	}
	return s
}

func orNone(account string) string {
	if account == "" {
		return "(no account)"
	}
	return account
}

// flushWriter sends each write to the client at once, so that curl shows the lines
// as they come.
type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f *flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}

// playSubscribers makes the fake Chat send the operator a signed full callback when a
// subscription fills an account, as Chat does, and returns the handler of POST
// /stream, whose users subscribe to the account oac publishes.
func playSubscribers(chat *chatapitest.Server, env *testenv.Env, oac *chatv1alpha1.OfficialAccountCapacity, callbackURL string) (*streamer, error) {
	chat.RecordRequests(false) // the local mode runs for long; nothing reads them
	sender := &fullcallback.Sender{URL: callbackURL, SDKAppID: oac.Spec.SDKAppID, Token: demoCallbackToken,
		Done: func(account string, _ time.Time, status int, err error) {
			if err != nil {
				fmt.Fprintf(os.Stderr, "localrun: fake Chat: %s is full; its callback failed: %v\n", account, err)
				return
			}
			fmt.Fprintf(os.Stderr, "localrun: fake Chat: %s is full; sent the signed callback, answered %d\n", account, status)
		}}
	chat.OnFull(sender.Hook)
	kube, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		return nil, fmt.Errorf("client for the stream's watch: %w", err)
	}
	key := oac.Spec.Publish.Key
	if key == "" {
		key = "activeAccount" // the API's default
	}
	return &streamer{chat: chat.ClientConfig(), kube: kube, namespace: oac.Namespace,
		configMap: oac.Spec.Publish.ConfigMapName, key: key}, nil
}
