package webhookserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/backoff"
	"github.com/oacapacity/oa-capacity-operator/webhookserver/callback"
)

// Outcomes of a relay, the "outcome" label of oacapacity_callback_relays_total.
const (
	relayAnswered    = "answered"    // the backend answered (any status); returned verbatim
	relayTimeout     = "timeout"     // no answer within callbackForward.timeout: 504
	relayUnreachable = "unreachable" // refused, reset, DNS, TLS: 502
	relayTooLarge    = "too_large"   // the answer is over maxRelayAnswer: 502
	relayBadTarget   = "bad_target"  // the url, or its CA bundle, is unusable: 502
	relayQueueFull   = "queue_full"  // background only: the queue was full, not relayed
	relayRejected    = "rejected"    // background only: non-2xx after every attempt
	relayShutdown    = "shutdown"    // background only: still queued when the server stopped
	maxRelayAnswer   = 1 << 20       // the largest answer passed back to Chat
	relayAttempts    = 3             // background: tries of one callback
	relayQueueSize   = 4096          // background: callbacks waiting to be relayed
	relayWorkers     = 4             // background: relays in flight
	relayMaxClients  = 64            // distinct CA bundles kept; past it all are reset
	relayIdlePerHost = 256           // idle keep-alive connections per backend
)

// relayTarget is where a callback goes: the spec.callbackForward of the resource
// chosen for it, and its CA bundle.
type relayTarget struct {
	owner   types.NamespacedName
	url     string
	timeout time.Duration
	ca      []byte // nil: the system's roots only
	caErr   error  // the CA bundle named is missing: nothing is relayed (502)
}

// relayAnswer is what goes back to Chat: the backend's answer, or a failure.
type relayAnswer struct {
	status      int
	contentType []string // nil: the backend sent none, none is sent
	body        []byte
	outcome     string
}

// relayJob is one callback relayed in the background.
type relayJob struct {
	target      *relayTarget
	command     string
	rawQuery    string
	contentType []string
	body        []byte
}

// relayer posts callbacks to apps' backends. One keep-alive client per CA bundle (the
// transport pools connections per host), so that a relay costs no new connection.
type relayer struct {
	metrics  *metrics
	log      logr.Logger
	failures *onceEvery

	mu      sync.Mutex
	clients map[string]*http.Client // by CA bundle

	jobs     chan relayJob
	stopOnce sync.Once
	stop     chan struct{}
	wg       sync.WaitGroup
}

func newRelayer(m *metrics, log logr.Logger, now func() time.Time) *relayer {
	return &relayer{
		metrics:  m,
		log:      log.WithName("relay"),
		failures: newOnceEvery(time.Minute, 1024, now),
		clients:  map[string]*http.Client{},
		jobs:     make(chan relayJob, relayQueueSize),
		stop:     make(chan struct{}),
	}
}

// client returns the shared client of a CA bundle.
func (rl *relayer) client(ca []byte) (*http.Client, error) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if c, ok := rl.clients[string(ca)]; ok {
		return c, nil
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(ca) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(ca) {
			return nil, errors.New("the CA bundle holds no PEM certificate")
		}
		tlsConfig.RootCAs = pool
	}
	if len(rl.clients) >= relayMaxClients {
		for k, c := range rl.clients {
			c.CloseIdleConnections()
			delete(rl.clients, k)
		}
	}
	c := &http.Client{
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:   true,
			TLSClientConfig:     tlsConfig,
			TLSHandshakeTimeout: time.Second,
			MaxIdleConns:        4 * relayIdlePerHost,
			MaxIdleConnsPerHost: relayIdlePerHost,
			IdleConnTimeout:     90 * time.Second,
		},
		// The backend's redirect is its answer, passed to Chat as it is: following it
		// would send users' messages, and the Sign, where the backend did not mean.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	rl.clients[string(ca)] = c
	return c, nil
}

// relay posts one callback to t and returns the backend's answer, or a 502/504 within
// t.timeout (the context's deadline bounds the dial, the write and the read).
func (rl *relayer) relay(ctx context.Context, t *relayTarget, command, rawQuery string, contentType []string, body []byte) relayAnswer {
	start := time.Now()
	a := rl.post(ctx, t, rawQuery, contentType, body)
	rl.metrics.relayLatency.Observe(time.Since(start).Seconds())
	rl.metrics.relays.WithLabelValues(callback.CommandLabel(command), a.outcome).Inc()
	return a
}

