package chatapitest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi/chatapitest"
)

const (
	appID = int64(1400000001)
	admin = "administrator"
	key   = "fake-server-key"
)

var start = time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)

// raw sends a hand-made request so the fake's own checks can be tested
// without the client's validation in the way.
type raw struct {
	method string
	path   string
	query  url.Values
	body   string
}

func goodQuery(t *testing.T) url.Values {
	t.Helper()
	sig, err := chatapi.GenUserSig(appID, key, admin, time.Hour, start)
	if err != nil {
		t.Fatal(err)
	}
	return url.Values{"sdkappid": {fmt.Sprint(appID)}, "identifier": {admin}, "usersig": {sig},
		"random": {"4294967295"}, "contenttype": {"json"}}
}

func send(t *testing.T, s *chatapitest.Server, r raw) (int, map[string]any) {
	t.Helper()
	status, ans, err := sendE(s, r)
	if err != nil {
		t.Fatal(err)
	}
	return status, ans
}

// sendE is send for goroutines other than the test's, which must not call
// t.Fatal.
func sendE(s *chatapitest.Server, r raw) (int, map[string]any, error) {
	if r.method == "" {
		r.method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(context.Background(), r.method, s.URL()+r.path+"?"+r.query.Encode(), strings.NewReader(r.body))
	if err != nil {
		return 0, nil, err
	}
	resp, err := s.HTTPClient().Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m, nil
}

const (
	pathInfo   = "/v4/official_account_open_http_svc/get_official_account_info"
	pathModify = "/v4/official_account_open_http_svc/modify_official_account_base_info"
	pathCreate = "/v4/official_account_open_http_svc/create_official_account"
	pathSend   = "/v4/openim/sendmsg"
	pathAdd    = "/v4/official_account_open_http_svc/add_subscriber"
	pathDelete = "/v4/official_account_open_http_svc/delete_subscriber"
)

func newServer(t *testing.T) *chatapitest.Server {
	s := chatapitest.NewServer(t, appID, admin, key)
	s.SetClock(func() time.Time { return start })
	return s
}

func TestFakeRejectsMalformedRequests(t *testing.T) {
	ids := func(n int) string {
		var parts []string
		for i := range n {
			parts = append(parts, fmt.Sprintf(`{"Official_Account":"@TOA#_%d"}`, i))
		}
		return `{"OfficialAccountIdList":[` + strings.Join(parts, ",") + `]}`
	}
	for _, tc := range []struct {
		name string
		edit func(r *raw)
		code float64
	}{
		{"GET", func(r *raw) { r.method = http.MethodGet }, chatapi.CodeHTTPParse},
		{"unknown path", func(r *raw) { r.path = "/v4/openim/nosuch" }, chatapi.CodeRequestResource},
		{"no random", func(r *raw) { r.query.Del("random") }, chatapi.CodeHTTPParse},
		{"random too big", func(r *raw) { r.query.Set("random", "4294967296") }, chatapi.CodeHTTPParse},
		{"random negative", func(r *raw) { r.query.Set("random", "-1") }, chatapi.CodeHTTPParse},
		{"contenttype", func(r *raw) { r.query.Set("contenttype", "xml") }, chatapi.CodeHTTPParse},
		{"twice", func(r *raw) { r.query.Add("random", "1") }, chatapi.CodeHTTPParse},
		{"extra param", func(r *raw) { r.query.Set("debug", "1") }, chatapi.CodeHTTPParse},
		{"other app", func(r *raw) { r.query.Set("sdkappid", "1400000002") }, chatapi.CodeUserSigAppIDMismatch},
		{"not admin", func(r *raw) { r.query.Set("identifier", "mallory") }, chatapi.CodeAdminRequired},
		{"not JSON", func(r *raw) { r.body = "{" }, chatapi.CodeJSONParse},
		{"unknown field", func(r *raw) { r.body = `{"OfficialAccountIdList":[{"Official_Account":"@TOA#_a"}],"Extra":1}` }, chatapi.CodeJSONParse},
		{"51 ids", func(r *raw) { r.body = ids(51) }, chatapi.CodeInvalidParameter},
		{"no ids", func(r *raw) { r.body = ids(0) }, chatapi.CodeInvalidParameter},
		{"unknown filter", func(r *raw) {
			r.body = `{"OfficialAccountIdList":[{"Official_Account":"@TOA#_a"}],"ResponseFilter":{"OfficialAccountBaseInfoFilter":["MaxSubscriberNum"]}}`
		}, chatapi.CodeInvalidParameter},
		{"create 151-byte name", func(r *raw) {
			r.path, r.body = pathCreate, `{"Owner_Account":"o","Name":"`+strings.Repeat("n", 151)+`","OfficialAccountUserID":"@TOA#_x"}`
		}, chatapi.CodeInvalidParameter},
		{"create bad id", func(r *raw) {
			r.path, r.body = pathCreate, `{"Owner_Account":"o","Name":"n","OfficialAccountUserID":"@TOA#_@TOA#x"}`
		}, chatapi.CodeOfficialAccountIDInvalid},
		{"create no owner", func(r *raw) { r.path, r.body = pathCreate, `{"Name":"n"}` }, chatapi.CodeInvalidParameter},
		{"modify zero max", func(r *raw) {
			r.path, r.body = pathModify, `{"Official_Account":"@TOA#_a","MaxSubscriberNum":0}`
		}, chatapi.CodeInvalidParameter},
		{"send empty From", func(r *raw) {
			r.path, r.body = pathSend, `{"SyncOtherMachine":2,"From_Account":"","To_Account":"b","MsgRandom":1,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"x"}}]}`
		}, chatapi.CodeInvalidParameter},
		{"send MsgRandom too big", func(r *raw) {
			r.path, r.body = pathSend, `{"SyncOtherMachine":2,"To_Account":"b","MsgRandom":4294967296,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"x"}}]}`
		}, chatapi.CodeJSONParse},
		{"add 101 subscribers", func(r *raw) { r.path, r.body = pathAdd, subscribersBody("SubscriberList", 101) }, chatapi.CodeInvalidParameter},
		{"add no subscribers", func(r *raw) { r.path, r.body = pathAdd, subscribersBody("SubscriberList", 0) }, chatapi.CodeInvalidParameter},
		{"add no account", func(r *raw) {
			r.path, r.body = pathAdd, `{"SubscriberList":[{"Subscriber_Account":"u"}]}`
		}, chatapi.CodeInvalidParameter},
		{"add empty subscriber", func(r *raw) {
			r.path, r.body = pathAdd, `{"Official_Account":"@TOA#_a","SubscriberList":[{"Subscriber_Account":"u"},{"Subscriber_Account":" "}]}`
		}, chatapi.CodeInvalidParameter},
		{"add subscriber not an object", func(r *raw) {
			r.path, r.body = pathAdd, `{"Official_Account":"@TOA#_a","SubscriberList":["u"]}`
		}, chatapi.CodeJSONParse},
		{"add misspelt field", func(r *raw) {
			r.path, r.body = pathAdd, `{"Official_Account":"@TOA#_a","SubscriberList":[{"SubscriberAccount":"u"}]}`
		}, chatapi.CodeJSONParse},
		{"delete 101 subscribers", func(r *raw) {
			r.path, r.body = pathDelete, subscribersBody("SubscriberToDel_Account", 101)
		}, chatapi.CodeInvalidParameter},
		{"delete both lists", func(r *raw) {
			r.path, r.body = pathDelete, `{"Official_Account":"@TOA#_a","SubscriberToDel_Account":["u"],"SubscriberList":[{"Subscriber_Account":"u"}]}`
		}, chatapi.CodeInvalidParameter},
		{"delete no list", func(r *raw) { r.path, r.body = pathDelete, `{"Official_Account":"@TOA#_a"}` }, chatapi.CodeInvalidParameter},
		{"send no text", func(r *raw) {
			r.path, r.body = pathSend, `{"SyncOtherMachine":2,"To_Account":"b","MsgRandom":1,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{}}]}`
		}, chatapi.CodeInvalidParameter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			s.AddAccount(chatapitest.Account{ID: "@TOA#_a", Name: "A", Owner: "o", SubscriberNum: 5})
			r := raw{path: pathInfo, query: goodQuery(t), body: `{"OfficialAccountIdList":[{"Official_Account":"@TOA#_a"}]}`}
			tc.edit(&r)
			status, ans := send(t, s, r)
			if status != 200 || ans["ActionStatus"] != "FAIL" || ans["ErrorCode"] != tc.code {
				t.Errorf("answer %d %v, want FAIL %v", status, ans, tc.code)
			}
			if m := s.Malformed(); len(m) != 1 || m[0].Reason == "" {
				t.Errorf("malformed %+v, want one", m)
			}
			if a, _ := s.Account("@TOA#_a"); a.MaxSubscriberNum != chatapitest.DefaultMaxSubscriberNum || a.SubscriberNum != 5 ||
				len(s.Messages()) != 0 || len(s.Accounts()) != 1 {
				t.Error("a malformed request changed state")
			}
		})
	}
}

