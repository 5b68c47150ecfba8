package controllers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/controllers"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi/chatapitest"
	"github.com/oacapacity/oa-capacity-operator/internal/index"
	"github.com/oacapacity/oa-capacity-operator/internal/notify"
	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
	"github.com/oacapacity/oa-capacity-operator/webhookserver"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	// Each test has its own namespace and manager, and mostly waits (the repeat,
	// headroom and notification tests for a minute or half of one): eight at a time
	// take the package from 3.5 minutes to 1.5 on two cores.
	testenv.WaitingParallel(8)
	os.Exit(testenv.Run(m, &env))
}

var nextAppID atomic.Int64

const (
	admin = "administrator"
	token = "callback-token"
	owner = "ops-admin"
)

// harness is one test's world: a namespace, a fake Chat REST server for its app, and
// a manager (callback receiver and controller) that sees only that namespace, as the
// operator would see the cluster.
type harness struct {
	t     *testing.T
	ns    string
	appID int64
	key   string
	chat  *chatapitest.Server

	url        string               // the receiver's callback URL
	reg        *prometheus.Registry // the running manager's metrics
	reconciles atomic.Int64         // reconciles of the running manager
	stop       func()               // stops the running manager and waits for it
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, ns: env.Namespace(t), appID: 1400100000 + nextAppID.Add(1)}
	h.key = "secret-key-of-" + h.ns
	h.chat = chatapitest.NewServer(t, h.appID, admin, h.key)
	h.chat.AddAccount(chatapitest.Account{ID: "@TOA#_a", Name: "A", Owner: owner, MaxSubscriberNum: 100})
	h.chat.AddAccount(chatapitest.Account{ID: "@TOA#_b", Name: "B", Owner: owner, MaxSubscriberNum: 100})
	t.Cleanup(func() {
		if m := h.chat.Malformed(); len(m) > 0 {
			t.Errorf("malformed REST requests: %+v", m)
		}
	})
	return h
}

// start runs a manager; transport, when not nil, carries its REST calls.
func (h *harness) start(transport http.RoundTripper) {
	t := h.t
	t.Helper()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{h.ns: {}}, ByObject: controllers.CacheByObject()},
		Controller:             config.Controller{SkipNameValidation: new(true)},
		Logger:                 testr.NewWithInterface(t, testr.Options{Verbosity: 1}),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := index.Setup(ctx, mgr.GetFieldIndexer()); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h.reg = reg
	srv, err := webhookserver.AddToManager(mgr, webhookserver.Options{
		BindAddress: "127.0.0.1:0", Registerer: reg, ShutdownDelay: time.Millisecond, DrainTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := controllers.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := h.chat.ClientConfig()
	tmpl.MaxAttempts, tmpl.BaseBackoff = 2, 10*time.Millisecond
	if transport != nil {
		tmpl.HTTPClient = &http.Client{Transport: transport, Timeout: 30 * time.Second}
	}
	rec := &controllers.OfficialAccountCapacityReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
		Events:  mgr.GetEventRecorder("oa-capacity-operator"),
		Chat:    &controllers.ChatClients{Template: tmpl, Metrics: metrics},
		Notify:  controllers.NotifyOptions{Template: notify.Config{BaseBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}},
		Metrics: metrics,
		Now:     func() time.Time { h.reconciles.Add(1); return time.Now() },
	}
	if err := rec.SetupWithManager(mgr, controller.Options{}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stopped := false
	h.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("manager: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("manager did not stop")
		}
	}
	t.Cleanup(h.stop)
	waitCtx, waitCancel := context.WithTimeout(ctx, 30*time.Second)
	defer waitCancel()
	addr := srv.Addr(waitCtx)
	if addr == nil {
		t.Fatal("callback server did not start")
	}
	h.url = "http://" + addr.String() + "/callback"
}

// secret creates the credentials Secret "chat-app" with the given data keys.
func (h *harness) secret(data map[string]string) {
	h.t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "chat-app", Namespace: h.ns}, StringData: data}
	if err := env.Client.Create(context.Background(), s); err != nil {
		h.t.Fatal(err)
	}
}

