package notify

import (
	"context"
	"strings"
	"time"
)

// WeCom limits and codes.
const (
	// WeComMaxContentBytes is the documented limit of a markdown content.
	WeComMaxContentBytes = 4096
	// WeComCodeRateLimited is the errcode of "too many messages" (20 a
	// minute per robot); it is retried.
	WeComCodeRateLimited = 45009
)

// wecom posts to a WeCom (企业微信) group robot.
type wecom struct{ *deliverer }

func newWeCom(_ Config, d *deliverer) Notifier { return &wecom{d} }

// wecomContent is the message as WeCom markdown, at most
// WeComMaxContentBytes.
func wecomContent(m Message) string {
	return truncateUTF8("**"+title(m)+"**\n"+strings.Join(lines(m), "\n"), WeComMaxContentBytes)
}

// Send posts a markdown message; success is errcode 0.
func (w *wecom) Send(ctx context.Context, m Message) error {
	m, err := w.prepare(m)
	if err != nil {
		return err
	}
	type markdown struct {
		Content string `json:"content"`
	}
	body, err := marshal(struct {
		MsgType  string   `json:"msgtype"`
		Markdown markdown `json:"markdown"`
	}{"markdown", markdown{wecomContent(m)}})
	if err != nil {
		return w.permanent(err)
	}
	return w.postJSON(ctx, func(time.Time) (request, error) {
		return request{url: w.url, body: body}, nil
	}, codeCheck(readErrcode, WeComCodeRateLimited))
}