func TestFakeChecksUserSig(t *testing.T) {
	for _, tc := range []struct {
		name string
		sig  func() string
		code float64
	}{
		{"other key", func() string { s, _ := chatapi.GenUserSig(appID, "other", admin, time.Hour, start); return s }, chatapi.CodeUserSigVerifyFailed},
		{"expired", func() string {
			s, _ := chatapi.GenUserSig(appID, key, admin, time.Hour, start.Add(-2*time.Hour))
			return s
		}, chatapi.CodeUserSigExpired},
		{"other user", func() string { s, _ := chatapi.GenUserSig(appID, key, "bob", time.Hour, start); return s }, chatapi.CodeUserSigIdentifierMismatch},
		{"other app", func() string { s, _ := chatapi.GenUserSig(appID+1, key, admin, time.Hour, start); return s }, chatapi.CodeUserSigAppIDMismatch},
		{"garbage", func() string { return "not-a-sig" }, chatapi.CodeUserSigInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			q := goodQuery(t)
			q.Set("usersig", tc.sig())
			_, ans := send(t, s, raw{path: pathSend, query: q,
				body: `{"SyncOtherMachine":2,"To_Account":"b","MsgRandom":1,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"x"}}]}`})
			if ans["ActionStatus"] != "FAIL" || ans["ErrorCode"] != tc.code {
				t.Errorf("answer %v, want %v", ans, tc.code)
			}
			if len(s.Messages()) != 0 || s.Calls(chatapi.CommandSendMsg) != 1 {
				t.Error("unsigned message accepted or not counted")
			}
		})
	}
}

