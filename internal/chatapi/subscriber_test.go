package chatapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi/chatapitest"
)

func results(rs []chatapi.SubscriberResult) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "%s=%d ", r.Subscriber, r.Result)
		if r.Err != nil {
			fmt.Fprintf(&b, "(%v) ", r.Err)
		}
	}
	return strings.TrimSpace(b.String())
}

func TestAddSubscribers(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.AddAccount(chatapitest.Account{ID: "@TOA#_a", Name: "A", Owner: "o", SubscriberNum: 7, MaxSubscriberNum: 10})

	got, err := e.c.AddSubscribers(context.Background(), "@TOA#_a", []string{"u1", "u2", "u1"})
	if err != nil {
		t.Fatal(err)
	}
	if s := results(got); s != "u1=1 u2=1" {
		t.Errorf("results %s, want u1=1 u2=1 (duplicates folded)", s)
	}
	reqs := e.srv.Requests()
	checkQuery(t, reqs[0], testStart)
	if got, want := string(reqs[0].Body), `{"Official_Account":"@TOA#_a","SubscriberList":[{"Subscriber_Account":"u1"},{"Subscriber_Account":"u2"}]}`; got != want {
		t.Errorf("body %s, want %s", got, want)
	}

	// u2 is there already; u3 takes the last place; u4 is refused.
	got, err = e.c.AddSubscribers(context.Background(), "@TOA#_a", []string{"u2", "u3", "u4"})
	if err != nil {
		t.Fatal(err)
	}
	if s := results(got); s != "u2=2 u3=1 u4=0" {
		t.Errorf("results %s, want u2=2 u3=1 u4=0", s)
	}
	if got[0].Result != chatapi.SubscribeAlreadySubscribed || got[2].Result != chatapi.SubscribeFailed || got[1].Result.String() != "added" {
		t.Errorf("typed results %+v", got)
	}
	if a, _ := e.srv.Account("@TOA#_a"); a.SubscriberNum != 10 || e.srv.Refused("@TOA#_a") != 1 {
		t.Errorf("account %+v, %d refused", a, e.srv.Refused("@TOA#_a"))
	}
}

func TestAddSubscribersBatchesOf100(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.AddAccount(chatapitest.Account{ID: "@TOA#_a", Name: "A", Owner: "o", MaxSubscriberNum: 1000})
	subs := make([]string, 250)
	for i := range subs {
		subs[i] = fmt.Sprintf("user%03d", i)
	}
	got, err := e.c.AddSubscribers(context.Background(), "@TOA#_a", subs)
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	next := 0
	for _, r := range e.srv.Requests() {
		var body struct {
			SubscriberList []map[string]string
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(body.SubscriberList))
		for _, ref := range body.SubscriberList {
			if ref["Subscriber_Account"] != subs[next] {
				t.Fatalf("batch item %q, want %q", ref["Subscriber_Account"], subs[next])
			}
			next++
		}
	}
	if !reflect.DeepEqual(sizes, []int{100, 100, 50}) {
		t.Errorf("batch sizes %v", sizes)
	}
	if len(got) != 250 {
		t.Fatalf("%d results", len(got))
	}
	for i, r := range got {
		if r.Subscriber != subs[i] || r.Result != chatapi.SubscribeAdded || r.Err != nil {
			t.Fatalf("result %d = %+v", i, r)
		}
	}
	if a, _ := e.srv.Account("@TOA#_a"); a.SubscriberNum != 250 {
		t.Errorf("SubscriberNum %d", a.SubscriberNum)
	}
}

// The first attempt subscribes the users but its answer is lost; the retry finds
// them subscribed. They are counted once.
func TestAddSubscribersAnswerLost(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.AddAccount(chatapitest.Account{ID: "@TOA#_a", Name: "A", Owner: "o", MaxSubscriberNum: 10})
	e.srv.LoseAnswerNext(chatapi.CommandAddSubscriber, 1)
	got, err := e.c.AddSubscribers(context.Background(), "@TOA#_a", []string{"u1", "u2"})
	if err != nil {
		t.Fatal(err)
	}
	if s := results(got); s != "u1=2 u2=2" {
		t.Errorf("results %s", s)
	}
	if a, _ := e.srv.Account("@TOA#_a"); a.SubscriberNum != 2 || e.srv.Calls(chatapi.CommandAddSubscriber) != 2 {
		t.Errorf("account %+v after %d calls", a, e.srv.Calls(chatapi.CommandAddSubscriber))
	}
}

