package webhookserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
)

// received is one request as the app's backend saw it.
type received struct {
	rawQuery    string
	contentType []string
	body        []byte
}

// backend is an httptest server playing the app's own webhook backend: it records
// every request and answers with answer.
type backend struct {
	*httptest.Server
	got chan received
}

func newBackend(t *testing.T, answer http.HandlerFunc) *backend {
	t.Helper()
	b := &backend{got: make(chan received, 100)}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("backend: read body: %v", err)
		}
		if r.Method != http.MethodPost || r.URL.Path != "/im/callback" {
			t.Errorf("backend: %s %s, want POST /im/callback", r.Method, r.URL.Path)
		}
		b.got <- received{r.URL.RawQuery, r.Header["Content-Type"], body}
		answer(w, r)
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) url() string { return b.URL + "/im/callback" }

// next waits for the backend's next request.
func (b *backend) next(t *testing.T) received {
	t.Helper()
	select {
	case r := <-b.got:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the backend received nothing")
		return received{}
	}
}

// none checks that the backend has received nothing.
func (b *backend) none(t *testing.T) {
	t.Helper()
	select {
	case r := <-b.got:
		t.Fatalf("the backend received %q %q", r.rawQuery, r.body)
	default:
	}
}

// forwardPool creates a resource named name of appID with callbackForward to url, and
// its Secret holding token (and extra keys).
func (h *harness) forwardPool(ns, name string, appID int64, token, url string, timeout time.Duration, extra map[string][]byte, accounts ...string) *chatv1alpha1.OfficialAccountCapacity {
	h.t.Helper()
	secret := createSecretData(h.t, ns, name+"-creds", token, extra)
	fwd := &chatv1alpha1.CallbackForwardSpec{URL: url}
	if timeout > 0 {
		fwd.Timeout = &metav1.Duration{Duration: timeout}
	}
	if _, ok := extra["ca.crt"]; ok {
		fwd.CABundleKey = "ca.crt"
	}
	oac := &chatv1alpha1.OfficialAccountCapacity{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: chatv1alpha1.OfficialAccountCapacitySpec{
			SDKAppID: appID, Accounts: accounts, CredentialsRef: chatv1alpha1.LocalObjectReference{Name: secret.Name},
			CallbackForward: fwd,
		},
	}
	if err := env.Client.Create(context.Background(), oac); err != nil {
		h.t.Fatal(err)
	}
	h.waitCached(oac)
	return oac
}