func TestFakeFaultQueueAndHold(t *testing.T) {
	s := newServer(t)
	s.FailNext(chatapi.CommandSendMsg, 2, chatapi.CodeMsgInternal, "x")
	body := `{"SyncOtherMachine":2,"To_Account":"b","MsgRandom":1,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"x"}}]}`
	for i, want := range []string{"FAIL", "FAIL", "OK"} {
		_, ans := send(t, s, raw{path: pathSend, query: goodQuery(t), body: body})
		if ans["ActionStatus"] != want {
			t.Errorf("call %d: %v, want %s", i, ans, want)
		}
	}
	// A fault for one command leaves others alone.
	s.FailNext(chatapi.CommandSendMsg, 1, chatapi.CodeMsgInternal, "x")
	if _, ans := send(t, s, raw{path: pathInfo, query: goodQuery(t), body: `{"OfficialAccountIdList":[{"Official_Account":"@TOA#_a"}]}`}); ans["ActionStatus"] != "OK" {
		t.Errorf("get info hit sendmsg's fault: %v", ans)
	}

	arrived, release := s.Hold(chatapi.CommandCreateOfficialAccount)
	done := make(chan map[string]any, 1)
	q := goodQuery(t)
	go func() {
		_, ans, err := sendE(s, raw{path: pathCreate, query: q, body: `{"Owner_Account":"o","Name":"n","OfficialAccountUserID":"@TOA#_h"}`})
		if err != nil {
			t.Error(err)
		}
		done <- ans
	}()
	<-arrived
	select {
	case ans := <-done:
		t.Fatalf("held call answered: %v", ans)
	default:
	}
	release()
	release() // idempotent
	if ans := <-done; ans["OfficialAccountUserID"] != "@TOA#_h" {
		t.Errorf("after release: %v", ans)
	}
	if len(s.Malformed()) != 0 {
		t.Errorf("malformed %+v", s.Malformed())
	}
}

func TestFakeCreateWithoutUserID(t *testing.T) {
	s := newServer(t)
	_, ans := send(t, s, raw{path: pathCreate, query: goodQuery(t), body: `{"Owner_Account":"o","Name":"n","MaxSubscriberNum":5}`})
	id, _ := ans["OfficialAccountUserID"].(string)
	a, ok := s.Account(id)
	if !strings.HasPrefix(id, "@TOA#_@TOA#") || !ok || a.MaxSubscriberNum != 5 || a.CreateTime != start.Unix() {
		t.Errorf("generated %q: %+v", id, a)
	}
}

func TestFakeReportsEachAccountRead(t *testing.T) {
	s := newServer(t)
	s.AddAccount(chatapitest.Account{ID: "@TOA#_a", Owner: admin})
	var got []string
	s.OnRead(func(id string, at time.Time) {
		got = append(got, id+" "+at.Format(time.RFC3339))
	})
	status, _ := send(t, s, raw{path: pathInfo, query: goodQuery(t),
		body: `{"OfficialAccountIdList":[{"Official_Account":"@TOA#_a"},{"Official_Account":"@TOA#_missing"}]}`})
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	// The missing account is not a read: it has no count.
	if want := []string{"@TOA#_a 2025-06-01T08:00:00Z"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("reads = %q, want %q", got, want)
	}
}
