package webhookserver

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
)

// Every bad input gets its status code and a FAIL answer in the protocol's shape, says
// nothing secret, and writes nothing.
func TestBadInputIsRefusedAndWritesNothing(t *testing.T) {
	const token = "s3cret-token"
	h := startServer(t, Options{MaxBodyBytes: 1024})
	ns := env.Namespace(t)
	appID := newAppID()
	oac := h.pool(ns, appID, token, "@TOA#_bad")

	// A second app whose credentials Secret does not exist: it must fail closed.
	lostApp := newAppID()
	lost := &chatv1alpha1.OfficialAccountCapacity{
		ObjectMeta: metav1.ObjectMeta{Name: "lost-secret", Namespace: ns},
		Spec: chatv1alpha1.OfficialAccountCapacitySpec{SDKAppID: lostApp, Accounts: []string{"@TOA#_bad"},
			CredentialsRef: chatv1alpha1.LocalObjectReference{Name: "does-not-exist"}},
	}
	if err := env.Client.Create(context.Background(), lost); err != nil {
		t.Fatal(err)
	}
	h.waitCached(lost)

	now := time.Now()
	signed := query(appID, CommandAccountFull, token, now)
	body := fullBody("@TOA#_bad", sampleEventTime)
	unsigned := query(appID, CommandAccountFull, "", now)
	at := func(rt time.Time) string { return query(appID, CommandAccountFull, token, rt) }

	cases := []struct {
		name, method, query, body string
		status                    int
		info                      string
		result                    string
	}{
		{"GET", http.MethodGet, signed, "", 405, "only POST", resultBadMethod},
		{"PUT", http.MethodPut, signed, body, 405, "only POST", resultBadMethod},
		{"body over the limit", http.MethodPost, signed, `{"CallbackCommand":"` + strings.Repeat("x", 2000) + `"}`, 413, "larger than", resultTooLarge},
		{"no SdkAppid", http.MethodPost, strings.Replace(signed, fmt.Sprintf("SdkAppid=%d&", appID), "", 1), body, 400, "SdkAppid is required", resultBadRequest},
		{"malformed SdkAppid", http.MethodPost, strings.Replace(signed, fmt.Sprintf("SdkAppid=%d", appID), "SdkAppid=14x", 1), body, 400, "SdkAppid must be", resultBadRequest},
		{"no CallbackCommand", http.MethodPost, strings.Replace(signed, "CallbackCommand="+CommandAccountFull, "", 1), body, 400, "CallbackCommand is required", resultBadRequest},
		{"body not JSON", http.MethodPost, signed, "hello", 400, "not a JSON object", resultBadRequest},
		{"commands disagree", http.MethodPost, signed, strings.Replace(body, "AfterOfficialAccountFull", "AfterSendMsg", 1), 400, "does not match", resultBadRequest},
		{"no Official_Account", http.MethodPost, signed, `{"CallbackCommand":"` + CommandAccountFull + `","EventTime":1}`, 400, "no Official_Account", resultBadRequest},
		{"Official_Account too long", http.MethodPost, signed, fullBody("@TOA#_"+strings.Repeat("x", 300), 1), 400, "at most 256 bytes", resultBadRequest},
		{"no EventTime", http.MethodPost, signed, `{"CallbackCommand":"` + CommandAccountFull + `","Official_Account":"@TOA#_bad"}`, 400, "no EventTime", resultBadRequest},
		{"EventTime in the future", http.MethodPost, signed, fullBody("@TOA#_bad", now.Add(10*time.Minute).UnixMilli()), 400, "in the future", resultBadRequest},
		{"EventTime a string", http.MethodPost, signed, strings.Replace(body, fmt.Sprint(sampleEventTime), `"1"`, 1), 400, "EventTime must be", resultBadRequest},
		{"unsigned", http.MethodPost, unsigned, body, 401, "Sign is required", resultUnauthorized},
		{"wrong Sign", http.MethodPost, query(appID, CommandAccountFull, "other-token", now), body, 401, "does not match", resultUnauthorized},
		{"Sign of another RequestTime", http.MethodPost, strings.Replace(signed, fmt.Sprint(now.Unix()), fmt.Sprint(now.Unix()-1), 1), body, 401, "does not match", resultUnauthorized},
		{"stale RequestTime", http.MethodPost, at(now.Add(-2 * time.Minute)), body, 401, "outside the accepted window", resultUnauthorized},
		{"future RequestTime", http.MethodPost, at(now.Add(2 * time.Minute)), body, 401, "outside the accepted window", resultUnauthorized},
		{"unknown app", http.MethodPost, query(appID+1000000, CommandAccountFull, token, now), body, 403, "not served here", resultUnknownApp},
		{"unknown app, other command", http.MethodPost, query(appID+1000000, "OfficialAccount.CallbackAfterSendMsg", "", now), `{"CallbackCommand":"OfficialAccount.CallbackAfterSendMsg"}`, 403, "not served here", resultUnknownApp},
		{"credentials Secret missing", http.MethodPost, query(lostApp, CommandAccountFull, token, now), body, 503, "cannot authenticate", resultUnavailable},
	}
	before := stored(t, oac)
	writes := h.counter("writes", "success")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := *h
			h.t = t
			code, a := h.post(tc.method, tc.query, tc.body)
			if code != tc.status {
				t.Errorf("HTTP %d, want %d (%+v)", code, tc.status, a)
			}
			if a.ActionStatus != "FAIL" || a.ErrorCode != tc.status || !strings.Contains(a.ErrorInfo, tc.info) {
				t.Errorf("answer %+v, want FAIL, ErrorCode %d, ErrorInfo containing %q", a, tc.status, tc.info)
			}
			if strings.Contains(a.ErrorInfo, token) || strings.Contains(a.ErrorInfo, Sign(token, now.Unix())) || strings.Contains(a.ErrorInfo, "does-not-exist") {
				t.Errorf("answer leaks a secret or a name: %q", a.ErrorInfo)
			}
		})
	}
	if after := stored(t, oac); after.ResourceVersion != before.ResourceVersion {
		t.Errorf("bad input wrote status: %+v", after.Status)
	}
	if after := stored(t, lost); len(after.Status.Accounts) != 0 {
		t.Errorf("unauthenticated callback wrote status: %+v", after.Status)
	}
	if n := h.counter("writes", "success"); n != writes {
		t.Errorf("bad input caused %v writes", n-writes)
	}
	for _, r := range []string{resultBadMethod, resultTooLarge, resultBadRequest, resultUnauthorized, resultUnknownApp, resultUnavailable} {
		if h.counter("callbacks", CommandAccountFull, r)+h.counter("callbacks", "other", r)+h.counter("callbacks", "OfficialAccount.CallbackAfterSendMsg", r) == 0 {
			t.Errorf("no callback counted with result %s", r)
		}
	}
}