func (rl *relayer) post(ctx context.Context, t *relayTarget, rawQuery string, contentType []string, body []byte) relayAnswer {
	u, err := chatv1alpha1.ParseForwardURL(t.url)
	if err != nil {
		return rl.failed(t, relayBadTarget, err)
	}
	if t.caErr != nil {
		return rl.failed(t, relayBadTarget, t.caErr)
	}
	c, err := rl.client(t.ca)
	if err != nil {
		return rl.failed(t, relayBadTarget, fmt.Errorf("caBundleKey: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	u.RawQuery = rawQuery // Chat's, unchanged: the backend checks the Sign itself
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return rl.failed(t, relayBadTarget, err)
	}
	if contentType != nil {
		req.Header["Content-Type"] = contentType
	}
	req.Header.Set("User-Agent", "oa-capacity-operator-relay")
	resp, err := c.Do(req)
	if err != nil {
		return rl.failed(t, failure(ctx, err), withoutQuery(err, t.url))
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(io.LimitReader(resp.Body, maxRelayAnswer+1))
	switch {
	case err != nil:
		return rl.failed(t, failure(ctx, err), fmt.Errorf("read the answer: %w", err))
	case len(got) > maxRelayAnswer:
		return rl.failed(t, relayTooLarge, fmt.Errorf("the answer is over %d bytes", maxRelayAnswer))
	}
	return relayAnswer{status: resp.StatusCode, contentType: resp.Header["Content-Type"], body: got, outcome: relayAnswered}
}

// withoutQuery is err with the request's URL cut to the target's: Chat's query,
// appended to it, carries the Sign, which is never logged.
func withoutQuery(err error, target string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, target, ue.Err)
	}
	return err
}

// failure names why a request failed: its deadline passed, or anything else.
func failure(ctx context.Context, err error) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return relayTimeout
	}
	return relayUnreachable
}

// failed is the answer Chat gets when the backend's cannot be had: what calling the
// backend directly would have given it, a non-200, so that it applies its default.
func (rl *relayer) failed(t *relayTarget, outcome string, err error) relayAnswer {
	rl.failures.log(t.url+"\x00"+outcome, func() {
		rl.log.Error(err, "cannot relay callbacks to the app's backend; Chat gets a non-200 answer and applies its default",
			"officialAccountCapacity", t.owner, "url", t.url, "outcome", outcome)
	})
	status, info := http.StatusBadGateway, "the app's backend did not answer"
	switch outcome {
	case relayTimeout:
		status, info = http.StatusGatewayTimeout, "the app's backend did not answer in time"
	case relayTooLarge:
		info = "the app's backend answered more than the relay passes on"
	case relayBadTarget:
		info = "the app's backend is not configured correctly"
	}
	b, _ := jsonAnswer(failAnswer(status, info))
	return relayAnswer{status: status, contentType: []string{"application/json; charset=utf-8"}, body: b, outcome: outcome}
}

// enqueue relays a callback in the background; it never blocks.
func (rl *relayer) enqueue(j relayJob) {
	select {
	case rl.jobs <- j:
	default:
		rl.metrics.relays.WithLabelValues(callback.CommandLabel(j.command), relayQueueFull).Inc()
		rl.failures.log(j.target.url+"\x00"+relayQueueFull, func() {
			rl.log.Info("background relay queue is full; a callback is not relayed to the app's backend",
				"officialAccountCapacity", j.target.owner, "url", j.target.url)
		})
	}
}

// start runs the background workers until shutdown.
func (rl *relayer) start() {
	for range relayWorkers {
		rl.wg.Add(1)
		go func() {
			defer rl.wg.Done()
			for {
				select {
				case j := <-rl.jobs:
					rl.background(j)
				case <-rl.stop:
					return
				}
			}
		}()
	}
}

