package notify_test

import (
	"context"
	"strings"
	"testing"

	"github.com/oacapacity/oa-capacity-operator/internal/notify"
)

func TestSlackSend(t *testing.T) {
	tg := newTarget(t, reply{body: "ok"})
	clk := newClock()
	n := mustNew(t, config(notify.TypeSlack, tg.srv.URL+"/services/T0001/B0001/abcdefghijkl", clk))
	m := testMsg
	m.Text = "a <b> & c"
	if err := n.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	reqs := tg.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	checkPost(t, reqs[0], "/services/T0001/B0001/abcdefghijkl")
	if reqs[0].RawQuery != "" {
		t.Errorf("query %q", reqs[0].RawQuery)
	}
	want := "*" + testTitle + "*\na &lt;b&gt; &amp; c\n" + strings.Join(testLines[1:], "\n")
	checkJSON(t, reqs[0].Body, map[string]any{"text": want})
}

func TestSlackAnswers(t *testing.T) {
	for _, tc := range []struct {
		name      string
		reply     reply
		wantErr   bool
		permanent bool
		attempts  int
	}{
		{"ok", reply{body: "ok"}, false, false, 1},
		{"204 empty", reply{status: 204}, false, false, 1},
		{"400 invalid_payload", reply{status: 400, body: "invalid_payload"}, true, true, 1},
		{"403 invalid_token", reply{status: 403, body: "invalid_token"}, true, true, 1},
		{"410 channel_is_archived", reply{status: 410, body: "channel_is_archived"}, true, true, 1},
		{"500", reply{status: 500, body: "oops"}, true, false, 4},
		{"302 not followed", reply{status: 302, header: map[string]string{"Location": "https://example.invalid/"}}, true, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := newTarget(t, tc.reply)
			n := mustNew(t, config(notify.TypeSlack, tg.srv.URL+"/services/x", newClock()))
			err := n.Send(context.Background(), testMsg)
			if got := len(tg.requests()); got != tc.attempts {
				t.Errorf("%d requests, want %d", got, tc.attempts)
			}
			if !tc.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			e := asError(t, err)
			if e.Permanent != tc.permanent || notify.IsPermanent(err) != tc.permanent {
				t.Errorf("permanent %v, want %v: %v", e.Permanent, tc.permanent, err)
			}
			if e.Status != tc.reply.status || e.Info != tc.reply.body || e.Type != "slack" || e.Attempts != tc.attempts {
				t.Errorf("error %+v", e)
			}
		})
	}
}
