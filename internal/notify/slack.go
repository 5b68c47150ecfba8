package notify

import (
	"context"
	"strings"
	"time"
)

// slack posts to a Slack incoming webhook.
type slack struct{ *deliverer }

func newSlack(_ Config, d *deliverer) Notifier { return &slack{d} }

// slackEscaper escapes the three characters Slack's text treats as markup.
var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// slackText is the message as Slack mrkdwn: the title in bold, then the lines.
func slackText(m Message) string {
	return "*" + slackEscaper.Replace(title(m)) + "*\n" + slackEscaper.Replace(strings.Join(lines(m), "\n"))
}

// Send posts {"text": ...}. Slack answers 200 "ok"; any 2xx is success.
func (s *slack) Send(ctx context.Context, m Message) error {
	m, err := s.prepare(m)
	if err != nil {
		return err
	}
	body, err := marshal(struct {
		Text string `json:"text"`
	}{slackText(m)})
	if err != nil {
		return s.permanent(err)
	}
	return s.postJSON(ctx, func(time.Time) (request, error) {
		return request{url: s.url, body: body}, nil
	}, func(status int, body []byte) *Error {
		if statusOK(status) {
			return nil
		}
		return statusError(status, body)
	})
}