func createSecretData(t testing.TB, ns, name, token string, extra map[string][]byte) *metav1.ObjectMeta {
	t.Helper()
	s := createSecret(t, ns, name, token)
	if len(extra) > 0 {
		for k, v := range extra {
			s.Data[k] = v
		}
		if err := env.Client.Update(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	return &s.ObjectMeta
}

// raw posts a callback and returns the answer as it came.
func (h *harness) raw(rawQuery, contentType string, body []byte) (*http.Response, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+"?"+rawQuery, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp, got
}

const beforeSend = "C2C.CallbackBeforeSendMsg"

func beforeSendBody() []byte {
	return []byte(`{"CallbackCommand":"C2C.CallbackBeforeSendMsg","From_Account":"张三","To_Account":"li-si","MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"你好 👋 \u00e9\\u4f60"}}]}`)
}

func TestRelayIsByteExactBothWays(t *testing.T) {
	h := startServer(t, Options{})
	ns := env.Namespace(t)
	appID := newAppID()
	answers := []struct {
		status int
		ctype  []string
		body   string
	}{
		{200, []string{"application/json; charset=utf-8"}, `{"ActionStatus":"OK","ErrorInfo":"拒绝: 敏感词","ErrorCode":1}`},
		{200, []string{"text/plain; x=y"}, "not even JSON\x00\xff"},
		{403, nil, "refused"},
		{500, []string{"application/json"}, `{"ActionStatus":"FAIL"}`},
		{204, nil, ""},
	}
	var n atomic.Int32
	b := newBackend(t, func(w http.ResponseWriter, _ *http.Request) {
		a := answers[n.Add(1)-1]
		w.Header()["Content-Type"] = a.ctype
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	})
	h.forwardPool(ns, "app", appID, "tok", b.url(), 0, nil, "@TOA#_a")

	for i, a := range answers {
		// Extra and repeated parameters, escapes and their spelling are the backend's
		// to see as Chat sent them.
		q := query(appID, beforeSend, "tok", time.Now()) + "&Extra=%E4%BD%A0%20x&Extra=2&OptPlatform2=Web+x"
		body := beforeSendBody()
		resp, got := h.raw(q, "application/json; charset=UTF-8", body)
		r := b.next(t)
		if r.rawQuery != q {
			t.Errorf("%d: backend query %q, want %q", i, r.rawQuery, q)
		}
		if !bytes.Equal(r.body, body) {
			t.Errorf("%d: backend body %q, want %q", i, r.body, body)
		}
		if len(r.contentType) != 1 || r.contentType[0] != "application/json; charset=UTF-8" {
			t.Errorf("%d: backend Content-Type %q", i, r.contentType)
		}
		if resp.StatusCode != a.status || string(got) != a.body {
			t.Errorf("%d: Chat got %d %q, want %d %q", i, resp.StatusCode, got, a.status, a.body)
		}
		if ct := resp.Header["Content-Type"]; strings.Join(ct, ",") != strings.Join(a.ctype, ",") {
			t.Errorf("%d: Chat got Content-Type %q, want %q", i, ct, a.ctype)
		}
	}
	if got := h.counter("callbacks", beforeSend, resultRelayed); got != 0 {
		// C2C commands are counted as "other": a caller cannot grow the label set.
		t.Errorf("callbacks{%s,relayed} = %v", beforeSend, got)
	}
	if got := h.counter("callbacks", "other", resultRelayed); got != float64(len(answers)) {
		t.Errorf("callbacks{other,relayed} = %v, want %d", got, len(answers))
	}
	if got := h.counter("relays", "other", relayAnswered); got != float64(len(answers)) {
		t.Errorf("relays{other,answered} = %v, want %d", got, len(answers))
	}
}

func TestRelayNeverCarriesUnauthenticatedCallbacks(t *testing.T) {
	h := startServer(t, Options{})
	ns := env.Namespace(t)
	appID := newAppID()
	b := newBackend(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"ActionStatus":"OK"}`) })
	h.forwardPool(ns, "app", appID, "tok", b.url(), 0, nil, "@TOA#_a")
	now := time.Now()
	stale := now.Add(-2 * time.Minute).Unix()
	cases := []struct {
		name  string
		query string
		want  int
	}{
		{"unsigned", query(appID, beforeSend, "", now), http.StatusUnauthorized},
		{"wrong token", query(appID, beforeSend, "not-the-token", now), http.StatusUnauthorized},
		{"stale RequestTime", fmt.Sprintf("SdkAppid=%d&CallbackCommand=%s&Sign=%s&RequestTime=%d", appID, beforeSend, Sign("tok", stale), stale), http.StatusUnauthorized},
		{"Sign of another RequestTime", fmt.Sprintf("SdkAppid=%d&CallbackCommand=%s&Sign=%s&RequestTime=%d", appID, beforeSend, Sign("tok", now.Unix()-1), now.Unix()), http.StatusUnauthorized},
		{"another SdkAppid", query(appID+1000000, beforeSend, "tok", now), http.StatusForbidden},
		{"full callback unsigned", query(appID, CommandAccountFull, "", now), http.StatusUnauthorized},
	}
	for _, tc := range cases {
		body := beforeSendBody()
		if strings.Contains(tc.name, "full") {
			body = []byte(fullBody("@TOA#_a", now.UnixMilli()))
		}
		resp, got := h.raw(tc.query, "application/json", body)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, resp.StatusCode, got, tc.want)
		}
	}
	// The authenticated one is the first the backend sees.
	q := query(appID, beforeSend, "tok", now)
	if resp, _ := h.raw(q, "application/json", beforeSendBody()); resp.StatusCode != http.StatusOK {
		t.Fatalf("signed callback: %d", resp.StatusCode)
	}
	if r := b.next(t); r.rawQuery != q {
		t.Fatalf("the backend received %q first, want the signed callback", r.rawQuery)
	}
	b.none(t)
}

func TestRelayFailuresAnswerNon200WithinTimeout(t *testing.T) {
	h := startServer(t, Options{})
	ns := env.Namespace(t)
	const timeout = 300 * time.Millisecond
	const margin = 150 * time.Millisecond // a shared machine under -race

	// Down: a port that refuses.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String() + "/im/callback"
	_ = ln.Close()

	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	slow := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	huge := newBackend(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(bytes.Repeat([]byte("x"), maxRelayAnswer+1))
	})
	var followed atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Add(1) }))
	t.Cleanup(elsewhere.Close)
	redirect := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/steal", http.StatusTemporaryRedirect)
	})
	justUnder := newBackend(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(bytes.Repeat([]byte("y"), maxRelayAnswer))
	})

	cases := []struct {
		name    string
		url     string
		status  int
		outcome string
		size    int // of the answer, when relayed
		timeout time.Duration
	}{
		{"backend down", down, http.StatusBadGateway, relayUnreachable, -1, timeout},
		{"slow past timeout", slow.url(), http.StatusGatewayTimeout, relayTimeout, -1, timeout},
		{"answer over 1 MiB", huge.url(), http.StatusBadGateway, relayTooLarge, -1, timeout},
		{"redirect not followed", redirect.url(), http.StatusTemporaryRedirect, relayAnswered, -1, timeout},
		// 1 MiB through -race on a shared machine: the longest timeout allowed.
		{"answer of exactly 1 MiB", justUnder.url(), http.StatusOK, relayAnswered, maxRelayAnswer, chatv1alpha1.MaxForwardTimeout},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			appID := newAppID()
			h.forwardPool(ns, fmt.Sprintf("app-%d", i), appID, "tok", tc.url, tc.timeout, nil, "@TOA#_a")
			start := time.Now()
			resp, got := h.raw(query(appID, beforeSend, "tok", time.Now()), "application/json", beforeSendBody())
			took := time.Since(start)
			if resp.StatusCode != tc.status {
				t.Errorf("answer %d %q, want %d", resp.StatusCode, got, tc.status)
			}
			if took > tc.timeout+margin {
				t.Errorf("answered after %v, past the timeout %v", took, tc.timeout)
			}
			if tc.size >= 0 && len(got) != tc.size {
				t.Errorf("answer of %d bytes, want %d", len(got), tc.size)
			}
			if h.counter("relays", "other", tc.outcome) < 1 {
				t.Errorf("relays{other,%s} not counted", tc.outcome)
			}
		})
	}
	if n := followed.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times", n)
	}
}

func TestRelayFullCallbackIsRecordedAndRelayed(t *testing.T) {
	h := startServer(t, Options{})
	ns := env.Namespace(t)
	appID := newAppID()
	b := newBackend(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"ActionStatus":"OK"}`) })
	oac := h.forwardPool(ns, "app", appID, "tok", b.url(), 0, nil, "@TOA#_a")
	et := time.Now().UnixMilli()
	q := query(appID, CommandAccountFull, "tok", time.Now())
	body := fullBody("@TOA#_a", et)
	code, a := h.post(http.MethodPost, q, body)
	if code != http.StatusOK || a != answerOK {
		t.Fatalf("full callback: %d %+v", code, a)
	}
	if st := accountStatus(stored(t, oac), "@TOA#_a"); st == nil || !st.Full || st.LastEventTime != et {
		t.Fatalf("not recorded before the OK: %+v", st)
	}
	r := b.next(t)
	if r.rawQuery != q || string(r.body) != body {
		t.Fatalf("backend got %q %q, want %q %q", r.rawQuery, r.body, q, body)
	}
	testenv.Eventually(t, 5*time.Second, func() error {
		if got := h.counter("relays", CommandAccountFull, relayAnswered); got != 1 {
			return fmt.Errorf("relays{full,answered} = %v", got)
		}
		return nil
	})
}