// Only the exact path is served: no cleaning, no redirect (whose Location would repeat
// the query, Sign included), and every answer in the protocol's JSON shape.
func TestOnlyTheExactPathIsServed(t *testing.T) {
	h := startServer(t, Options{})
	addr := strings.TrimSuffix(strings.TrimPrefix(h.url, "http://"), "/callback")
	q := "?" + query(1400000001, CommandAccountFull, "tok", time.Now())
	for _, tc := range []struct{ method, target string }{
		{"POST", "//callback" + q},
		{"POST", "/a/../callback" + q},
		{"POST", "/callback/" + q},
		{"POST", "/callback/.." + q},
		{"POST", "/./callback" + q},
		{"POST", "/call%62ack" + q},
		{"POST", "/%2Fcallback" + q},
		{"POST", "/CALLBACK" + q},
		{"POST", "/../../etc/passwd"},
		{"OPTIONS", "*"},
		{"CONNECT", addr},
		{"GET", "/"},
	} {
		t.Run(tc.method+" "+strings.Split(tc.target, "?")[0], func(t *testing.T) {
			resp := rawRequest(t, addr, tc.method, tc.target)
			body, _ := io.ReadAll(resp.Body)
			var a answer
			if resp.StatusCode != http.StatusNotFound || json.Unmarshal(body, &a) != nil || a.ActionStatus != "FAIL" || a.ErrorCode != 404 ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("HTTP %d %q %q, want the JSON 404", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			if loc := resp.Header.Get("Location"); loc != "" {
				t.Errorf("answered with Location %q", loc)
			}
		})
	}
}

// rawRequest sends a request line as given, which net/http's client would rewrite.
func rawRequest(t *testing.T, addr, method, target string) *http.Response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", method, target, addr); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestOtherPathsAnswer404InProtocolShape(t *testing.T) {
	h := startServer(t, Options{})
	h.url = strings.TrimSuffix(h.url, "/callback") + "/other"
	code, a := h.post(http.MethodPost, "SdkAppid=1", "{}")
	if code != http.StatusNotFound || a.ActionStatus != "FAIL" || a.ErrorCode != 404 {
		t.Fatalf("HTTP %d %+v, want 404 FAIL", code, a)
	}
}
