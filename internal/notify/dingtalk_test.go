package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oacapacity/oa-capacity-operator/internal/notify"
)

// dingtalkSignRef is the documented algorithm, written out here apart from
// the package: base64(HMAC-SHA256(key=secret, msg=timestamp+"\n"+secret)).
func dingtalkSignRef(secret string, tsMs int64) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(tsMs, 10) + "\n" + secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

const (
	dingSecret = "SECtest0123456789"
	// dingSignAtStart is the sign for dingSecret at testStart (1717228800000 ms),
	// computed once with:
	//   printf '1717228800000\nSECtest0123456789' | openssl dgst -sha256 -hmac 'SECtest0123456789' -binary | base64
	dingSignAtStart = "6aUJFANrXOgTaWKEsuseUqxDqEluPEbP51oNJ5ytxlI="
)

func TestDingTalkSignVector(t *testing.T) {
	if got := dingtalkSignRef(dingSecret, testStart.UnixMilli()); got != dingSignAtStart {
		t.Fatalf("reference sign %q, openssl says %q", got, dingSignAtStart)
	}
}

func TestDingTalkSend(t *testing.T) {
	tg := newTarget(t, reply{body: `{"errcode":0,"errmsg":"ok"}`})
	n := mustNew(t, config(notify.TypeDingTalk, tg.srv.URL+"/robot/send?access_token=tok123456", newClock()))
	if err := n.Send(context.Background(), testMsg); err != nil {
		t.Fatal(err)
	}
	reqs := tg.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	checkPost(t, reqs[0], "/robot/send")
	if reqs[0].RawQuery != "access_token=tok123456" {
		t.Errorf("query %q", reqs[0].RawQuery)
	}
	checkJSON(t, reqs[0].Body, map[string]any{
		"msgtype": "markdown",
		"markdown": map[string]any{
			"title": testTitle,
			"text":  "#### " + testTitle + "\n\n" + strings.Join(testLines, "\n\n"),
		},
	})
}

func TestDingTalkSigned(t *testing.T) {
	// Rate limited once: the retry must carry a fresh timestamp and sign.
	tg := newTarget(t,
		reply{body: `{"errcode":130101,"errmsg":"send too fast"}`},
		reply{body: `{"errcode":0,"errmsg":"ok"}`})
	clk := newClock()
	cfg := config(notify.TypeDingTalk, tg.srv.URL+"/robot/send?access_token=tok123456", clk)
	cfg.SigningKey = dingSecret
	n := mustNew(t, cfg)
	if err := n.Send(context.Background(), testMsg); err != nil {
		t.Fatal(err)
	}
	reqs := tg.requests()
	if len(reqs) != 2 || len(clk.Sleeps()) != 1 {
		t.Fatalf("%d requests, %d sleeps; want 2, 1", len(reqs), len(clk.Sleeps()))
	}
	for i, r := range reqs {
		ts := testStart.UnixMilli()
		if i == 1 {
			ts = testStart.Add(clk.Sleeps()[0]).UnixMilli()
		}
		sign := dingtalkSignRef(dingSecret, ts)
		if i == 0 && sign != dingSignAtStart {
			t.Fatalf("sign %q, want %q", sign, dingSignAtStart)
		}
		want := "access_token=tok123456&timestamp=" + strconv.FormatInt(ts, 10) + "&sign=" + url.QueryEscape(sign)
		if r.RawQuery != want {
			t.Errorf("attempt %d: query\n got %q\nwant %q", i+1, r.RawQuery, want)
		}
		if r.Query.Get("sign") != sign {
			t.Errorf("attempt %d: sign %q, want %q", i+1, r.Query.Get("sign"), sign)
		}
	}
}

func TestDingTalkSignedURLWithoutQuery(t *testing.T) {
	tg := newTarget(t, reply{body: `{"errcode":0}`})
	cfg := config(notify.TypeDingTalk, tg.srv.URL+"/robot/send", newClock())
	cfg.SigningKey = dingSecret
	if err := mustNew(t, cfg).Send(context.Background(), testMsg); err != nil {
		t.Fatal(err)
	}
	want := "timestamp=1717228800000&sign=" + url.QueryEscape(dingSignAtStart)
	if got := tg.requests()[0].RawQuery; got != want {
		t.Errorf("query %q, want %q", got, want)
	}
}

func TestDingTalkCodes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		body      string
		permanent bool
		attempts  int
	}{
		{"sending too fast", `{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}`, false, 4},
		{"token missing", `{"errcode":300001,"errmsg":"token is not exist"}`, true, 1},
		{"sign mismatch", `{"errcode":310000,"errmsg":"sign not match"}`, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := newTarget(t, reply{body: tc.body})
			clk := newClock()
			err := mustNew(t, config(notify.TypeDingTalk, tg.srv.URL+"/robot/send?access_token=t", clk)).Send(context.Background(), testMsg)
			e := asError(t, err)
			if e.Permanent != tc.permanent || len(tg.requests()) != tc.attempts || e.Attempts != tc.attempts || e.Code == 0 {
				t.Errorf("%d requests; error %+v", len(tg.requests()), e)
			}
			for _, d := range clk.Sleeps() {
				if d <= 0 || d > 30*time.Second {
					t.Errorf("sleep %v", d)
				}
			}
		})
	}
}