func TestAddSubscribersFails(t *testing.T) {
	e := newEnv(t, nil)
	got, err := e.c.AddSubscribers(context.Background(), "@TOA#_missing", []string{"u1"})
	var ae *chatapi.APIError
	if !errors.As(err, &ae) || ae.Code != chatapi.CodeOfficialAccountNotFound || len(got) != 0 || chatapi.IsRetryable(err) {
		t.Errorf("missing account: %v %v", got, err)
	}
	for _, bad := range []struct {
		account string
		subs    []string
	}{{"", []string{"u"}}, {"@TOA#_a", []string{"u", ""}}} {
		if _, err := e.c.AddSubscribers(context.Background(), bad.account, bad.subs); err == nil {
			t.Errorf("AddSubscribers(%q, %q) accepted", bad.account, bad.subs)
		}
	}
	if n := e.srv.TotalCalls(); n != 1 {
		t.Errorf("%d calls; invalid input must not reach the server", n)
	}
	if got, err := e.c.AddSubscribers(context.Background(), "@TOA#_a", nil); err != nil || len(got) != 0 || e.srv.TotalCalls() != 1 {
		t.Errorf("no subscribers: %v %v, %d calls", got, err, e.srv.TotalCalls())
	}
}

// Answers the fake does not give: items missing, out of order, with undocumented
// Results, and a failure of the second batch.
func TestAddSubscribersAnswerShapes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answers []string // SubscriberList of each call, or a whole FAIL answer
		subs    int
		want    string
		wantErr bool
	}{
		{"reversed, Result as a string, a repeated item ignored", []string{`[{"Subscriber_Account":"u1","Result":"0"},{"Subscriber_Account":"u0","Result":2},{"Subscriber_Account":"u1","Result":9}]`}, 2,
			"u0=2 u1=0", false},
		{"item missing", []string{`[{"Subscriber_Account":"u1","Result":1}]`}, 2,
			`u0=0 (chatapi official_account_open_http_svc/add_subscriber account "@TOA#_a": malformed answer (HTTP 200): subscriber "u0" missing from the answer) u1=1`, false},
		{"no Result, undocumented Result", []string{`[{"Subscriber_Account":"u0"},{"Subscriber_Account":"u1","Result":3}]`}, 2,
			`u0=0 (chatapi official_account_open_http_svc/add_subscriber account "@TOA#_a": malformed answer (HTTP 200): subscriber "u0" has no Result) ` +
				`u1=0 (chatapi official_account_open_http_svc/add_subscriber account "@TOA#_a": malformed answer (HTTP 200): subscriber "u1" has an undocumented Result 3)`, false},
		{"second batch fails", []string{`[]`, `{"ActionStatus":"FAIL","ErrorCode":70402,"ErrorInfo":"bad"}`}, 101,
			"", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				a := tc.answers[min(int(calls.Add(1))-1, len(tc.answers)-1)]
				if strings.HasPrefix(a, "{") {
					fmt.Fprint(w, a)
					return
				}
				fmt.Fprintf(w, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","SubscriberList":%s}`, a)
			}))
			defer srv.Close()
			c, err := chatapi.New(chatapi.Config{SDKAppID: testAppID, AdminIdentifier: testAdmin, SecretKey: testKey, Endpoint: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			subs := make([]string, tc.subs)
			for i := range subs {
				subs[i] = fmt.Sprintf("u%d", i)
			}
			got, err := c.AddSubscribers(context.Background(), "@TOA#_a", subs)
			if tc.wantErr {
				// The first batch's results come with the error: those calls happened.
				if err == nil || len(got) != 100 || !strings.Contains(err.Error(), "add subscribers 101-101 of 101") {
					t.Fatalf("got %d results, %v", len(got), err)
				}
				if !errors.Is(got[0].Err, chatapi.ErrMalformedAnswer) {
					t.Errorf("first batch's empty answer: %+v", got[0])
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := results(got); s != tc.want {
				t.Errorf("results\n%s\nwant\n%s", s, tc.want)
			}
			for _, r := range got {
				if r.Err != nil && (!errors.Is(r.Err, chatapi.ErrMalformedAnswer) || r.Result != chatapi.SubscribeFailed) {
					t.Errorf("%+v: a bad item must be SubscribeFailed with a malformed-answer Err", r)
				}
			}
		})
	}
}