// credentials are a full credentials Secret for the fake server.
func (h *harness) credentials() map[string]string {
	return map[string]string{
		chatv1alpha1.CredentialCallbackToken:   token,
		chatv1alpha1.CredentialAdminIdentifier: admin,
		chatv1alpha1.CredentialSecretKey:       h.key,
	}
}

// create creates the resource "pool" for accounts a and b, pointed at the fake REST
// server; mutate changes its spec first.
func (h *harness) create(mutate func(*chatv1alpha1.OfficialAccountCapacitySpec)) {
	h.t.Helper()
	oac := &chatv1alpha1.OfficialAccountCapacity{
		ObjectMeta: metav1.ObjectMeta{Name: "pool", Namespace: h.ns},
		Spec: chatv1alpha1.OfficialAccountCapacitySpec{
			SDKAppID: h.appID, Accounts: []string{"@TOA#_a", "@TOA#_b"},
			CredentialsRef: chatv1alpha1.LocalObjectReference{Name: "chat-app"},
			ChatAPI:        &chatv1alpha1.ChatAPISpec{Endpoint: h.chat.URL()},
		},
	}
	if mutate != nil {
		mutate(&oac.Spec)
	}
	if err := env.Client.Create(context.Background(), oac); err != nil {
		h.t.Fatal(err)
	}
}

// full sends a signed "account full" callback to the receiver, as the Chat backend
// does, and requires the OK answer.
func (h *harness) full(account string, eventTime time.Time) {
	h.t.Helper()
	rt := time.Now().Unix()
	q := fmt.Sprintf("SdkAppid=%d&CallbackCommand=%s&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI&Sign=%s&RequestTime=%d",
		h.appID, webhookserver.CommandAccountFull, webhookserver.Sign(token, rt), rt)
	body := fmt.Sprintf(`{"CallbackCommand":%q,"Official_Account":%q,"EventTime":%d}`, webhookserver.CommandAccountFull, account, eventTime.UnixMilli())
	resp, err := http.Post(h.url+"?"+q, "application/json", strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a struct{ ActionStatus string }
	if err := json.Unmarshal(raw, &a); err != nil || resp.StatusCode != http.StatusOK || a.ActionStatus != "OK" {
		h.t.Fatalf("callback for %s: HTTP %d %s", account, resp.StatusCode, raw)
	}
}

// startPool is where most tests begin: the fake server's credentials, a running
// manager, and the resource "pool" (its spec changed by mutate), active on its primary.
func (h *harness) startPool(mutate func(*chatv1alpha1.OfficialAccountCapacitySpec)) *chatv1alpha1.OfficialAccountCapacity {
	h.t.Helper()
	return h.startPoolVia(nil, mutate)
}

// startPoolVia is startPool with the manager's REST calls carried by transport.
func (h *harness) startPoolVia(transport http.RoundTripper, mutate func(*chatv1alpha1.OfficialAccountCapacitySpec)) *chatv1alpha1.OfficialAccountCapacity {
	h.t.Helper()
	h.secret(h.credentials())
	h.start(transport)
	h.create(mutate)
	return h.active("@TOA#_a")
}

// fill brings each account to its limit on the fake server, then sends its full
// callback, all with one EventTime, as Chat would when they fill up together.
func (h *harness) fill(accounts ...string) {
	h.t.Helper()
	now := time.Now()
	for _, id := range accounts {
		a, ok := h.chat.Account(id)
		if !ok {
			h.t.Fatalf("the fake server has no account %s", id)
		}
		h.chat.SetSubscriberNum(id, a.MaxSubscriberNum)
	}
	for _, id := range accounts {
		h.full(id, now)
	}
}

// serverLimit waits until the fake server's limit of account is want.
func (h *harness) serverLimit(account string, want int64) {
	h.t.Helper()
	testEventually(h.t, func() error {
		if a, _ := h.chat.Account(account); a.MaxSubscriberNum != want {
			return fmt.Errorf("fake server's limit of %s = %d, want %d", account, a.MaxSubscriberNum, want)
		}
		return nil
	})
}

// account waits until the stored status of account passes check.
func (h *harness) account(id string, timeout time.Duration, check func(chatv1alpha1.AccountStatus) error) *chatv1alpha1.OfficialAccountCapacity {
	h.t.Helper()
	return h.wait(timeout, func(o *chatv1alpha1.OfficialAccountCapacity) error {
		if err := check(accountOf(o, id)); err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		return nil
	})
}

// annotate sets an annotation of the resource "pool".
func (h *harness) annotate(key, value string) {
	h.t.Helper()
	o := h.get()
	orig := o.DeepCopy()
	if o.Annotations == nil {
		o.Annotations = map[string]string{}
	}
	o.Annotations[key] = value
	if err := env.Client.Patch(context.Background(), o, client.MergeFrom(orig)); err != nil {
		h.t.Fatal(err)
	}
}

// resource reads another resource of the test's namespace.
func (h *harness) resource(name string) (*chatv1alpha1.OfficialAccountCapacity, error) {
	o := &chatv1alpha1.OfficialAccountCapacity{}
	err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: h.ns, Name: name}, o)
	return o, err
}

