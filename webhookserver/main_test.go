package webhookserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/index"
	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

// nextAppID gives each test an app of its own, so tests never see each other's resources.
var nextAppID atomic.Int64

func newAppID() int64 { return 1400000000 + nextAppID.Add(1) }

// harness is one manager running the callback server on loopback.
type harness struct {
	t       testing.TB
	srv     *Server
	url     string
	cache   client.Reader
	metrics *prometheus.Registry
	stop    context.CancelFunc
	done    chan error // receives what the manager's Start returned
	http    *http.Client
}

func startServer(t testing.TB, opts Options) *harness {
	t.Helper()
	if opts.ShutdownDelay == 0 {
		opts.ShutdownDelay = time.Millisecond // tests that need the delay set it
	}
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = 20 * time.Second
	}
	grace := opts.ShutdownDelay + opts.DrainTimeout + 5*time.Second
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                  env.Scheme,
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:  "0",
		GracefulShutdownTimeout: &grace,
		Logger:                  testr.NewWithInterface(t, testr.Options{Verbosity: 0}),
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	opts.BindAddress = "127.0.0.1:0"
	opts.Registerer = reg
	ctx, cancel := context.WithCancel(context.Background())
	if err := index.Setup(ctx, mgr.GetFieldIndexer()); err != nil {
		cancel()
		t.Fatal(err)
	}
	srv, err := AddToManager(mgr, opts)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	h := &harness{t: t, srv: srv, cache: mgr.GetCache(), metrics: reg, stop: cancel, done: make(chan error, 1),
		http: &http.Client{Timeout: 10 * time.Second}}
	go func() { h.done <- mgr.Start(ctx) }()
	waitCtx, waitCancel := context.WithTimeout(ctx, 30*time.Second)
	defer waitCancel()
	addr := srv.Addr(waitCtx)
	if addr == nil {
		cancel()
		t.Fatal("callback server did not start listening")
	}
	h.url = "http://" + addr.String() + "/callback"
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done: //nolint:errcheck // waits for the stop; how it stopped is not this cleanup's check
		case <-time.After(30 * time.Second):
			t.Error("manager did not stop")
		}
	})
	return h
}

// pool creates a credentials Secret (with token, when not empty) and a resource listing
// accounts, and waits until the server's cache has it.
func (h *harness) pool(ns string, appID int64, token string, accounts ...string) *chatv1alpha1.OfficialAccountCapacity {
	h.t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("pool-%d", appID)
	secret := createSecret(h.t, ns, name+"-creds", token)
	oac := &chatv1alpha1.OfficialAccountCapacity{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: chatv1alpha1.OfficialAccountCapacitySpec{
			SDKAppID: appID, Accounts: accounts, CredentialsRef: chatv1alpha1.LocalObjectReference{Name: secret.Name},
		},
	}
	if err := env.Client.Create(ctx, oac); err != nil {
		h.t.Fatal(err)
	}
	h.waitCached(oac)
	return oac
}

// waitCached waits until the server's cache has oac.
func (h *harness) waitCached(oac *chatv1alpha1.OfficialAccountCapacity) {
	h.t.Helper()
	testenv.Eventually(h.t, 10*time.Second, func() error {
		return h.cache.Get(context.Background(), client.ObjectKeyFromObject(oac), &chatv1alpha1.OfficialAccountCapacity{})
	})
}

// createSecret creates a credentials Secret; an empty token leaves callbackToken out.
func createSecret(t testing.TB, ns, name, token string) *corev1.Secret {
	t.Helper()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: map[string][]byte{
		chatv1alpha1.CredentialAdminIdentifier: []byte("administrator"),
		chatv1alpha1.CredentialSecretKey:       []byte("not-a-real-key"),
	}}
	if token != "" {
		secret.Data[chatv1alpha1.CredentialCallbackToken] = []byte(token)
	}
	if err := env.Client.Create(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	return secret
}

