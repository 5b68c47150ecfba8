// Package hostile fires malformed and hostile requests at the real manager binary
// (bin/manager, built by `make build`) from outside, over TCP, and checks that each
// gets its documented answer, that none writes anything or leaks a secret, and that
// the manager stays healthy and goes on recording valid callbacks afterwards.
// docs/callbacks.md ("Hostile input") says what it covers and what it does not.
package hostile

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

// The fixture: app A authenticates with a token; app B's Secret has no callbackToken.
// The names are distinctive so that an answer that leaks one is found.
const (
	token         = "hostile-T0ken-5f1c9a"
	secretName    = "hostile-creds-7d2e"
	noTokenSecret = "hostile-notoken-3b8f"

	appA       int64 = 1400011001
	appB       int64 = 1400011002
	unknownApp int64 = 1400011999

	accountA  = "@TOA#_hostile_one"
	accountA2 = "@TOA#_hostile_two"
	accountB  = "@TOA#_hostile_b"
	unlisted  = "@TOA#_hostile_nobody"

	full  = "OfficialAccount.CallbackAfterOfficialAccountFull"
	other = "OfficialAccount.CallbackAfterSendMsg"

	path    = "/callback"
	maxBody = 8192
	// The server's ReadTimeout and ReadHeaderTimeout (webhookserver.Start).
	readTimeout       = 10 * time.Second
	readHeaderTimeout = 5 * time.Second
)

// sign is the Chat webhook Sign, computed here rather than with the code under test.
func sign(tok string, rt int64) string {
	sum := sha256.Sum256([]byte(tok + strconv.FormatInt(rt, 10)))
	return hex.EncodeToString(sum[:])
}

// values is the query the Chat backend sends; a token signs it at rt.
func values(app int64, cmd, tok string, rt time.Time) url.Values {
	v := url.Values{"SdkAppid": {strconv.FormatInt(app, 10)}, "CallbackCommand": {cmd},
		"contenttype": {"json"}, "ClientIP": {"127.0.0.1"}, "OptPlatform": {"RESTAPI"}}
	if tok != "" {
		v.Set("RequestTime", strconv.FormatInt(rt.Unix(), 10))
		v.Set("Sign", sign(tok, rt.Unix()))
	}
	return v
}

// edit returns v changed by f, encoded.
func edit(v url.Values, f func(url.Values)) string {
	c := url.Values{}
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	f(c)
	return c.Encode()
}

func fullBody(account string, eventTime int64) string {
	b, _ := json.Marshal(map[string]any{"CallbackCommand": full, "Official_Account": account, "EventTime": eventTime})
	return string(b)
}

// row is one kind of hostile request and the answer it must get.
type row struct {
	name string
	// An HTTP request, sent with net/http's client: method (POST when empty), query
	// and body to the callback path, with extra headers.
	method, query, body string
	header              http.Header
	// raw, when set, is written as is to a TCP connection instead (method then names
	// the request's method, for reading the answer).
	raw string
	// want is the HTTP status; ok means ActionStatus OK (else FAIL with ErrorCode want).
	want int
	ok   bool
	// plain: net/http answers before any handler runs, in plain text: plainBody, by
	// default the status line ("400 Bad Request"); plainEmpty: with no body at all.
	plain      bool
	plainBody  string
	plainEmpty bool
}

// fixture is the running manager and what the rows need.
type fixture struct {
	addr    string // callback host:port
	probes  string // probes host:port
	http    *http.Client
	baseET  int64 // the EventTime recorded before the battery
	ns      string
	secrets []string // strings no answer may contain
}

