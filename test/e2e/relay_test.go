package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
	"github.com/oacapacity/oa-capacity-operator/webhookserver/callback"
)

// appBackend is the app's own webhook backend behind the relay: it answers each
// callback with its id, and can go down and come back on the same address.
type appBackend struct {
	addr string
	mu   sync.Mutex
	got  map[string]int // callback id -> times received
	srv  *http.Server
}

func (a *appBackend) start(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", a.addr)
	must(t, err)
	a.addr = ln.Addr().String()
	a.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id := r.URL.Query().Get("id")
		a.mu.Lock()
		a.got[id]++
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"backend saw %s, %d bytes"}`, id, len(body))
	})}
	go func() { _ = a.srv.Serve(ln) }()
}

func (a *appBackend) stop(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	must(t, a.srv.Shutdown(ctx))
}

func (a *appBackend) times(id string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.got[id]
}

// relayOnce sends one signed "Before" callback, carrying id in its query, to a
// replica, once, as Chat does (it does not re-send these); it returns the answer.
func relayOnce(ctx context.Context, c *http.Client, target string, appID int64, token, id string) (int, string, error) {
	u, _ := url.Parse(target)
	q := u.Query()
	callback.SetQuery(q, appID, "C2C.CallbackBeforeSendMsg", token, time.Now())
	leaks.addSign(q.Get("Sign"))
	q.Set("id", id)
	u.RawQuery = q.Encode()
	body := []byte(`{"CallbackCommand":"C2C.CallbackBeforeSendMsg","From_Account":"张三","To_Account":"li","MsgBody":[]}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// Two replicas relay an app's "Before" callbacks to its backend while the backend
// restarts mid-load. Every callback Chat saw answered by the backend reached the
// backend exactly once; every other one Chat saw fail (a non-200, within the
// forward's timeout): nothing is lost that Chat did not see fail.
func TestRelayAcrossBackendRestart(t *testing.T) {
	onSharedPlane(t)
	w := newWorld(t, env)
	app := &appBackend{addr: "127.0.0.1:0", got: map[string]int{}}
	app.start(t)
	t.Cleanup(func() { _ = app.srv.Close() })
	timeout := 500 * time.Millisecond
	w.resource("relay", []string{"@TOA#_relay_a"}, func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
		s.ChatAPI = nil
		s.CallbackForward = &chatv1alpha1.CallbackForwardSpec{URL: "http://" + app.addr + "/im/callback", Timeout: &metav1.Duration{Duration: timeout}}
	})
	ms := replicas(t, 2, env.KubeConfigFile(t), w.ns)
	b := newBackend(w.appID, w.token)
	waitServing(t, b, ms...)
	c := &http.Client{Timeout: 5 * time.Second}
	ctx := context.Background()
	for _, m := range ms { // the relay target is in each replica's cache
		testenv.Eventually(t, 30*time.Second, func() error {
			if code, body, err := relayOnce(ctx, c, m.url(), w.appID, w.token, "probe-"+m.name); err != nil || code != http.StatusOK {
				return fmt.Errorf("%s: %d %s %v", m.name, code, body, err)
			}
			return nil
		})
	}

	type answer struct {
		id     string
		code   int
		body   string
		took   time.Duration
		err    error
		during bool // sent while the backend was down
	}
	var (
		mu      sync.Mutex
		answers []answer
		down    bool
		wg      sync.WaitGroup
	)
	send := func(i int) {
		defer wg.Done()
		id := fmt.Sprintf("cb-%d", i)
		mu.Lock()
		during := down
		mu.Unlock()
		start := time.Now()
		code, body, err := relayOnce(ctx, c, ms[i%2].url(), w.appID, w.token, id)
		mu.Lock()
		answers = append(answers, answer{id, code, body, time.Since(start), err, during})
		mu.Unlock()
	}
	n := scale(600, 3000)
	tick := time.NewTicker(5 * time.Millisecond) // about 200 callbacks a second
	defer tick.Stop()
	for i := range n {
		<-tick.C
		switch i {
		case n / 3:
			app.stop(t)
			mu.Lock()
			down = true
			mu.Unlock()
		case 2 * n / 3:
			app.start(t)
			mu.Lock()
			down = false
			mu.Unlock()
		}
		wg.Add(1)
		go send(i)
	}
	wg.Wait()

	var ok, failed, failedWhileDown int
	for _, a := range answers {
		switch {
		case a.err != nil:
			t.Errorf("%s: no answer from the replica: %v", a.id, a.err)
		case a.code == http.StatusOK:
			ok++
			if want := "backend saw " + a.id; !bytes.Contains([]byte(a.body), []byte(want)) {
				t.Errorf("%s: 200 %q, not the backend's answer", a.id, a.body)
			}
			if got := app.times(a.id); got != 1 {
				t.Errorf("%s: Chat saw the backend's answer, the backend received it %d times", a.id, got)
			}
		default:
			failed++
			if a.during {
				failedWhileDown++
			}
			if a.code != http.StatusBadGateway && a.code != http.StatusGatewayTimeout {
				t.Errorf("%s: %d %q, want 502 or 504", a.id, a.code, a.body)
			}
			if a.took > timeout+time.Second {
				t.Errorf("%s: failed after %v, past the forward's timeout %v", a.id, a.took, timeout)
			}
		}
	}
	t.Logf("%d callbacks: %d answered by the backend, %d failed (%d sent while it was down)", len(answers), ok, failed, failedWhileDown)
	if failedWhileDown == 0 {
		t.Errorf("no callback failed while the backend was down: the restart was not exercised")
	}
	if ok < n/2 {
		t.Errorf("only %d of %d answered by the backend", ok, n)
	}
}
