package chatapitest_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi/chatapitest"
)

// subscribersBody is a request body for @TOA#_a with n subscribers in field:
// objects for SubscriberList, plain IDs for SubscriberToDel_Account.
func subscribersBody(field string, n int) string {
	items := make([]string, n)
	for i := range items {
		if field == "SubscriberList" {
			items[i] = fmt.Sprintf(`{"Subscriber_Account":"u%d"}`, i)
		} else {
			items[i] = fmt.Sprintf(`"u%d"`, i)
		}
	}
	return `{"Official_Account":"@TOA#_a","` + field + `":[` + strings.Join(items, ",") + `]}`
}

// subscribe sends add_subscriber (or delete_subscriber, with path) for ids and
// returns the answer as its JSON text, with the results in order.
func subscribe(t *testing.T, s *chatapitest.Server, path, account string, ids ...string) string {
	t.Helper()
	refs := make([]map[string]string, len(ids))
	for i, id := range ids {
		refs[i] = map[string]string{"Subscriber_Account": id}
	}
	body, _ := json.Marshal(map[string]any{"Official_Account": account, "SubscriberList": refs})
	_, ans := send(t, s, raw{path: path, query: goodQuery(t), body: string(body)})
	out, _ := json.Marshal(ans)
	return string(out)
}

func TestFakeAddSubscriber(t *testing.T) {
	for _, tc := range []struct {
		name        string
		num, max    int64
		memory      int // SetSubscriberMemory; -1 leaves the default
		before      []string
		add         []string
		want        string
		wantNum     int64
		wantRefused int64
	}{
		{"room for all", 0, 10, -1, nil, []string{"u1", "u2"},
			`[{"Result":1,"Subscriber_Account":"u1"},{"Result":1,"Subscriber_Account":"u2"}]`, 2, 0},
		{"already subscribed", 0, 10, -1, []string{"u1"}, []string{"u1", "u2"},
			`[{"Result":2,"Subscriber_Account":"u1"},{"Result":1,"Subscriber_Account":"u2"}]`, 2, 0},
		{"twice in one call", 0, 10, -1, nil, []string{"u1", "u1"},
			`[{"Result":1,"Subscriber_Account":"u1"},{"Result":2,"Subscriber_Account":"u1"}]`, 1, 0},
		{"fills up within the call", 8, 10, -1, nil, []string{"u1", "u2", "u3", "u4"},
			`[{"Result":1,"Subscriber_Account":"u1"},{"Result":1,"Subscriber_Account":"u2"},{"Result":0,"Subscriber_Account":"u3"},{"Result":0,"Subscriber_Account":"u4"}]`, 10, 2},
		{"full: a subscriber is still subscribed", 9, 10, -1, []string{"u1"}, []string{"u1", "u2"},
			`[{"Result":2,"Subscriber_Account":"u1"},{"Result":0,"Subscriber_Account":"u2"}]`, 10, 1},
		{"over the limit (lowered)", 12, 10, -1, nil, []string{"u1"},
			`[{"Result":0,"Subscriber_Account":"u1"}]`, 12, 1},
		{"no memory: counted again", 0, 10, 0, []string{"u1"}, []string{"u1"},
			`[{"Result":1,"Subscriber_Account":"u1"}]`, 2, 0},
		{"memory of one: the second is anonymous", 0, 10, 1, []string{"u1", "u2"}, []string{"u1", "u2"},
			`[{"Result":2,"Subscriber_Account":"u1"},{"Result":1,"Subscriber_Account":"u2"}]`, 3, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			s.AddAccount(chatapitest.Account{ID: "@TOA#_a", Name: "A", Owner: "o", SubscriberNum: tc.num, MaxSubscriberNum: tc.max})
			s.AddAccount(chatapitest.Account{ID: "@TOA#_b", Name: "B", Owner: "o"})
			if tc.memory >= 0 {
				s.SetSubscriberMemory(tc.memory)
			}
			if len(tc.before) > 0 {
				subscribe(t, s, pathAdd, "@TOA#_a", tc.before...)
			}
			got := subscribe(t, s, pathAdd, "@TOA#_a", tc.add...)
			want := `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","SubscriberList":` + tc.want + `}`
			if got != want {
				t.Errorf("answer\n%s\nwant\n%s", got, want)
			}
			a, _ := s.Account("@TOA#_a")
			if a.SubscriberNum != tc.wantNum || s.Refused("@TOA#_a") != tc.wantRefused {
				t.Errorf("SubscriberNum %d, refused %d; want %d, %d", a.SubscriberNum, s.Refused("@TOA#_a"), tc.wantNum, tc.wantRefused)
			}
			if b, _ := s.Account("@TOA#_b"); b.SubscriberNum != 0 || s.Refused("@TOA#_b") != 0 || s.Subscribed("@TOA#_b", "u1") {
				t.Errorf("another account changed: %+v", b)
			}
			if m := s.Malformed(); len(m) != 0 {
				t.Errorf("malformed %+v", m)
			}
		})
	}
}