// get reads the resource from the API server.
func (h *harness) get() *chatv1alpha1.OfficialAccountCapacity {
	h.t.Helper()
	oac := &chatv1alpha1.OfficialAccountCapacity{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: h.ns, Name: "pool"}, oac); err != nil {
		h.t.Fatal(err)
	}
	return oac
}

// wait polls the stored resource until check passes.
func (h *harness) wait(timeout time.Duration, check func(*chatv1alpha1.OfficialAccountCapacity) error) *chatv1alpha1.OfficialAccountCapacity {
	h.t.Helper()
	var last *chatv1alpha1.OfficialAccountCapacity
	testenv.Eventually(h.t, timeout, func() error {
		last = h.get()
		return check(last)
	})
	return last
}

// active waits until status.activeAccount is id.
func (h *harness) active(id string) *chatv1alpha1.OfficialAccountCapacity {
	h.t.Helper()
	return h.wait(10*time.Second, func(o *chatv1alpha1.OfficialAccountCapacity) error {
		if o.Status.ActiveAccount != id {
			return fmt.Errorf("activeAccount = %q, want %q; status %s", o.Status.ActiveAccount, id, dump(o.Status))
		}
		return nil
	})
}

// condition waits until condition typ has status and reason.
func (h *harness) condition(typ string, status metav1.ConditionStatus, reason string) *metav1.Condition {
	h.t.Helper()
	var c *metav1.Condition
	h.wait(15*time.Second, func(o *chatv1alpha1.OfficialAccountCapacity) error {
		c = meta.FindStatusCondition(o.Status.Conditions, typ)
		if c == nil || c.Status != status || c.Reason != reason {
			return fmt.Errorf("%s = %+v, want %s/%s", typ, c, status, reason)
		}
		return nil
	})
	return c
}

// events returns the notes of the Events about the resource with reason.
func (h *harness) events(reason string) []string {
	h.t.Helper()
	var list eventsv1.EventList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(h.ns)); err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Name == "pool" && e.Reason == reason {
			out = append(out, e.Note)
		}
	}
	return out
}

// event waits for an Event with reason whose note contains want.
func (h *harness) event(reason, want string) {
	h.t.Helper()
	testenv.Eventually(h.t, 10*time.Second, func() error {
		for _, n := range h.events(reason) {
			if strings.Contains(n, want) {
				return nil
			}
		}
		return fmt.Errorf("no %s event with %q; have %q", reason, want, h.events(reason))
	})
}