func TestHostileInput(t *testing.T) {
	manager := managerBinary(t)
	ctx := context.Background()
	ns := env.Namespace(t)
	f := &fixture{ns: ns, secrets: []string{token, secretName, noTokenSecret},
		http: &http.Client{Timeout: 10 * time.Second,
			Transport:     &http.Transport{DisableKeepAlives: true},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}

	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: secretName, Namespace: ns}, Data: map[string][]byte{chatv1alpha1.CredentialCallbackToken: []byte(token)}},
		{ObjectMeta: metav1.ObjectMeta{Name: noTokenSecret, Namespace: ns}, Data: map[string][]byte{chatv1alpha1.CredentialAdminIdentifier: []byte("administrator")}},
	} {
		if err := env.Client.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	// App A's own backend (spec.callbackForward): whatever reaches it must be a
	// callback of app A that Chat could have signed. It answers as the operator does,
	// so that the rows relayed to it see the answer they expect.
	var relayed, unauthenticated atomic.Int64
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		relayed.Add(1)
		q := r.URL.Query()
		rt, _ := strconv.ParseInt(q.Get("RequestTime"), 10, 64)
		if q.Get("SdkAppid") != strconv.FormatInt(appA, 10) || !strings.EqualFold(q.Get("Sign"), sign(token, rt)) || // hex: the receiver takes either case

			time.Since(time.Unix(rt, 0)).Abs() > 2*time.Minute {
			unauthenticated.Add(1)
			t.Errorf("an unauthenticated callback reached the app's backend: %s", r.URL.RawQuery)
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = io.WriteString(w, `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`+"\n")
	}))
	t.Cleanup(backend.Close)
	oacA := &chatv1alpha1.OfficialAccountCapacity{ObjectMeta: metav1.ObjectMeta{Name: "signed", Namespace: ns},
		Spec: chatv1alpha1.OfficialAccountCapacitySpec{SDKAppID: appA, Accounts: []string{accountA, accountA2},
			CredentialsRef:  chatv1alpha1.LocalObjectReference{Name: secretName},
			CallbackForward: &chatv1alpha1.CallbackForwardSpec{URL: backend.URL + "/im"}}}
	oacB := &chatv1alpha1.OfficialAccountCapacity{ObjectMeta: metav1.ObjectMeta{Name: "unsigned", Namespace: ns},
		Spec: chatv1alpha1.OfficialAccountCapacitySpec{SDKAppID: appB, Accounts: []string{accountB},
			CredentialsRef: chatv1alpha1.LocalObjectReference{Name: noTokenSecret}}}
	for _, o := range []client.Object{oacA, oacB} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	f.addr, f.probes = testenv.FreePort(t), testenv.FreePort(t)
	log := startManager(t, manager, f.probes, "--callback-bind-address", f.addr,
		"--callback-max-body-bytes", strconv.Itoa(maxBody), "--callback-max-clock-skew", "1m")

	// A first event recorded for app A, once the manager's cache has the resource;
	// the rows that must be accepted repeat it, so that they write nothing.
	f.baseET = time.Now().Add(-time.Hour).UnixMilli()
	testenv.Eventually(t, 30*time.Second, func() error {
		return f.expectOK(values(appA, full, token, time.Now()).Encode(), fullBody(accountA, f.baseET))
	})
	// App B is cached once it is no longer an unknown app (403).
	testenv.Eventually(t, 30*time.Second, func() error {
		resp, _, err := f.do(http.MethodPost, path+"?"+values(appB, other, "", time.Now()).Encode(), `{"CallbackCommand":"`+other+`"}`, nil)
		if err != nil {
			return err
		}
		if resp.StatusCode == http.StatusForbidden {
			return errors.New("app B is not cached yet")
		}
		return nil
	})
	beforeA, beforeB := settled(t, oacA), settled(t, oacB)
	if a := accountStatus(beforeA, accountA); a == nil || a.LastEventTime != f.baseET {
		t.Fatalf("the first event is not recorded: %+v", beforeA.Status)
	}

	// The slow rows take up to the server's timeouts: they run alongside the table.
	slowBody, slowHeaders := f.slowBody(), f.slowHeaders()

	rows := f.rows(time.Now())
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) { f.check(t, r) })
	}

	t.Run("500 concurrent bad requests", func(t *testing.T) { f.concurrent(t, 500) })

	t.Run("slow body is cut off by the read timeout", func(t *testing.T) {
		res := <-slowBody
		t.Logf("slow body: %s after %v", res.outcome(), res.elapsed.Round(100*time.Millisecond))
		if res.elapsed > readTimeout+3*time.Second {
			t.Errorf("the connection was held %v, want it answered or closed within the read timeout %v (+3s)", res.elapsed, readTimeout)
		}
		if res.resp != nil {
			// An answer from the handler (its body read failed): the JSON shape, 4xx.
			if res.resp.StatusCode != http.StatusBadRequest && res.resp.StatusCode != http.StatusRequestTimeout {
				t.Errorf("HTTP %d, want 400 or 408, or the connection closed", res.resp.StatusCode)
			}
			f.checkJSON(t, res.resp, res.body, res.resp.StatusCode, false, http.MethodPost)
		}
	})
	t.Run("slow headers are cut off by the header timeout", func(t *testing.T) {
		res := <-slowHeaders
		t.Logf("slow headers: %s after %v", res.outcome(), res.elapsed.Round(100*time.Millisecond))
		if res.elapsed > readHeaderTimeout+3*time.Second {
			t.Errorf("the connection was held %v, want it closed within the header timeout %v (+3s)", res.elapsed, readHeaderTimeout)
		}
		if res.resp != nil && res.resp.StatusCode != http.StatusRequestTimeout && res.resp.StatusCode != http.StatusBadRequest {
			t.Errorf("HTTP %d %q, want the connection closed (or net/http's 408/400)", res.resp.StatusCode, res.body)
		}
	})

	t.Run("unauthenticated relay attempts", func(t *testing.T) {
		before := relayed.Load()
		send := "C2C.CallbackBeforeSendMsg"
		body := `{"CallbackCommand":"` + send + `","From_Account":"a","To_Account":"b","MsgBody":[]}`
		stale := time.Now().Add(-5 * time.Minute)
		for _, q := range []string{
			values(appA, send, "", time.Now()).Encode(),
			values(appA, send, "not-"+token, time.Now()).Encode(),
			values(appA, send, token, stale).Encode(),
			edit(values(appA, send, token, time.Now()), func(v url.Values) { v.Set("SdkAppid", strconv.FormatInt(unknownApp, 10)) }),
			edit(values(appA, send, token, time.Now()), func(v url.Values) { v.Set("Sign", v.Get("Sign")[1:]) }),
			edit(values(appA, send, token, time.Now()), func(v url.Values) { v.Add("Sign", sign(token, 0)) }),
			values(appB, send, "", time.Now()).Encode(), // app B has no backend: OK, relayed nowhere
		} {
			resp, got, err := f.do(http.MethodPost, path+"?"+q, body, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode == http.StatusOK && !strings.Contains(q, strconv.FormatInt(appB, 10)) {
				t.Errorf("%s: HTTP 200 %s", q, got)
			}
		}
		if n := relayed.Load() - before; n != 0 {
			t.Errorf("%d unauthenticated attempts reached the backend", n)
		}
		// A signed one does.
		if err := f.expectOK(values(appA, send, token, time.Now()).Encode(), body); err != nil {
			t.Error(err)
		}
		if relayed.Load() == before {
			t.Error("the signed callback was not relayed")
		}
	})
	if n := unauthenticated.Load(); n != 0 {
		t.Errorf("%d unauthenticated callbacks reached the app's backend", n)
	}

	// Nothing was written.
	for _, before := range []*chatv1alpha1.OfficialAccountCapacity{beforeA, beforeB} {
		after := get(t, before)
		if after.ResourceVersion != before.ResourceVersion {
			t.Errorf("%s was written by the battery: resourceVersion %s -> %s\nstatus before %s\nstatus after  %s",
				before.Name, before.ResourceVersion, after.ResourceVersion, toJSON(before.Status), toJSON(after.Status))
		}
	}
	// The manager is healthy and goes on recording.
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := f.http.Get("http://" + f.probes + p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: HTTP %d after the battery", p, resp.StatusCode)
		}
	}
	next := f.baseET + 1000
	if err := f.expectOK(values(appA, full, token, time.Now()).Encode(), fullBody(accountA, next)); err != nil {
		t.Errorf("a valid signed callback after the battery: %v", err)
	} else if a := accountStatus(get(t, oacA), accountA); a == nil || a.LastEventTime != next {
		t.Errorf("a valid signed callback after the battery is not recorded: %+v", a)
	}
	if strings.Contains(log.String(), token) {
		t.Errorf("the manager's log contains the callback token")
	}
	if t.Failed() {
		t.Logf("manager output (last 8 KiB):\n%s", tail(log.String(), 8<<10))
	}

	// Unsigned callbacks of an app without a token are accepted only by a manager
	// that is told to (a second one, on ports of its own).
	t.Run("app without token, manager with --callback-allow-unsigned", func(t *testing.T) {
		g := *f
		g.addr, g.probes = testenv.FreePort(t), testenv.FreePort(t)
		startManager(t, manager, g.probes, "--callback-bind-address", g.addr, "--callback-allow-unsigned")
		et := f.baseET + 2000
		testenv.Eventually(t, 30*time.Second, func() error { // 403 until its cache has app B
			return g.expectOK(values(appB, full, "", time.Now()).Encode(), fullBody(accountB, et))
		})
		if a := accountStatus(get(t, oacB), accountB); a == nil || a.LastEventTime != et {
			t.Errorf("the unsigned callback is not recorded: %+v", a)
		}
	})
}