func TestFakeAddSubscriberUnknownAccount(t *testing.T) {
	s := newServer(t)
	got := subscribe(t, s, pathAdd, "@TOA#_nobody", "u1")
	if want := fmt.Sprintf(`{"ActionStatus":"FAIL","ErrorCode":%d,"ErrorInfo":"official account does not exist"}`, chatapi.CodeOfficialAccountNotFound); got != want {
		t.Errorf("answer %s, want %s", got, want)
	}
	if len(s.Malformed()) != 0 || s.Refused("@TOA#_nobody") != 0 {
		t.Error("an unknown account is a Chat error, not a malformed request or a refusal")
	}
}

// SetSubscriberNum is anonymous users subscribing or leaving: the fake forgets
// remembered subscribers once the count is below them.
func TestFakeSetSubscriberNumAndMemory(t *testing.T) {
	s := newServer(t)
	s.AddAccount(chatapitest.Account{ID: "@TOA#_a", Name: "A", Owner: "o", MaxSubscriberNum: 10})
	subscribe(t, s, pathAdd, "@TOA#_a", "u1", "u2")
	s.SetSubscriberNum("@TOA#_a", 5) // three more, anonymous
	if !s.Subscribed("@TOA#_a", "u1") || !s.Subscribed("@TOA#_a", "u2") {
		t.Error("forgot subscribers the count still covers")
	}
	s.SetSubscriberNum("@TOA#_a", 1)
	if s.Subscribed("@TOA#_a", "u1") || s.Subscribed("@TOA#_a", "u2") {
		t.Error("remembers more subscribers than the count")
	}
	if got := subscribe(t, s, pathAdd, "@TOA#_a", "u1"); !strings.Contains(got, `{"Result":1,"Subscriber_Account":"u1"}`) {
		t.Errorf("u1 again: %s", got)
	}
	// AddAccount replaces the account and what was known of it.
	s.AddAccount(chatapitest.Account{ID: "@TOA#_a", Name: "A", Owner: "o", MaxSubscriberNum: 10})
	if s.Subscribed("@TOA#_a", "u1") {
		t.Error("a replaced account kept its subscribers")
	}
}

func TestFakeDeleteSubscriber(t *testing.T) {
	s := newServer(t)
	s.AddAccount(chatapitest.Account{ID: "@TOA#_a", Name: "A", Owner: "o", SubscriberNum: 1, MaxSubscriberNum: 10})
	subscribe(t, s, pathAdd, "@TOA#_a", "u1")
	// u1 is remembered; x is taken as the one anonymous subscriber; y is not
	// subscribed, nor u1 a second time.
	got := subscribe(t, s, pathDelete, "@TOA#_a", "u1", "x", "y", "u1")
	want := `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","SubscriberList":[{"Result":1,"Subscriber_Account":"u1"},{"Result":1,"Subscriber_Account":"x"},{"Result":2,"Subscriber_Account":"y"},{"Result":2,"Subscriber_Account":"u1"}]}`
	if got != want {
		t.Errorf("answer\n%s\nwant\n%s", got, want)
	}
	if a, _ := s.Account("@TOA#_a"); a.SubscriberNum != 0 || s.Subscribed("@TOA#_a", "u1") {
		t.Errorf("after delete: %+v", a)
	}
	// The shape of Tencent's sample request: a list of IDs.
	subscribe(t, s, pathAdd, "@TOA#_a", "u2")
	_, ans := send(t, s, raw{path: pathDelete, query: goodQuery(t), body: `{"Official_Account":"@TOA#_a","SubscriberToDel_Account":["u2"]}`})
	if items, _ := ans["SubscriberList"].([]any); len(items) != 1 || items[0].(map[string]any)["Result"] != float64(1) {
		t.Errorf("SubscriberToDel_Account: %v", ans)
	}
	if a, _ := s.Account("@TOA#_a"); a.SubscriberNum != 0 || len(s.Malformed()) != 0 {
		t.Errorf("after delete: %+v, malformed %+v", a, s.Malformed())
	}
}