func TestRelayFullCallbackRetriesInTheBackground(t *testing.T) {
	h := startServer(t, Options{})
	ns := env.Namespace(t)
	appID := newAppID()
	var calls atomic.Int32
	b := newBackend(t, func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	h.forwardPool(ns, "app", appID, "tok", b.url(), 0, nil, "@TOA#_a")
	h.full(appID, "tok", "@TOA#_a", time.Now().UnixMilli())
	first, second := b.next(t), b.next(t)
	if first.rawQuery != second.rawQuery || !bytes.Equal(first.body, second.body) {
		t.Fatalf("the retry differs: %q vs %q", first.rawQuery, second.rawQuery)
	}
	testenv.Eventually(t, 5*time.Second, func() error {
		if got := h.counter("relays", CommandAccountFull, relayAnswered); got != 1 {
			return fmt.Errorf("relays{full,answered} = %v", got)
		}
		return nil
	})
}

// Two namespaces name the same app; only the one whose Secret holds the app's token
// gets its callbacks, although the other is older and its forward is set.
func TestRelayTargetNeedsTheAppsToken(t *testing.T) {
	h := startServer(t, Options{})
	appID := newAppID()
	intruder := newBackend(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "intruder") })
	owner := newBackend(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "owner") })
	other := h.forwardPool(env.Namespace(t), "squatter", appID, "guessed-token", intruder.url(), 0, nil, "@TOA#_b")
	// Make sure the intruder's resource is the older one.
	testenv.Eventually(t, 5*time.Second, func() error {
		if time.Now().Unix() <= other.CreationTimestamp.Unix() {
			return fmt.Errorf("same second as the intruder's creation")
		}
		return nil
	})
	h.forwardPool(env.Namespace(t), "app", appID, "tok", owner.url(), 0, nil, "@TOA#_a")

	for range 3 {
		resp, got := h.raw(query(appID, beforeSend, "tok", time.Now()), "application/json", beforeSendBody())
		if resp.StatusCode != http.StatusOK || string(got) != "owner" {
			t.Fatalf("answer %d %q, want the owner's", resp.StatusCode, got)
		}
		owner.next(t)
	}
	h.full(appID, "tok", "@TOA#_a", time.Now().UnixMilli())
	owner.next(t)
	// The intruder's own token authenticates callbacks for its resource only: signed
	// with it, they reach its backend, which is where the intruder could send them anyway.
	intruder.none(t)
}