// rows is the battery. Each row has one defect; the rest of the request is valid and
// signed, so that the answer is the one of that defect whatever the order of checks.
func (f *fixture) rows(now time.Time) []row {
	signed := values(appA, full, token, now)
	q := signed.Encode()
	dup := fullBody(accountA, f.baseET) // recorded already: accepted, written again never
	body := func(fields string) string { return `{"CallbackCommand":"` + full + `",` + fields + `}` }
	acct := func(jsonValue string) string {
		return body(`"Official_Account":` + jsonValue + `,"EventTime":` + strconv.FormatInt(f.baseET, 10))
	}
	et := func(jsonValue string) string {
		return body(`"Official_Account":"` + accountA + `","EventTime":` + jsonValue)
	}
	set := func(k, v string) string { return edit(signed, func(v2 url.Values) { v2.Set(k, v) }) }
	del := func(ks ...string) string {
		return edit(signed, func(v url.Values) {
			for _, k := range ks {
				v.Del(k)
			}
		})
	}
	otherBody := `{"CallbackCommand":"` + other + `","Official_Account":"` + accountA + `","EventTime":1}`
	unknownCmd := "OfficialAccount.NoSuchCallback"
	unknownBody := `{"CallbackCommand":"` + unknownCmd + `"}`
	host := f.addr
	// rawReq is a request as bytes: a target the client would clean or refuse.
	rawReq := func(method, target, body string) string {
		return fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
			method, target, host, len(body), body)
	}
	pathRow := func(name, p string) row {
		return row{name: "path " + name, method: http.MethodPost, raw: rawReq(http.MethodPost, p+"?"+q, dup), want: 404}
	}
	chunked := func() string {
		var b strings.Builder
		fmt.Fprintf(&b, "POST %s?%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", path, q, host)
		chunk := strings.Repeat("x", 1024)
		for range maxBody/1024 + 2 {
			fmt.Fprintf(&b, "%x\r\n%s\r\n", len(chunk), chunk)
		}
		b.WriteString("0\r\n\r\n")
		return b.String()
	}
	tooLong := "@TOA#_" + strings.Repeat("x", 251) // 257 bytes
	longest := "@TOA#_" + strings.Repeat("x", 250) // 256 bytes

	return []row{
		// Methods. The exact path answers anything but POST 405 with Allow: POST.
		{name: "method GET", method: http.MethodGet, query: q, want: 405},
		{name: "method HEAD", method: http.MethodHead, query: q, want: 405},
		{name: "method PUT", method: http.MethodPut, query: q, body: dup, want: 405},
		{name: "method PATCH", method: http.MethodPatch, query: q, body: dup, want: 405},
		{name: "method DELETE", method: http.MethodDelete, query: q, want: 405},
		{name: "method OPTIONS on the path", method: http.MethodOptions, query: q, want: 405},
		{name: "method TRACE", method: http.MethodTrace, query: q, want: 405},
		{name: "method PROPFIND (extension)", method: "PROPFIND", query: q, body: dup, want: 405},
		{name: "method post in lower case", method: "post", query: q, body: dup, want: 405},
		{name: "OPTIONS *", method: http.MethodOptions, raw: fmt.Sprintf("OPTIONS * HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host), want: 404},
		{name: "CONNECT", method: http.MethodConnect, raw: fmt.Sprintf("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", host, host), want: 404},

		// Only the exact path is served: everything else is the JSON 404, never a
		// redirect (which would repeat the query, Sign included, in Location).
		pathRow("/", "/"),
		pathRow("/callback/", "/callback/"),
		pathRow("//callback", "//callback"),
		pathRow("/a/../callback", "/a/../callback"),
		pathRow("/./callback", "/./callback"),
		pathRow("/callback/..", "/callback/.."),
		pathRow("/../../etc/passwd", "/../../etc/passwd"),
		pathRow("/CALLBACK", "/CALLBACK"),
		pathRow("/%2Fcallback", "/%2Fcallback"),
		pathRow("/callback%2F", "/callback%2F"),
		pathRow("/callback%00", "/callback%00"),

		// Bodies.
		{name: "body over --callback-max-body-bytes", query: q, body: `{"CallbackCommand":"` + strings.Repeat("x", maxBody) + `"}`, want: 413},
		{name: "chunked body over the limit", method: http.MethodPost, raw: chunked(), want: 413},
		{name: "empty body", query: q, body: "", want: 400},
		{name: "broken JSON", query: q, body: `{"CallbackCommand":"` + full + `",`, want: 400},
		{name: "JSON array", query: q, body: `[` + dup + `]`, want: 400},
		{name: "JSON string", query: q, body: `"` + full + `"`, want: 400},
		{name: "JSON number", query: q, body: `1670574414123`, want: 400},
		{name: "JSON null", query: q, body: `null`, want: 400},
		{name: "JSON with trailing garbage", query: q, body: dup + `}`, want: 400},
		{name: "two JSON objects", query: q, body: dup + dup, want: 400},
		{name: "UTF-8 BOM before the JSON", query: q, body: "\ufeff" + dup, want: 400},
		{name: "deeply nested JSON", query: q, body: strings.Repeat("[", 4000) + strings.Repeat("]", 4000), want: 400},
		{name: "form-encoded body", query: q, body: "CallbackCommand=" + full + "&Official_Account=" + accountA, want: 400},
		// Ambiguous: which Official_Account is meant? (encoding/json keeps the last.)
		{name: "duplicate keys", query: q, body: body(`"Official_Account":"` + accountA + `","Official_Account":"` + unlisted + `","EventTime":` + strconv.FormatInt(f.baseET, 10)), want: 400},
		{name: "field names in lower case", query: q, body: `{"callbackcommand":"` + full + `","official_account":"` + accountA + `","eventtime":1}`, want: 400},
		{name: "unknown fields are accepted", query: q, body: body(`"Official_Account":"` + accountA + `","EventTime":` + strconv.FormatInt(f.baseET, 10) + `,"Extra":{"a":[1,2]},"Sign":"x"`), want: 200, ok: true},
		{name: "Content-Type text/plain is ignored", query: q, body: dup, header: http.Header{"Content-Type": {"text/plain"}}, want: 200, ok: true},

		// EventTime.
		{name: "EventTime missing", query: q, body: body(`"Official_Account":"` + accountA + `"`), want: 400},
		{name: "EventTime null", query: q, body: et(`null`), want: 400},
		{name: "EventTime string", query: q, body: et(`"` + strconv.FormatInt(f.baseET, 10) + `"`), want: 400},
		{name: "EventTime float", query: q, body: et(strconv.FormatInt(f.baseET, 10) + `.5`), want: 400},
		{name: "EventTime exponent", query: q, body: et(`1.6e12`), want: 400},
		{name: "EventTime negative", query: q, body: et(`-1`), want: 400},
		{name: "EventTime zero", query: q, body: et(`0`), want: 400},
		{name: "EventTime beyond int64", query: q, body: et(`99999999999999999999999`), want: 400},
		{name: "EventTime boolean", query: q, body: et(`true`), want: 400},
		{name: "EventTime in the future", query: q, body: et(strconv.FormatInt(now.Add(time.Hour).UnixMilli(), 10)), want: 400},

		// Official_Account.
		{name: "Official_Account missing", query: q, body: body(`"EventTime":1`), want: 400},
		{name: "Official_Account number", query: q, body: acct(`42`), want: 400},
		{name: "Official_Account empty", query: q, body: acct(`""`), want: 400},
		{name: "Official_Account null", query: q, body: acct(`null`), want: 400},
		{name: "Official_Account object", query: q, body: acct(`{"id":"` + accountA + `"}`), want: 400},
		{name: "Official_Account over 256 bytes", query: q, body: acct(`"` + tooLong + `"`), want: 400},
		// Not held to the format of chosen IDs: an ID no resource lists is an unknown
		// account, acknowledged and not recorded.
		{name: "Official_Account of 256 bytes", query: q, body: acct(`"` + longest + `"`), want: 200, ok: true},
		{name: "Official_Account with a NUL byte", query: q, body: acct(`"` + accountA + `\u0000"`), want: 200, ok: true},
		{name: "Official_Account with invalid UTF-8", query: q, body: acct("\"" + accountA + "\xff\xfe\""), want: 200, ok: true},

		// Query.
		{name: "SdkAppid missing", query: del("SdkAppid"), body: dup, want: 400},
		{name: "SdkAppid twice", query: edit(signed, func(v url.Values) { v.Add("SdkAppid", strconv.FormatInt(appA, 10)) }), body: dup, want: 400},
		{name: "SdkAppid not a number", query: set("SdkAppid", "14000110O1"), body: dup, want: 400},
		{name: "SdkAppid negative", query: set("SdkAppid", "-1400011001"), body: dup, want: 400},
		{name: "SdkAppid zero", query: set("SdkAppid", "0"), body: dup, want: 400},
		{name: "SdkAppid beyond int64", query: set("SdkAppid", "99999999999999999999999"), body: dup, want: 400},
		{name: "query with bad percent-encoding", query: strings.Replace(q, "SdkAppid=", "SdkAppid=%zz", 1), body: dup, want: 400},
		{name: "query with semicolons", query: strings.ReplaceAll(q, "&", ";"), body: dup, want: 400},
		{name: "CallbackCommand missing", query: del("CallbackCommand"), body: dup, want: 400},
		{name: "CallbackCommand twice", query: edit(signed, func(v url.Values) { v.Add("CallbackCommand", full) }), body: dup, want: 400},
		{name: "CallbackCommand of query and body differ", query: q, body: otherBody, want: 400},
		{name: "unknown command, signed", query: values(appA, unknownCmd, token, now).Encode(), body: unknownBody, want: 200, ok: true},
		{name: "other command, signed", query: values(appA, other, token, now).Encode(), body: otherBody, want: 200, ok: true},

		// Authentication, for every command.
		{name: "Sign and RequestTime missing", query: del("Sign", "RequestTime"), body: dup, want: 401},
		{name: "Sign empty", query: set("Sign", ""), body: dup, want: 401},
		{name: "Sign without RequestTime", query: del("RequestTime"), body: dup, want: 401},
		{name: "RequestTime without Sign", query: del("Sign"), body: dup, want: 401},
		{name: "Sign garbage", query: set("Sign", "not-a-sign"), body: dup, want: 401},
		{name: "Sign of another token", query: values(appA, full, "another-token", now).Encode(), body: dup, want: 401},
		{name: "Sign of another RequestTime", query: set("RequestTime", strconv.FormatInt(now.Unix()-1, 10)), body: dup, want: 401},
		{name: "Sign in upper-case hex is accepted", query: set("Sign", strings.ToUpper(sign(token, now.Unix()))), body: dup, want: 200, ok: true},
		{name: "RequestTime stale", query: values(appA, full, token, now.Add(-2*time.Minute)).Encode(), body: dup, want: 401},
		{name: "RequestTime in the future", query: values(appA, full, token, now.Add(2*time.Minute)).Encode(), body: dup, want: 401},
		{name: "RequestTime not a number", query: set("RequestTime", "now"), body: dup, want: 401},
		{name: "other command unsigned", query: values(appA, other, "", now).Encode(), body: otherBody, want: 401},
		{name: "other command with a bad Sign", query: values(appA, other, "another-token", now).Encode(), body: otherBody, want: 401},
		{name: "unknown command unsigned", query: values(appA, unknownCmd, "", now).Encode(), body: unknownBody, want: 401},
		{name: "unlisted account unsigned", query: values(appA, full, "", now).Encode(), body: fullBody(unlisted, f.baseET), want: 401},

		// Apps.
		{name: "unknown app", query: values(unknownApp, full, token, now).Encode(), body: dup, want: 403},
		{name: "unknown app, other command", query: values(unknownApp, other, token, now).Encode(), body: otherBody, want: 403},
		// A Secret without callbackToken refuses callbacks (no --callback-allow-unsigned).
		{name: "app without token: unsigned event", query: values(appB, full, "", now).Encode(), body: fullBody(accountB, f.baseET), want: 401},
		{name: "app without token: unsigned other command", query: values(appB, other, "", now).Encode(), body: `{"CallbackCommand":"` + other + `"}`, want: 401},
		{name: "app without token: unsigned unlisted account", query: values(appB, full, "", now).Encode(), body: fullBody(unlisted, f.baseET), want: 401},

		// What net/http answers itself, before any handler: plain text. The headers
		// are 32 KiB because net/http reads MaxHeaderBytes (16 KiB) plus 4 KiB of slack.
		{name: "headers over 16 KiB", query: q, body: dup, header: http.Header{"X-Pad": {strings.Repeat("p", 32<<10)}}, want: 431, plain: true},
		{name: "not HTTP", method: http.MethodGet, raw: "HELLO\r\n\r\n", want: 400, plain: true},
		{name: "HTTP/1.1 without Host", method: http.MethodPost, raw: fmt.Sprintf("POST %s?%s HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s", path, q, len(dup), dup), want: 400, plain: true},
		{name: "two different Content-Lengths", method: http.MethodPost, raw: fmt.Sprintf("POST %s?%s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\nContent-Length: 1\r\n\r\n%s", path, q, host, len(dup), dup), want: 400, plain: true},
		{name: "header with a space before the colon", method: http.MethodPost, raw: fmt.Sprintf("POST %s?%s HTTP/1.1\r\nHost: %s\r\nContent-Length : %d\r\n\r\n%s", path, q, host, len(dup), dup), want: 400, plain: true},
		{name: "control character in the target", method: http.MethodPost, raw: fmt.Sprintf("POST %s\x01?%s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s", path, q, host, len(dup), dup), want: 400, plain: true},
		{name: "malformed HTTP version", method: http.MethodPost, raw: fmt.Sprintf("POST %s?%s HTTP/x.y\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s", path, q, host, len(dup), dup), want: 400, plain: true},
		{name: "unsupported Transfer-Encoding", method: http.MethodPost, raw: fmt.Sprintf("POST %s?%s HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: gzip\r\n\r\n", path, q, host), want: 501, plain: true, plainBody: "Unsupported transfer encoding"},
		{name: "HTTP/2.0 request line", method: http.MethodPost, raw: fmt.Sprintf("POST %s?%s HTTP/2.0\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s", path, q, host, len(dup), dup), want: 505, plain: true},
		{name: "Expect other than 100-continue", query: q, body: dup, header: http.Header{"Expect": {"bogus"}}, want: 417, plain: true, plainEmpty: true},
	}
}

// check sends one row and checks its answer.
func (f *fixture) check(t *testing.T, r row) {
	method := r.method
	if method == "" {
		method = http.MethodPost
	}
	var (
		resp *http.Response
		body []byte
		err  error
	)
	if r.raw != "" {
		resp, body, err = f.sendRaw(r.raw, method)
	} else {
		resp, body, err = f.do(method, path+"?"+r.query, r.body, r.header)
	}
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	if r.plain {
		f.checkPlain(t, resp, body, r)
	} else {
		f.checkJSON(t, resp, body, r.want, r.ok, method)
	}
}

// checkJSON checks a handler's answer: the status, the documented JSON shape, the
// headers, and that nothing secret or internal is in it.
func (f *fixture) checkJSON(t *testing.T, resp *http.Response, body []byte, want int, ok bool, method string) {
	t.Helper()
	got := fmt.Sprintf("HTTP %d %q %q", resp.StatusCode, resp.Header, body)
	if resp.StatusCode != want {
		t.Errorf("HTTP %d, want %d: %s", resp.StatusCode, want, got)
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		t.Errorf("redirect to %q", loc)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json: %s", ct, got)
	}
	if want == http.StatusMethodNotAllowed {
		if allow := resp.Header.Values("Allow"); len(allow) != 1 || allow[0] != http.MethodPost {
			t.Errorf("Allow %q, want POST", allow)
		}
	}
	f.checkNoLeak(t, resp, body, true)
	if method == http.MethodHead {
		if len(body) != 0 {
			t.Errorf("an answer to HEAD has a body: %q", body)
		}
		return // no body to check
	}
	var a struct {
		ActionStatus *string
		ErrorInfo    *string
		ErrorCode    *int
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil || dec.More() || a.ActionStatus == nil || a.ErrorInfo == nil || a.ErrorCode == nil {
		t.Errorf("the answer is not {ActionStatus, ErrorInfo, ErrorCode} (%v): %s", err, got)
		return
	}
	switch {
	case ok && (*a.ActionStatus != "OK" || *a.ErrorCode != 0 || *a.ErrorInfo != ""):
		t.Errorf("answer %s, want OK with ErrorCode 0", body)
	case !ok && (*a.ActionStatus != "FAIL" || *a.ErrorCode != resp.StatusCode || *a.ErrorInfo == ""):
		t.Errorf("answer %s, want FAIL with ErrorCode %d and an ErrorInfo", body, resp.StatusCode)
	}
}

// checkPlain checks one of net/http's own answers: the status line repeated as a
// plain-text body, and the connection closed.
func (f *fixture) checkPlain(t *testing.T, resp *http.Response, body []byte, r row) {
	t.Helper()
	if resp.StatusCode != r.want {
		t.Errorf("HTTP %d %q, want net/http's plain %d", resp.StatusCode, body, r.want)
	}
	if resp.Header.Get("Connection") != "close" && !resp.Close {
		t.Errorf("net/http's answer %d does not close the connection", resp.StatusCode)
	}
	if r.plainEmpty {
		if len(body) != 0 {
			t.Errorf("body %q, want none", body)
		}
	} else {
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("Content-Type %q, want net/http's text/plain", ct)
		}
		want := r.plainBody
		if want == "" {
			want = fmt.Sprintf("%d %s", r.want, http.StatusText(r.want))
		}
		if !strings.HasPrefix(string(body), want) {
			t.Errorf("body %q, want net/http's %q", body, want)
		}
	}
	f.checkNoLeak(t, resp, body, false)
}

var (
	// A Sign or any other 64-digit hex string: no answer repeats one.
	hex64 = regexp.MustCompile(`(?i)[0-9a-f]{64}`)
	// What Go errors with internals look like.
	internals = regexp.MustCompile(`(?i)json: |invalid character|unexpected end of|cannot unmarshal|strconv\.|parsing "|runtime error|goroutine|panic|\.go:\d|secret|namespace|dial tcp|context deadline|i/o timeout|x509|net/http|http: |errors\.|look up |index=`)
)

func (f *fixture) checkNoLeak(t *testing.T, resp *http.Response, body []byte, handler bool) {
	t.Helper()
	var all bytes.Buffer
	_ = resp.Header.Write(&all)
	all.Write(body)
	s := all.String()
	for _, secret := range append(f.secrets, f.ns) {
		if strings.Contains(s, secret) {
			t.Errorf("the answer contains %q: %q", secret, s)
		}
	}
	if m := hex64.FindString(s); m != "" {
		t.Errorf("the answer contains a Sign %s", m)
	}
	if handler {
		if m := internals.FindString(string(body)); m != "" {
			t.Errorf("the answer has Go internals (%q): %q", m, body)
		}
	}
}

// do sends a request with net/http's client and reads the whole answer.
func (f *fixture) do(method, target, body string, header http.Header) (*http.Response, []byte, error) {
	req, err := http.NewRequest(method, "http://"+f.addr+target, strings.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	if body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	req.Header.Set("Content-Type", "application/json")
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := f.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// sendRaw writes raw to a new connection and reads one answer.
func (f *fixture) sendRaw(raw, method string) (*http.Response, []byte, error) {
	conn, err := net.DialTimeout("tcp", f.addr, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		return nil, nil, fmt.Errorf("write: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		return nil, nil, fmt.Errorf("read the answer: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// expectOK sends a POST and wants 200 OK.
func (f *fixture) expectOK(query, body string) error {
	resp, b, err := f.do(http.MethodPost, path+"?"+query, body, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"ActionStatus":"OK"`) {
		return fmt.Errorf("HTTP %d %s", resp.StatusCode, b)
	}
	return nil
}

// concurrent sends n bad requests at once, on n connections: half unsigned, half
// broken JSON. Each must get its answer.
func (f *fixture) concurrent(t *testing.T, n int) {
	c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, MaxConnsPerHost: 0}}
	unsigned := values(appA, full, "", time.Now()).Encode()
	signed := values(appA, full, token, time.Now()).Encode()
	dup := fullBody(accountA, f.baseET)
	start := make(chan struct{})
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			q, body, want := unsigned, dup, http.StatusUnauthorized
			if i%2 == 1 {
				q, body, want = signed, `{"CallbackCommand":`, http.StatusBadRequest
			}
			<-start
			resp, err := c.Post("http://"+f.addr+path+"?"+q, "application/json", strings.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				errs <- err
				return
			}
			if resp.StatusCode != want || !strings.Contains(string(b), `"ActionStatus":"FAIL"`) || !strings.Contains(string(b), fmt.Sprintf(`"ErrorCode":%d`, want)) {
				errs <- fmt.Errorf("HTTP %d %s, want %d FAIL", resp.StatusCode, b, want)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if failed++; failed <= 5 {
			t.Error(err)
		}
	}
	if failed > 5 {
		t.Errorf("... %d of %d requests in all did not get their answer", failed, n)
	}
}

// slowResult is how the server ended a slow request: an answer, or the connection
// closed (err), after elapsed.
type slowResult struct {
	resp    *http.Response
	body    []byte
	err     error
	elapsed time.Duration
}

func (r slowResult) outcome() string {
	if r.resp != nil {
		return fmt.Sprintf("answered HTTP %d %q", r.resp.StatusCode, r.body)
	}
	return fmt.Sprintf("closed without an answer (%v)", r.err)
}

// slowBody sends the headers of a valid signed request at once and then its body one
// byte every 500 ms, which would take over a minute.
func (f *fixture) slowBody() <-chan slowResult {
	body := fullBody(accountA, f.baseET)
	head := fmt.Sprintf("POST %s?%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		path, values(appA, full, token, time.Now()).Encode(), f.addr, len(body))
	return f.trickle(head, strings.Split(body, ""))
}

// slowHeaders sends a request line and then one header line every 500 ms, forever.
func (f *fixture) slowHeaders() <-chan slowResult {
	head := fmt.Sprintf("POST %s?%s HTTP/1.1\r\nHost: %s\r\n", path, values(appA, full, token, time.Now()).Encode(), f.addr)
	lines := make([]string, 1000)
	for i := range lines {
		lines[i] = "X-Slow: 1\r\n"
	}
	return f.trickle(head, lines)
}

// trickle writes head, then one of pieces every 500 ms, until the server answers or
// closes the connection; it gives up after 20 s.
func (f *fixture) trickle(head string, pieces []string) <-chan slowResult {
	out := make(chan slowResult, 1)
	go func() {
		start := time.Now()
		conn, err := net.Dial("tcp", f.addr)
		if err != nil {
			out <- slowResult{err: err}
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(start.Add(20 * time.Second))
		stop := make(chan struct{})
		go func() {
			if _, err := io.WriteString(conn, head); err != nil {
				return
			}
			for _, p := range pieces {
				select {
				case <-stop:
					return
				case <-time.After(500 * time.Millisecond):
				}
				if _, err := io.WriteString(conn, p); err != nil {
					return
				}
			}
		}()
		resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: http.MethodPost})
		res := slowResult{err: err}
		if err == nil {
			res.resp = resp
			res.body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		res.elapsed = time.Since(start)
		close(stop)
		out <- res
	}()
	return out
}

// managerBinary is bin/manager of the repository.
func managerBinary(t *testing.T) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "bin", "manager")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("bin/manager is missing (run make build): %v", err)
	}
	return bin
}

// startManager runs bin/manager against envtest and waits until it is ready. It is
// stopped with SIGTERM when the test ends.
func startManager(t *testing.T, bin, probes string, args ...string) *testenv.Buffer {
	t.Helper()
	out := &testenv.Buffer{}
	args = append([]string{"--kubeconfig", env.KubeConfigFile(t), "--leader-elect=false",
		"--metrics-bind-address=0", "--health-probe-bind-address", probes,
		"--callback-shutdown-delay=100ms", "--callback-drain-timeout=5s"}, args...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited: //nolint:errcheck // waits for the exit; the test checked the manager's log
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited //nolint:errcheck // killed: the error says only that
			t.Errorf("the manager did not stop within 15s of SIGTERM")
		}
	})
	testenv.Eventually(t, 60*time.Second, func() error {
		select {
		case err := <-exited:
			t.Fatalf("the manager exited: %v\n%s", err, out.String())
		default:
		}
		resp, err := http.Get("http://" + probes + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: HTTP %d", resp.StatusCode)
		}
		return nil
	})
	return out
}

func get(t *testing.T, o *chatv1alpha1.OfficialAccountCapacity) *chatv1alpha1.OfficialAccountCapacity {
	t.Helper()
	var got chatv1alpha1.OfficialAccountCapacity
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(o), &got); err != nil {
		t.Fatal(err)
	}
	return &got
}

// settled returns o once the reconciler has stopped writing it: its resourceVersion
// has not moved for a second.
func settled(t *testing.T, o *chatv1alpha1.OfficialAccountCapacity) *chatv1alpha1.OfficialAccountCapacity {
	t.Helper()
	last := get(t, o)
	stable := time.Now()
	testenv.Eventually(t, 20*time.Second, func() error {
		cur := get(t, o)
		if cur.ResourceVersion != last.ResourceVersion {
			last, stable = cur, time.Now()
		}
		if time.Since(stable) < time.Second {
			return fmt.Errorf("%s is still being written (resourceVersion %s)", o.Name, cur.ResourceVersion)
		}
		return nil
	})
	return last
}

func accountStatus(o *chatv1alpha1.OfficialAccountCapacity, id string) *chatv1alpha1.AccountStatus {
	for i := range o.Status.Accounts {
		if o.Status.Accounts[i].ID == id {
			return &o.Status.Accounts[i]
		}
	}
	return nil
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
