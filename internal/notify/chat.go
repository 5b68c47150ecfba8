package notify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
)

// ChatSender sends a Tencent Cloud Chat text message from one account to
// another; an empty from sends as the app admin. *chatapi.Client is one.
type ChatSender interface {
	SendText(ctx context.Context, from, to, text string) (chatapi.MsgResult, error)
}

var _ ChatSender = (*chatapi.Client)(nil)

// chat sends one Chat text message to each recipient.
type chat struct {
	*deliverer
	sender ChatSender
	from   string
	to     []string
}

func newChat(cfg Config, d *deliverer) Notifier {
	return &chat{deliverer: d, sender: cfg.Chat, from: cfg.From, to: slices.Clone(cfg.ToAccounts)}
}

// String describes the target by its recipients.
func (c *chat) String() string {
	return fmt.Sprintf("notify.chat{From:%q To:%q}", c.from, c.to)
}

// GoString is String, for %#v.
func (c *chat) GoString() string { return c.String() }

// Send messages every recipient. A failure the ChatSender calls retryable
// (chatapi.IsRetryable) is tried again after a backoff, for the recipients
// not yet reached only; any other failure is permanent for that recipient,
// who is not tried again. The error, if any, covers every recipient that
// was not reached; it is permanent only if none of them could be retried.
func (c *chat) Send(ctx context.Context, m Message) error {
	m, err := c.prepare(m)
	if err != nil {
		return err
	}
	text := plainText(m)
	pending := slices.Clone(c.to)
	var failed []error // permanent failures, final
	return c.retry(ctx, func(ctx context.Context) *Error {
		var retryable []error
		var still []string
		for _, to := range pending {
			_, err := c.sender.SendText(ctx, c.from, to, text)
			if err == nil {
				continue
			}
			if !strings.Contains(err.Error(), strconv.Quote(to)) {
				err = fmt.Errorf("to %q: %w", to, err)
			}
			if chatapi.IsRetryable(err) {
				retryable = append(retryable, err)
				still = append(still, to)
			} else {
				failed = append(failed, err)
			}
		}
		pending = still
		all := append(slices.Clone(failed), retryable...)
		if len(all) == 0 {
			return nil
		}
		e := &Error{Permanent: len(retryable) == 0, Err: joinErrors(all)}
		var ae *chatapi.APIError
		if errors.As(all[0], &ae) {
			e.Code = ae.Code
		}
		return e
	})
}

// joinErrors joins errs on one line, "; " between, keeping them all for
// errors.Is and errors.As.
func joinErrors(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	args := make([]any, len(errs))
	for i, e := range errs {
		args[i] = e
	}
	return fmt.Errorf(strings.TrimSuffix(strings.Repeat("%w; ", len(errs)), "; "), args...)
}
