package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oacapacity/oa-capacity-operator/webhookserver/callback"
)

// The load generator. The manager and the bare baseline server are hit by this same
// code: the same client, the same connection handling, the same request construction
// (the Sign is computed per request, as the Chat backend does).

// event is one callback to send.
type event struct {
	app       int64
	account   string
	eventTime int64  // Unix ms
	command   string // "": the full callback
}

// request builds a callback as the Chat backend sends it (and as hack/send-callback
// does), signed with token at now.
func request(ctx context.Context, base string, token string, ev event, now time.Time) (*http.Request, error) {
	q := url.Values{}
	cmd, body := callback.CommandAccountFull, []byte(nil)
	if ev.command != "" {
		cmd = ev.command
		body = relayBody(ev)
	} else {
		body = callback.Body(cmd, ev.account, ev.eventTime)
	}
	callback.SetQuery(q, ev.app, cmd, token, now)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// result is how one callback was answered.
type result struct {
	key     string // "200 ErrorCode=0", "error: ..."
	ok      bool
	latency time.Duration
}

func send(ctx context.Context, c *http.Client, base, token string, ev event) result {
	start := time.Now()
	req, err := request(ctx, base, token, ev, start)
	if err != nil {
		return result{key: "error: " + err.Error()}
	}
	resp, err := c.Do(req)
	if err != nil {
		return result{key: "error: " + shortErr(err), latency: time.Since(start)}
	}
	raw, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	lat := time.Since(start)
	if err != nil {
		return result{key: "error: read answer", latency: lat}
	}
	var a struct{ ErrorCode *int }
	code := -1
	if json.Unmarshal(raw, &a) == nil && a.ErrorCode != nil {
		code = *a.ErrorCode
	}
	return result{key: fmt.Sprintf("%d ErrorCode=%d", resp.StatusCode, code), ok: resp.StatusCode == http.StatusOK && code == 0, latency: lat}
}

func shortErr(err error) string {
	var ue *url.Error
	if e, ok := err.(*url.Error); ok {
		ue = e
		return ue.Err.Error()
	}
	return err.Error()
}

// newClient is the client of one run: fresh connections, at most conns of them.
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 15 * time.Second, // past the receiver's 10 s hold
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// runStats is what one run measured.
type runStats struct {
	sent    int
	elapsed time.Duration
	answers map[string]int
	failed  int
	lat     summary
	rawLat  []time.Duration
	rps     float64
}

func collect(results []result, elapsed time.Duration) runStats {
	st := runStats{sent: len(results), elapsed: elapsed, answers: map[string]int{}}
	for _, r := range results {
		st.answers[r.key]++
		if !r.ok {
			st.failed++
		}
		st.rawLat = append(st.rawLat, r.latency)
	}
	st.lat = summarize(st.rawLat)
	if elapsed > 0 {
		st.rps = float64(st.sent) / elapsed.Seconds()
	}
	return st
}

// closedLoop keeps conns callbacks in flight on conns keep-alive connections for
// warmup+d; only those sent after the warmup are counted. next picks the i-th event.
func closedLoop(ctx context.Context, base, token string, conns int, warmup, d time.Duration, next func(i int64) event) runStats {
	c := newClient(conns)
	defer c.CloseIdleConnections()
	var seq atomic.Int64
	start := time.Now()
	measureFrom, end := start.Add(warmup), start.Add(warmup+d)
	per := make([][]result, conns)
	var wg sync.WaitGroup
	for w := range conns {
		wg.Go(func() {
			for ctx.Err() == nil {
				now := time.Now()
				if !now.Before(end) {
					return
				}
				r := send(ctx, c, base, token, next(seq.Add(1)))
				if now.After(measureFrom) {
					per[w] = append(per[w], r)
				}
			}
		})
	}
	wg.Wait()
	var all []result
	for _, rs := range per {
		all = append(all, rs...)
	}
	return collect(all, d)
}

// burst sends every event at once, each on a connection of its own (a fresh client:
// nothing is open before), and waits for all answers.
func burst(ctx context.Context, base, token string, events []event) runStats {
	c := newClient(len(events))
	defer c.CloseIdleConnections()
	results := make([]result, len(events))
	gate := make(chan struct{})
	var ready, wg sync.WaitGroup
	for i, ev := range events {
		ready.Add(1)
		wg.Go(func() {
			ready.Done()
			<-gate
			results[i] = send(ctx, c, base, token, ev)
		})
	}
	ready.Wait()
	start := time.Now()
	close(gate)
	wg.Wait()
	return collect(results, time.Since(start))
}

// okAnswer is the answer of the bare baseline server: the receiver's OK, byte for byte.
var okAnswer = []byte(`{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}` + "\n")

// serveBaseline is the bare net/http server of the baseline: it reads the body and
// answers OK. It runs in a process of its own, as the manager does; it prints its
// address on stdout and serves until killed.
func serveBaseline(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stdout, ln.Addr().String())
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			_, _ = w.Write(okAnswer)
		}),
	}
	return srv.Serve(ln)
}
