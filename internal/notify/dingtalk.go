package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DingTalkCodeRateLimited is the errcode of "sending too fast" (20 messages
// a minute per robot); it is retried.
const DingTalkCodeRateLimited = 130101

// dingtalk posts to a DingTalk (钉钉) custom group robot.
type dingtalk struct{ *deliverer }

func newDingTalk(_ Config, d *deliverer) Notifier { return &dingtalk{d} }

// dingtalkSign is the robot signature ("加签") for a timestamp in
// milliseconds: base64(HMAC-SHA256(key = secret, message = timestamp + "\n" +
// secret)), not yet URL-encoded.
func dingtalkSign(secret string, timestampMs int64) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestampMs, 10) + "\n" + secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// dingtalkText is the message as DingTalk markdown; a line break needs an
// empty line there.
func dingtalkText(m Message) string {
	return "#### " + title(m) + "\n\n" + strings.Join(lines(m), "\n\n")
}

// Send posts a markdown message, signing the URL when there is a key;
// success is errcode 0.
func (d *dingtalk) Send(ctx context.Context, m Message) error {
	m, err := d.prepare(m)
	if err != nil {
		return err
	}
	type markdown struct {
		Title string `json:"title"`
		Text  string `json:"text"`
	}
	body, err := marshal(struct {
		MsgType  string   `json:"msgtype"`
		Markdown markdown `json:"markdown"`
	}{"markdown", markdown{title(m), dingtalkText(m)}})
	if err != nil {
		return d.permanent(err)
	}
	return d.postJSON(ctx, func(now time.Time) (request, error) {
		return request{url: d.signedURL(now), body: body}, nil
	}, codeCheck(readErrcode, DingTalkCodeRateLimited))
}

// signedURL is the URL with &timestamp=..&sign=.. (or ?timestamp=..) when
// there is a key, else the URL.
func (d *dingtalk) signedURL(now time.Time) string {
	if d.key == "" {
		return d.url
	}
	ts := now.UnixMilli()
	sep := "&"
	if !strings.Contains(d.url, "?") {
		sep = "?"
	} else if strings.HasSuffix(d.url, "?") || strings.HasSuffix(d.url, "&") {
		sep = ""
	}
	return d.url + sep + "timestamp=" + strconv.FormatInt(ts, 10) + "&sign=" + url.QueryEscape(dingtalkSign(d.key, ts))
}
