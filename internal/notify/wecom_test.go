package notify_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/oacapacity/oa-capacity-operator/internal/notify"
)

func TestWeComSend(t *testing.T) {
	tg := newTarget(t, reply{body: `{"errcode":0,"errmsg":"ok"}`})
	n := mustNew(t, config(notify.TypeWeCom, tg.srv.URL+"/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa", newClock()))
	if err := n.Send(context.Background(), testMsg); err != nil {
		t.Fatal(err)
	}
	reqs := tg.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	checkPost(t, reqs[0], "/cgi-bin/webhook/send")
	if reqs[0].RawQuery != "key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa" {
		t.Errorf("query %q", reqs[0].RawQuery)
	}
	checkJSON(t, reqs[0].Body, map[string]any{
		"msgtype":  "markdown",
		"markdown": map[string]any{"content": "**" + testTitle + "**\n" + strings.Join(testLines, "\n")},
	})
}

func TestWeComTruncatesOnRuneBoundary(t *testing.T) {
	tg := newTarget(t, reply{body: `{"errcode":0,"errmsg":"ok"}`})
	n := mustNew(t, config(notify.TypeWeCom, tg.srv.URL+"/send?key=k", newClock()))
	m := testMsg
	m.Text = strings.Repeat("满", 3000) // 9000 bytes
	if err := n.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	var body struct {
		Markdown struct{ Content string } `json:"markdown"`
	}
	b := tg.requests()[0].Body
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatal(err)
	}
	c := body.Markdown.Content
	if len(c) > notify.WeComMaxContentBytes || len(c) < notify.WeComMaxContentBytes-3 || !utf8.ValidString(c) || !strings.HasSuffix(c, "满…") {
		t.Errorf("content is %d bytes, valid UTF-8 %v, ends %q", len(c), utf8.ValidString(c), c[max(0, len(c)-12):])
	}
}

func TestWeComCodes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		replies   []reply
		wantErr   bool
		permanent bool
		code      int
		attempts  int
	}{
		{"rate limited then ok", []reply{
			{body: `{"errcode":45009,"errmsg":"api freq out of limit"}`},
			{body: `{"errcode":0,"errmsg":"ok"}`},
		}, false, false, 0, 2},
		{"rate limited always", []reply{{body: `{"errcode":45009,"errmsg":"api freq out of limit"}`}}, true, false, 45009, 4},
		{"invalid webhook url", []reply{{body: `{"errcode":93000,"errmsg":"invalid webhook url"}`}}, true, true, 93000, 1},
		{"invalid content", []reply{{body: `{"errcode":40008,"errmsg":"invalid message type"}`}}, true, true, 40008, 1},
		{"not JSON then ok", []reply{{body: `<html>bad gateway`}, {body: `{"errcode":0}`}}, false, false, 0, 2},
		{"no errcode", []reply{{body: `{"hello":1}`}}, true, true, 0, 1},
		{"HTTP 502", []reply{{status: 502}, {body: `{"errcode":0}`}}, false, false, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := newTarget(t, tc.replies...)
			clk := newClock()
			n := mustNew(t, config(notify.TypeWeCom, tg.srv.URL+"/send?key=k", clk))
			err := n.Send(context.Background(), testMsg)
			if got := len(tg.requests()); got != tc.attempts {
				t.Errorf("%d requests, want %d", got, tc.attempts)
			}
			if got := len(clk.Sleeps()); got != tc.attempts-1 {
				t.Errorf("%d sleeps, want %d", got, tc.attempts-1)
			}
			if !tc.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			e := asError(t, err)
			if e.Permanent != tc.permanent || e.Code != tc.code || e.Status != 200 {
				t.Errorf("error %+v: %v", e, err)
			}
		})
	}
}