// query builds a callback query; a token signs it at now.
func query(appID int64, command, token string, now time.Time) string {
	q := fmt.Sprintf("SdkAppid=%d&CallbackCommand=%s&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI", appID, command)
	if token != "" {
		rt := now.Unix()
		q += "&Sign=" + Sign(token, rt) + "&RequestTime=" + strconv.FormatInt(rt, 10)
	}
	return q
}

func fullBody(account string, eventTime int64) string {
	return fmt.Sprintf(`{"CallbackCommand":%q,"Official_Account":%q,"EventTime":%d}`, CommandAccountFull, account, eventTime)
}

// try sends one callback and returns the HTTP status and the decoded answer, or an
// error when the answer is not the protocol's JSON. Safe to call from any goroutine.
func (h *harness) try(method, rawQuery, body string) (int, answer, error) {
	req, err := http.NewRequest(method, h.url+"?"+rawQuery, bytes.NewBufferString(body))
	if err != nil {
		return 0, answer{}, err
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return 0, answer{}, fmt.Errorf("POST callback: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, answer{}, err
	}
	var a answer
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return 0, answer{}, fmt.Errorf("answer is not the protocol's JSON: %w: %q", err, raw)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		return 0, answer{}, fmt.Errorf("Content-Type = %q", ct)
	}
	return resp.StatusCode, a, nil
}

// post is try for the test goroutine: it fails the test on a malformed answer.
func (h *harness) post(method, rawQuery, body string) (int, answer) {
	h.t.Helper()
	code, a, err := h.try(method, rawQuery, body)
	if err != nil {
		h.t.Fatal(err)
	}
	return code, a
}

// tryFull posts a signed "account full" callback and requires the OK answer. Safe to
// call from any goroutine.
func (h *harness) tryFull(appID int64, token, account string, eventTime int64) error {
	code, a, err := h.try(http.MethodPost, query(appID, CommandAccountFull, token, time.Now()), fullBody(account, eventTime))
	if err == nil && (code != http.StatusOK || a != answerOK) {
		err = fmt.Errorf("callback for %s at %d: HTTP %d %+v, want 200 OK", account, eventTime, code, a)
	}
	return err
}

// full is tryFull for the test goroutine.
func (h *harness) full(appID int64, token, account string, eventTime int64) {
	h.t.Helper()
	if err := h.tryFull(appID, token, account, eventTime); err != nil {
		h.t.Fatal(err)
	}
}

// waitCachedEvent waits until the server's cache shows the event, so that what
// follows sees it as recorded.
func (h *harness) waitCachedEvent(appID int64, account string, eventTime int64) {
	h.t.Helper()
	testenv.Eventually(h.t, 10*time.Second, func() error {
		list, err := h.srv.lookup(context.Background(), index.AppAccount, index.AppAccountKey(appID, account))
		if err != nil {
			return err
		}
		if len(list) != 1 || !list[0].Status.Recorded(account, eventTime) {
			return fmt.Errorf("the cache does not show %s at %d yet", account, eventTime)
		}
		return nil
	})
}

func (h *harness) counter(name string, labels ...string) float64 {
	h.t.Helper()
	var c prometheus.Collector
	switch name {
	case "callbacks":
		c = h.srv.metrics.callbacks.WithLabelValues(labels...)
	case "writes":
		c = h.srv.metrics.writes.WithLabelValues(labels...)
	case "relays":
		c = h.srv.metrics.relays.WithLabelValues(labels...)
	default:
		h.t.Fatalf("unknown counter %s", name)
	}
	return testutil.ToFloat64(c)
}

// stored reads the resource from the API server, not the cache.
func stored(t testing.TB, oac *chatv1alpha1.OfficialAccountCapacity) *chatv1alpha1.OfficialAccountCapacity {
	t.Helper()
	var got chatv1alpha1.OfficialAccountCapacity
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: oac.Namespace, Name: oac.Name}, &got); err != nil {
		t.Fatal(err)
	}
	return &got
}

func accountStatus(oac *chatv1alpha1.OfficialAccountCapacity, id string) *chatv1alpha1.AccountStatus {
	for i := range oac.Status.Accounts {
		if oac.Status.Accounts[i].ID == id {
			return &oac.Status.Accounts[i]
		}
	}
	return nil
}
