// Command send-callback sends Chat webhook callbacks to the operator exactly as the
// Chat backend does: a POST with SdkAppid, CallbackCommand, contenttype, ClientIP,
// OptPlatform and, with a token, RequestTime and Sign in the query, and the JSON body.
// It prints each answer's HTTP status and body, or a summary of a burst.
//
//	send-callback --app 1400000001 --account '@TOA#_support_a' --token "$TOKEN"
//	send-callback --app 1400000001 --account '@TOA#_support_a' --count 1000 --concurrency 50
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/oacapacity/oa-capacity-operator/webhookserver/callback"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop() // not deferred: os.Exit would skip it
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "send-callback:", err)
		os.Exit(1)
	}
}

type options struct {
	url         string
	app         int64
	command     string
	account     string
	eventTime   int64
	token       string
	clientIP    string
	platform    string
	body        string
	count       int
	concurrency int
	timeout     time.Duration
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("send-callback", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.url, "url", "http://127.0.0.1:9292/callback", "The operator's callback URL.")
	fs.Int64Var(&o.app, "app", 0, "SdkAppid of the app (required).")
	fs.StringVar(&o.command, "command", callback.CommandAccountFull, "CallbackCommand.")
	fs.StringVar(&o.account, "account", "", "Official_Account of the body (required unless --body is set).")
	fs.Int64Var(&o.eventTime, "event-time", 0, "EventTime of the body in Unix milliseconds; 0 is the time of sending.")
	fs.StringVar(&o.token, "token", os.Getenv("OAC_CALLBACK_TOKEN"), "The console's webhook Token, to sign with (default $OAC_CALLBACK_TOKEN); empty sends unsigned callbacks.")
	fs.StringVar(&o.clientIP, "client-ip", "127.0.0.1", "ClientIP of the query.")
	fs.StringVar(&o.platform, "platform", "RESTAPI", "OptPlatform of the query.")
	fs.StringVar(&o.body, "body", "", "A raw body to send instead of the one built from --command, --account and --event-time.")
	fs.IntVar(&o.count, "count", 1, "How many callbacks to send.")
	fs.IntVar(&o.concurrency, "concurrency", 1, "How many to send at a time.")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "Timeout of each request (the Chat backend gives up after 2s).")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.app <= 0:
		return o, errors.New("--app is required")
	case o.account == "" && o.body == "":
		return o, errors.New("--account is required (or a raw --body)")
	case o.count < 1 || o.concurrency < 1:
		return o, errors.New("--count and --concurrency must be at least 1")
	case o.timeout <= 0:
		return o, errors.New("--timeout must be positive")
	}
	if _, err := url.Parse(o.url); err != nil {
		return o, fmt.Errorf("--url: %w", err)
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: o.timeout, Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency}}
	if o.count == 1 {
		a := send(ctx, client, o, time.Now())
		if a.err != nil {
			return a.err
		}
		fmt.Fprintf(stdout, "%d %s\n", a.status, a.body)
		if !a.ok() {
			return errors.New("the callback was not accepted")
		}
		return nil
	}
	return burst(ctx, client, o, stdout)
}

// request builds one callback as the Chat backend sends it, at now.
func request(ctx context.Context, o options, now time.Time) (*http.Request, error) {
	u, err := url.Parse(o.url)
	if err != nil {
		return nil, fmt.Errorf("parse --url: %w", err)
	}
	q := u.Query()
	callback.SetQuery(q, o.app, o.command, o.token, now)
	q.Set("ClientIP", o.clientIP)
	q.Set("OptPlatform", o.platform)
	u.RawQuery = q.Encode()
	body := []byte(o.body)
	if o.body == "" {
		et := o.eventTime
		if et == 0 {
			et = now.UnixMilli()
		}
		body = callback.Body(o.command, o.account, et)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

type answer struct {
	status  int
	body    string
	code    int // ErrorCode of a JSON answer; -1 when there was none
	latency time.Duration
	err     error
}

// ok is the answer the Chat backend takes as success.
func (a answer) ok() bool { return a.err == nil && a.status == http.StatusOK && a.code == 0 }

func send(ctx context.Context, client *http.Client, o options, now time.Time) answer {
	req, err := request(ctx, o, now)
	if err != nil {
		return answer{err: err}
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return answer{err: err, latency: time.Since(start)} // a *url.Error names the method and URL
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	lat := time.Since(start)
	if err != nil {
		return answer{err: fmt.Errorf("read answer: %w", err), latency: lat}
	}
	a := answer{status: resp.StatusCode, body: strings.TrimSpace(string(raw)), code: -1, latency: lat}
	var parsed struct{ ErrorCode *int }
	if json.Unmarshal(raw, &parsed) == nil && parsed.ErrorCode != nil {
		a.code = *parsed.ErrorCode
	}
	return a
}

// burst sends o.count callbacks, o.concurrency at a time, and prints how they were
// answered and how long they took.
func burst(ctx context.Context, client *http.Client, o options, stdout io.Writer) error {
	answers := make([]answer, o.count)
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range o.concurrency {
		wg.Go(func() {
			for i := range next {
				answers[i] = send(ctx, client, o, time.Now())
			}
		})
	}
	sent := 0
feed:
	for ; sent < o.count; sent++ {
		select {
		case next <- sent:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)

	outcomes := map[string]int{}
	var lat []time.Duration
	failed := 0
	for _, a := range answers[:sent] {
		key := fmt.Sprintf("%d ErrorCode=%d", a.status, a.code)
		if a.err != nil {
			key = "error: " + a.err.Error()
		}
		outcomes[key]++
		lat = append(lat, a.latency)
		if !a.ok() {
			failed++
		}
	}
	fmt.Fprintf(stdout, "sent %d in %v (%.0f/s)\n", sent, elapsed.Round(time.Millisecond), float64(sent)/elapsed.Seconds())
	keys := make([]string, 0, len(outcomes))
	for k := range outcomes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(stdout, "  %6d  %s\n", outcomes[k], k)
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))].Round(10 * time.Microsecond) }
		fmt.Fprintf(stdout, "latency p50 %v, p99 %v, max %v\n", q(0.5), q(0.99), lat[len(lat)-1].Round(10*time.Microsecond))
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("interrupted after %d: %w", sent, ctx.Err())
	case failed > 0:
		return fmt.Errorf("%d of %d callbacks were not accepted", failed, sent)
	}
	return nil
}