// fullEvent is an OnFull call.
type fullEvent struct {
	account string
	at      time.Time
}

func TestFakeOnFull(t *testing.T) {
	var (
		mu     sync.Mutex
		events []fullEvent
	)
	// The server lives in the subtest: its cleanup waits for every hook, so that
	// afterwards events holds all there will ever be.
	t.Run("fills", func(t *testing.T) {
		clk := chatapitest.NewClock(start)
		s := chatapitest.NewServer(t, appID, admin, key)
		s.SetClock(clk.Now)
		s.OnFull(func(account string, at time.Time) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, fullEvent{account, at})
		})
		s.AddAccount(chatapitest.Account{ID: "@TOA#_a", Name: "A", Owner: "o", SubscriberNum: 7, MaxSubscriberNum: 10})
		s.AddAccount(chatapitest.Account{ID: "@TOA#_b", Name: "B", Owner: "o", MaxSubscriberNum: 10})

		s.SetSubscriberNum("@TOA#_b", 10) // not a subscription: no callback
		subscribe(t, s, pathAdd, "@TOA#_a", "u1", "u2")
		clk.Advance(time.Second)
		subscribe(t, s, pathAdd, "@TOA#_a", "u3", "u4") // the 10th, then a refusal: one callback
		subscribe(t, s, pathAdd, "@TOA#_a", "u5")       // refused: already full, no second callback
		subscribe(t, s, pathAdd, "@TOA#_b", "u1")       // refused; it never filled through a subscription
		if s.Refused("@TOA#_a") != 2 || s.Refused("@TOA#_b") != 1 {
			t.Errorf("refused %d, %d", s.Refused("@TOA#_a"), s.Refused("@TOA#_b"))
		}
		// Room again (a raise), filled again: a second callback.
		s.AddAccount(chatapitest.Account{ID: "@TOA#_a", Name: "A", Owner: "o", SubscriberNum: 10, MaxSubscriberNum: 11})
		clk.Advance(time.Minute)
		subscribe(t, s, pathAdd, "@TOA#_a", "u6")
		s.OnFull(nil) // off: filling b by subscription calls nothing
		s.AddAccount(chatapitest.Account{ID: "@TOA#_b", Name: "B", Owner: "o", SubscriberNum: 9, MaxSubscriberNum: 10})
		subscribe(t, s, pathAdd, "@TOA#_b", "u1")
	})
	mu.Lock()
	defer mu.Unlock()
	slices.SortFunc(events, func(x, y fullEvent) int { return x.at.Compare(y.at) })
	want := []fullEvent{{"@TOA#_a", start.Add(time.Second)}, {"@TOA#_a", start.Add(time.Second + time.Minute)}}
	if !slices.EqualFunc(events, want, func(x, y fullEvent) bool { return x.account == y.account && x.at.Equal(y.at) }) {
		t.Errorf("OnFull calls %v, want %v", events, want)
	}
}

// The hook runs on its own goroutine, so a slow one does not hold the REST
// answer (Chat's callback is not part of it).
func TestFakeOnFullDoesNotHoldTheAnswer(t *testing.T) {
	s := newServer(t)
	release, done := make(chan struct{}), make(chan struct{})
	s.OnFull(func(string, time.Time) { <-release; close(done) })
	s.AddAccount(chatapitest.Account{ID: "@TOA#_a", Name: "A", Owner: "o", MaxSubscriberNum: 1})
	if got := subscribe(t, s, pathAdd, "@TOA#_a", "u1"); !strings.Contains(got, `"Result":1`) {
		t.Errorf("answer %s", got)
	}
	close(release)
	<-done
}