// background relays j with bounded retries: a non-2xx answer or a failure is tried
// again, up to relayAttempts, with backoff.
func (rl *relayer) background(j relayJob) {
	ctx := context.Background()
	for attempt := 1; ; attempt++ {
		start := time.Now()
		a := rl.post(ctx, j.target, j.rawQuery, j.contentType, j.body)
		rl.metrics.relayLatency.Observe(time.Since(start).Seconds())
		if a.outcome == relayAnswered && a.status/100 == 2 {
			rl.metrics.relays.WithLabelValues(callback.CommandLabel(j.command), relayAnswered).Inc()
			return
		}
		if attempt == relayAttempts || a.outcome == relayBadTarget {
			outcome := a.outcome
			if outcome == relayAnswered {
				outcome = relayRejected
				rl.failures.log(j.target.url+"\x00"+outcome, func() {
					rl.log.Info("the app's backend refused a relayed callback", "officialAccountCapacity", j.target.owner,
						"url", j.target.url, "status", a.status)
				})
			}
			rl.metrics.relays.WithLabelValues(callback.CommandLabel(j.command), outcome).Inc()
			return
		}
		select {
		case <-rl.stop:
			rl.metrics.relays.WithLabelValues(callback.CommandLabel(j.command), relayShutdown).Inc()
			return
		case <-time.After(backoff.Delay(100*time.Millisecond, 2*time.Second, attempt, rand.Uint32())):
		}
	}
}

// shutdown stops the workers once the queue is relayed, or ctx ends; what is still
// queued then is counted and dropped.
func (rl *relayer) shutdown(ctx context.Context) {
	for len(rl.jobs) > 0 && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
	rl.stopOnce.Do(func() { close(rl.stop) })
	rl.wg.Wait()
	for {
		select {
		case j := <-rl.jobs:
			rl.metrics.relays.WithLabelValues(callback.CommandLabel(j.command), relayShutdown).Inc()
		default:
			return
		}
	}
}

// relayTarget chooses where a callback of app goes: the spec.callbackForward of the
// oldest resource of the app that sets one and whose own Secret's callbackToken
// verifies this callback's Sign. A resource that cannot show the app's token (another
// namespace naming the same sdkAppID) never gets the app's callbacks, whatever its
// age. With --callback-allow-unsigned, a resource whose Secret has no token is chosen
// only when no token verifies. nil: no resource relays this callback.
func (s *Server) relayTarget(ctx context.Context, cb callback.Callback, app []*chatv1alpha1.OfficialAccountCapacity) (*relayTarget, error) {
	var fwd []*chatv1alpha1.OfficialAccountCapacity
	for _, o := range app {
		if o.Spec.CallbackForward != nil && o.DeletionTimestamp.IsZero() {
			fwd = append(fwd, o)
		}
	}
	if len(fwd) == 0 {
		return nil, nil
	}
	sort.Slice(fwd, func(i, j int) bool { return chatv1alpha1.Older(fwd[i], fwd[j]) })
	var unsigned *chatv1alpha1.OfficialAccountCapacity
	for _, o := range fwd {
		key := types.NamespacedName{Namespace: o.Namespace, Name: o.Spec.CredentialsRef.Name}
		token, err := s.tokens.token(ctx, key)
		switch {
		case err != nil:
			continue
		case token != "":
			if callback.CheckSign(cb, token, s.opts.Now(), s.opts.MaxClockSkew) == nil {
				return s.targetOf(ctx, o, key)
			}
		case s.opts.AllowUnsigned && unsigned == nil:
			unsigned = o
		}
	}
	if unsigned != nil {
		return s.targetOf(ctx, unsigned, types.NamespacedName{Namespace: unsigned.Namespace, Name: unsigned.Spec.CredentialsRef.Name})
	}
	return nil, nil
}

func (s *Server) targetOf(ctx context.Context, o *chatv1alpha1.OfficialAccountCapacity, secret types.NamespacedName) (*relayTarget, error) {
	f := o.Spec.CallbackForward
	t := &relayTarget{owner: client.ObjectKeyFromObject(o), url: f.URL, timeout: f.ForwardTimeout()}
	if f.CABundleKey != "" {
		ca, err := s.tokens.value(ctx, secret, f.CABundleKey)
		if err != nil {
			return nil, err
		}
		if len(ca) == 0 {
			t.caErr = fmt.Errorf("caBundleKey: Secret %s has no key %s", secret, f.CABundleKey)
		}
		t.ca = ca
	}
	return t, nil
}

// writeRelayed writes the backend's answer as it came: status, Content-Type, body.
func writeRelayed(w http.ResponseWriter, a relayAnswer) {
	h := w.Header()
	h["Content-Type"] = a.contentType // nil: none, and no sniffing either
	noBody := a.status == http.StatusNoContent || a.status == http.StatusNotModified
	if !noBody {
		h.Set("Content-Length", strconv.Itoa(len(a.body)))
	}
	w.WriteHeader(a.status)
	if !noBody {
		_, _ = w.Write(a.body)
	}
}
