package webhookserver

import (
	"context"
	"fmt"
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

func TestOtherPathsAnswer404InProtocolShape(t *testing.T) {
	h := startServer(t, Options{})
	h.url = strings.TrimSuffix(h.url, "/callback") + "/other"
	code, a := h.post(http.MethodPost, "SdkAppid=1", "{}")
	if code != http.StatusNotFound || a.ActionStatus != "FAIL" || a.ErrorCode != 404 {
		t.Fatalf("HTTP %d %+v, want 404 FAIL", code, a)
	}
}