func TestRelayUnsignedWhenAllowed(t *testing.T) {
	h := startServer(t, Options{AllowUnsigned: true})
	ns := env.Namespace(t)
	appID := newAppID()
	b := newBackend(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	h.forwardPool(ns, "app", appID, "", b.url(), 0, nil, "@TOA#_a")
	q := query(appID, beforeSend, "", time.Now())
	resp, got := h.raw(q, "application/json", beforeSendBody())
	if resp.StatusCode != http.StatusOK || string(got) != "ok" {
		t.Fatalf("answer %d %q", resp.StatusCode, got)
	}
	if r := b.next(t); r.rawQuery != q {
		t.Fatalf("backend query %q, want %q", r.rawQuery, q)
	}
}

func TestRelayWithoutForwardAnswersAsBefore(t *testing.T) {
	h := startServer(t, Options{})
	ns := env.Namespace(t)
	appID := newAppID()
	h.pool(ns, appID, "tok", "@TOA#_a")
	code, a := h.post(http.MethodPost, query(appID, beforeSend, "tok", time.Now()), string(beforeSendBody()))
	if code != http.StatusOK || a != answerOK {
		t.Fatalf("%d %+v, want the OK of an ignored callback", code, a)
	}
}

func TestRelayCABundleMissing(t *testing.T) {
	h := startServer(t, Options{})
	ns := env.Namespace(t)
	appID := newAppID()
	// The key is named but holds nothing: nothing is relayed, Chat gets a 502.
	h.forwardPool(ns, "app", appID, "tok", "https://127.0.0.1:1/im/callback", 0, map[string][]byte{"ca.crt": {}}, "@TOA#_a")
	resp, got := h.raw(query(appID, beforeSend, "tok", time.Now()), "application/json", beforeSendBody())
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("%d %q, want 502", resp.StatusCode, got)
	}
	if h.counter("relays", "other", relayBadTarget) != 1 {
		t.Error("bad_target not counted")
	}
}

// A failed relay's error names the backend, never Chat's query: it carries the Sign.
func TestRelayErrorsCarryNoSign(t *testing.T) {
	target := "http://127.0.0.1:1/im/callback"
	_, err := http.Post(target+"?Sign=0123abcd&RequestTime=1", "application/json", strings.NewReader("{}"))
	if err == nil {
		t.Fatal("a POST to port 1 succeeded")
	}
	got := withoutQuery(err, target).Error()
	if strings.Contains(got, "0123abcd") || !strings.Contains(got, target) {
		t.Errorf("error %q: want the target and no Sign", got)
	}
	if plain := errors.New("read the answer: EOF"); withoutQuery(plain, target) != plain {
		t.Error("an error without a URL is changed")
	}
}