// gauge waits until the gauge metric of resource name has value want; want < 0 waits
// until the resource has no such series.
func (h *harness) gauge(metric, name string, want float64) {
	h.t.Helper()
	testenv.Eventually(h.t, 10*time.Second, func() error {
		mfs, err := h.reg.Gather()
		if err != nil {
			return fmt.Errorf("gather metrics: %w", err)
		}
		var got []string
		for _, mf := range mfs {
			if mf.GetName() != metric {
				continue
			}
			for _, m := range mf.GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if labels["namespace"] != h.ns || labels["name"] != name {
					continue
				}
				if v := m.GetGauge().GetValue(); v == want {
					return nil
				} else {
					got = append(got, strconv.FormatFloat(v, 'g', -1, 64))
				}
			}
		}
		if want < 0 && len(got) == 0 {
			return nil
		}
		return fmt.Errorf("%s{namespace=%q,name=%q} = %v, want %v (negative: no series)", metric, h.ns, name, got, want)
	})
}

// configMap returns the data of the published ConfigMap "pool-active".
func (h *harness) configMap() (map[string]string, error) {
	var cm corev1.ConfigMap
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: h.ns, Name: "pool-active"}, &cm); err != nil {
		return nil, err
	}
	return cm.Data, nil
}

func dump(v any) string {
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(v)
	return strings.TrimSpace(b.String())
}

func accountOf(o *chatv1alpha1.OfficialAccountCapacity, id string) chatv1alpha1.AccountStatus {
	if a := o.Status.Account(id); a != nil {
		return *a
	}
	return chatv1alpha1.AccountStatus{}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// sink is a notification target on loopback: it answers with the statuses it is given,
// then 200 "ok", and keeps every request.
type sink struct {
	srv *httptest.Server

	mu       sync.Mutex
	statuses []int
	requests []sinkRequest
}

type sinkRequest struct {
	status int
	header http.Header
	body   []byte
}

func newSink(t *testing.T, statuses ...int) *sink {
	s := &sink{statuses: statuses}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		status := http.StatusOK
		if len(s.statuses) > 0 {
			status, s.statuses = s.statuses[0], s.statuses[1:]
		}
		s.requests = append(s.requests, sinkRequest{status, r.Header.Clone(), body})
		s.mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// answer makes the next n requests get status.
func (s *sink) answer(status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statuses = nil
	for range n {
		s.statuses = append(s.statuses, status)
	}
}

func (s *sink) all() []sinkRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkRequest(nil), s.requests...)
}

// accepted returns the bodies answered 2xx.
func (s *sink) accepted() []string {
	var out []string
	for _, r := range s.all() {
		if r.status/100 == 2 {
			out = append(out, string(r.body))
		}
	}
	return out
}

// waitAccepted waits up to 15 s until the sink accepted n messages.
func (s *sink) waitAccepted(t *testing.T, n int) []string {
	t.Helper()
	return s.waitAcceptedWithin(t, n, 15*time.Second)
}

// waitAcceptedWithin waits up to timeout until the sink accepted n messages.
func (s *sink) waitAcceptedWithin(t *testing.T, n int, timeout time.Duration) []string {
	t.Helper()
	testenv.Eventually(t, timeout, func() error {
		if got := len(s.accepted()); got != n {
			return fmt.Errorf("%d messages accepted, want %d: %q", got, n, s.accepted())
		}
		return nil
	})
	return s.accepted()
}

// target creates the Secret of a notify target with url (and signingKey when set).
func (h *harness) target(name, url, signingKey string) *chatv1alpha1.LocalObjectReference {
	h.t.Helper()
	data := map[string]string{chatv1alpha1.NotifyURLKey: url}
	if signingKey != "" {
		data[chatv1alpha1.NotifySigningKey] = signingKey
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "target-" + name, Namespace: h.ns}, StringData: data}
	if err := env.Client.Create(context.Background(), s); err != nil {
		h.t.Fatal(err)
	}
	return &chatv1alpha1.LocalObjectReference{Name: s.Name}
}

// quiet lets the operator run for d, for tests about what must not happen.
func quiet(d time.Duration) {
	t := time.NewTimer(d)
	<-t.C
}
