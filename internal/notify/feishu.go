package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"
)

// feishu posts to a Feishu/Lark custom bot, as a "post" (rich text) message.
type feishu struct{ *deliverer }

func newFeishu(_ Config, d *deliverer) Notifier { return &feishu{d} }

// feishuSign is the bot signature for a timestamp in seconds:
// base64(HMAC-SHA256(key = timestamp + "\n" + secret, message = empty)).
func feishuSign(secret string, timestampSec int64) string {
	mac := hmac.New(sha256.New, []byte(strconv.FormatInt(timestampSec, 10)+"\n"+secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// feishuTextTag is one run of plain text in a post paragraph.
type feishuTextTag struct {
	Tag  string `json:"tag"`
	Text string `json:"text"`
}

// feishuPost is the "post" content: a title and one paragraph a line.
type feishuPost struct {
	Title   string            `json:"title"`
	Content [][]feishuTextTag `json:"content"`
}

// feishuBody is the request; timestamp and sign are set with a key.
type feishuBody struct {
	Timestamp string `json:"timestamp,omitempty"`
	Sign      string `json:"sign,omitempty"`
	MsgType   string `json:"msg_type"`
	Content   struct {
		Post map[string]feishuPost `json:"post"`
	} `json:"content"`
}

// Send posts a rich-text message, signed when there is a key; success is
// code 0 (StatusCode 0 in older answers).
func (f *feishu) Send(ctx context.Context, m Message) error {
	m, err := f.prepare(m)
	if err != nil {
		return err
	}
	p := feishuPost{Title: title(m)}
	for _, l := range lines(m) {
		p.Content = append(p.Content, []feishuTextTag{{Tag: "text", Text: l}})
	}
	return f.postJSON(ctx, func(now time.Time) (request, error) {
		b := feishuBody{MsgType: "post"}
		b.Content.Post = map[string]feishuPost{"zh_cn": p}
		if f.key != "" {
			ts := now.Unix()
			b.Timestamp, b.Sign = strconv.FormatInt(ts, 10), feishuSign(f.key, ts)
		}
		body, err := marshal(b)
		return request{url: f.url, body: body}, err
	}, codeCheck(readFeishuCode))
}

// readFeishuCode reads {"code":0,"msg":"success"}, or the older
// {"StatusCode":0,"StatusMessage":"success"}; code wins when both are there.
func readFeishuCode(body []byte) (int, bool, string, error) {
	var a struct {
		Code          *int   `json:"code"`
		Msg           string `json:"msg"`
		StatusCode    *int   `json:"StatusCode"`
		StatusMessage string `json:"StatusMessage"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return 0, false, "", err
	}
	switch {
	case a.Code != nil:
		return *a.Code, true, a.Msg, nil
	case a.StatusCode != nil:
		return *a.StatusCode, true, a.StatusMessage, nil
	}
	return 0, false, a.Msg, nil
}
