package notify_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/oacapacity/oa-capacity-operator/internal/chatapi/chatapitest"
	"github.com/oacapacity/oa-capacity-operator/internal/notify"
)

// testStart is 2024-06-01T08:00:00Z, unix 1717228800.
var testStart = time.Date(2024, 6, 1, 8, 0, 0, 0, time.UTC)

// testMsg is the message most tests send.
var testMsg = notify.Message{
	ID:            "prod/oac/oa_1/1717228800000/full",
	Kind:          notify.KindFull,
	AppID:         1400000001,
	Account:       "oa_1",
	Resource:      "prod/oac",
	Time:          testStart,
	Action:        "switched to oa_2",
	ActiveAccount: "oa_2",
	Text:          "oa_1 is full (10000/10000 subscribers)",
}

// testLines is how the facts of testMsg are written, one a line.
var testLines = []string{
	"oa_1 is full (10000/10000 subscribers)",
	"Resource: prod/oac",
	"SDKAppID: 1400000001",
	"Account: oa_1",
	"Action: switched to oa_2",
	"Active account: oa_2",
	"Time: 2024-06-01T08:00:00Z",
	"Event: prod/oac/oa_1/1717228800000/full",
}

const testTitle = "OA capacity full: prod/oac"

// newClock is a virtual clock at testStart whose Sleep returns at once.
func newClock() *chatapitest.Clock { return chatapitest.NewClock(testStart) }

// reply is one scripted answer of a target.
type reply struct {
	status int               // 0 means 200
	header map[string]string // extra headers
	body   string
}

// received is a request as the target saw it.
type received struct {
	Method   string
	Path     string
	RawQuery string
	Query    url.Values
	Header   http.Header
	Body     []byte
}

// target is an httptest server that records requests and answers with the
// scripted replies in turn, repeating the last one.
type target struct {
	srv     *httptest.Server
	mu      sync.Mutex
	reqs    []received
	replies []reply
}

func newTarget(t *testing.T, replies ...reply) *target {
	t.Helper()
	if len(replies) == 0 {
		replies = []reply{{body: "ok"}}
	}
	tg := &target{replies: replies}
	tg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		tg.mu.Lock()
		tg.reqs = append(tg.reqs, received{r.Method, r.URL.Path, r.URL.RawQuery, r.URL.Query(), r.Header.Clone(), body})
		rp := tg.replies[min(len(tg.reqs), len(tg.replies))-1]
		tg.mu.Unlock()
		for k, v := range rp.header {
			w.Header().Set(k, v)
		}
		if rp.status == 0 {
			rp.status = http.StatusOK
		}
		w.WriteHeader(rp.status)
		_, _ = io.WriteString(w, rp.body)
	}))
	t.Cleanup(tg.srv.Close)
	return tg
}

func (tg *target) requests() []received {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return append([]received(nil), tg.reqs...)
}

// config is a Config of typ for url on clk's time.
func config(typ, url string, clk *chatapitest.Clock) notify.Config {
	return notify.Config{Type: typ, URL: url, Now: clk.Now, Sleep: clk.Sleep}
}

// mustNew is New that fails the test on error.
func mustNew(t *testing.T, cfg notify.Config) notify.Notifier {
	t.Helper()
	n, err := notify.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// decode decodes a JSON body into generic values.
func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body %s: %v", b, err)
	}
	return m
}

// checkJSON compares a body with want, decoded the same way, exactly.
func checkJSON(t *testing.T, got []byte, want any) {
	t.Helper()
	wb, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	g, w := decode(t, got), decode(t, wb)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body\n got %s\nwant %s", got, wb)
	}
}

// checkPost checks the method, path and content type of a request.
func checkPost(t *testing.T, r received, path string) {
	t.Helper()
	if r.Method != http.MethodPost || r.Path != path || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request %s %s, Content-Type %q; want POST %s application/json", r.Method, r.Path, r.Header.Get("Content-Type"), path)
	}
}

// asError returns the *notify.Error in err, failing the test if none.
func asError(t *testing.T, err error) *notify.Error {
	t.Helper()
	var e *notify.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) holds no *notify.Error", err, err)
	}
	return e
}
