package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"testing"

	"github.com/oacapacity/oa-capacity-operator/internal/notify"
)

// feishuSignRef is the documented algorithm, written out here apart from the
// package: base64(HMAC-SHA256(key=timestamp+"\n"+secret, msg=empty)).
func feishuSignRef(secret string, tsSec int64) string {
	mac := hmac.New(sha256.New, []byte(strconv.FormatInt(tsSec, 10)+"\n"+secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

const (
	feishuSecret = "feishu-secret-xyz"
	// feishuSignAtStart is the sign for feishuSecret at testStart (1717228800 s),
	// computed once with:
	//   printf '' | openssl dgst -sha256 -hmac "$(printf '1717228800\nfeishu-secret-xyz')" -binary | base64
	feishuSignAtStart = "nm7UhUEoZfr5ezgbVfLvzI6hx+qn0R9BN1ltD6YxWnE="
)

// feishuPostBody is the body expected for testMsg, plus extra top-level keys.
func feishuPostBody(extra map[string]any) map[string]any {
	var content []any
	for _, l := range testLines {
		content = append(content, []any{map[string]any{"tag": "text", "text": l}})
	}
	b := map[string]any{
		"msg_type": "post",
		"content": map[string]any{"post": map[string]any{"zh_cn": map[string]any{
			"title":   testTitle,
			"content": content,
		}}},
	}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

func TestFeishuSignVector(t *testing.T) {
	if got := feishuSignRef(feishuSecret, testStart.Unix()); got != feishuSignAtStart {
		t.Fatalf("reference sign %q, openssl says %q", got, feishuSignAtStart)
	}
}

func TestFeishuSend(t *testing.T) {
	tg := newTarget(t, reply{body: `{"code":0,"data":{},"msg":"success"}`})
	n := mustNew(t, config(notify.TypeFeishu, tg.srv.URL+"/open-apis/bot/v2/hook/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", newClock()))
	if err := n.Send(context.Background(), testMsg); err != nil {
		t.Fatal(err)
	}
	reqs := tg.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	checkPost(t, reqs[0], "/open-apis/bot/v2/hook/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
	if reqs[0].RawQuery != "" {
		t.Errorf("query %q", reqs[0].RawQuery)
	}
	checkJSON(t, reqs[0].Body, feishuPostBody(nil))
}

func TestFeishuSigned(t *testing.T) {
	tg := newTarget(t, reply{status: 500}, reply{body: `{"StatusCode":0,"StatusMessage":"success"}`})
	clk := newClock()
	cfg := config(notify.TypeFeishu, tg.srv.URL+"/open-apis/bot/v2/hook/abc", clk)
	cfg.SigningKey = feishuSecret
	if err := mustNew(t, cfg).Send(context.Background(), testMsg); err != nil {
		t.Fatal(err)
	}
	reqs := tg.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	checkJSON(t, reqs[0].Body, feishuPostBody(map[string]any{"timestamp": "1717228800", "sign": feishuSignAtStart}))
	// The retry is signed afresh.
	ts := testStart.Add(clk.Sleeps()[0]).Unix()
	checkJSON(t, reqs[1].Body, feishuPostBody(map[string]any{
		"timestamp": strconv.FormatInt(ts, 10), "sign": feishuSignRef(feishuSecret, ts)}))
}

func TestFeishuAnswers(t *testing.T) {
	for _, tc := range []struct {
		name      string
		reply     reply
		wantErr   bool
		permanent bool
		code      int
	}{
		{"code 0", reply{body: `{"code":0,"msg":"success"}`}, false, false, 0},
		{"old StatusCode 0", reply{body: `{"Extra":null,"StatusCode":0,"StatusMessage":"success"}`}, false, false, 0},
		{"sign mismatch", reply{body: `{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}`}, true, true, 19021},
		{"bad request", reply{body: `{"code":9499,"msg":"Bad Request","data":{}}`}, true, true, 9499},
		{"400 with code", reply{status: 400, body: `{"code":9499,"msg":"Bad Request"}`}, true, true, 9499},
		{"old StatusCode failure", reply{body: `{"StatusCode":19001,"StatusMessage":"param invalid"}`}, true, true, 19001},
		{"neither", reply{body: `{}`}, true, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := newTarget(t, tc.reply)
			err := mustNew(t, config(notify.TypeFeishu, tg.srv.URL+"/hook/abc", newClock())).Send(context.Background(), testMsg)
			if !tc.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			e := asError(t, err)
			if e.Permanent != tc.permanent || e.Code != tc.code || len(tg.requests()) != 1 {
				t.Errorf("%d requests; error %+v", len(tg.requests()), e)
			}
		})
	}
}
