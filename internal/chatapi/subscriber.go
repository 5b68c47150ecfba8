package chatapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// SubscribeResult is what add_subscriber did with one subscriber, as the
// answer's Result field says.
type SubscribeResult int

// The documented Result values.
const (
	// SubscribeFailed: not subscribed, e.g. the account is full. Also the
	// Result of an item the answer lacks (SubscriberResult.Err says so).
	SubscribeFailed SubscribeResult = 0
	// SubscribeAdded: subscribed by this call.
	SubscribeAdded SubscribeResult = 1
	// SubscribeAlreadySubscribed: was a subscriber before this call.
	SubscribeAlreadySubscribed SubscribeResult = 2
)

// String names the result.
func (r SubscribeResult) String() string {
	switch r {
	case SubscribeFailed:
		return "failed"
	case SubscribeAdded:
		return "added"
	case SubscribeAlreadySubscribed:
		return "already subscribed"
	}
	return fmt.Sprintf("SubscribeResult(%d)", int(r))
}

// SubscriberResult is one subscriber of an AddSubscribers answer.
type SubscriberResult struct {
	Subscriber string          // the UserID asked for
	Result     SubscribeResult // SubscribeFailed when Err is set
	// Err is set when the answer has no item for this subscriber, or one
	// with a Result that is not documented: an *APIError wrapping
	// ErrMalformedAnswer, with Account set to the account.
	Err error
}

type subscriberRef struct {
	Subscriber string `json:"Subscriber_Account"`
}

type addSubscriberRequest struct {
	Account     string          `json:"Official_Account"`
	Subscribers []subscriberRef `json:"SubscriberList"`
}

type addSubscriberAnswer struct {
	Items []subscriberItem `json:"SubscriberList"`
}

type subscriberItem struct {
	Subscriber string  `json:"Subscriber_Account"`
	Result     flexInt `json:"Result"`
}

// AddSubscribers subscribes users to account, 100 per call, as an app's
// backend does. The result has one SubscriberResult per distinct subscriber,
// in the order given. A call that fails as a whole ends the work: the error
// comes with the results of the calls made before it (those subscribers are
// subscribed), so a caller knows what happened. Adding the same users again
// is harmless (they answer SubscribeAlreadySubscribed), so a retried call is
// safe.
func (c *Client) AddSubscribers(ctx context.Context, account string, subscribers []string) ([]SubscriberResult, error) {
	if account == "" {
		return nil, errors.New("chatapi: add subscribers: empty account ID")
	}
	uniq := make([]string, 0, len(subscribers))
	seen := make(map[string]bool, len(subscribers))
	for _, s := range subscribers {
		if s == "" {
			return nil, fmt.Errorf("chatapi: add subscribers to %q: empty subscriber ID", account)
		}
		if !seen[s] {
			seen[s] = true
			uniq = append(uniq, s)
		}
	}
	out := make([]SubscriberResult, 0, len(uniq))
	for start := 0; start < len(uniq); start += MaxSubscribersPerCall {
		batch := uniq[start:min(start+MaxSubscribersPerCall, len(uniq))]
		req := addSubscriberRequest{Account: account, Subscribers: make([]subscriberRef, len(batch))}
		for i, s := range batch {
			req.Subscribers[i] = subscriberRef{s}
		}
		var ans addSubscriberAnswer
		if err := c.call(ctx, ServiceOfficialAccount, CommandAddSubscriber, req, &ans); err != nil {
			return out, fmt.Errorf("chatapi: add subscribers %d-%d of %d to %q: %w",
				start+1, start+len(batch), len(uniq), account, err)
		}
		out = append(out, matchSubscriberItems(account, batch, ans.Items)...)
	}
	return out, nil
}

// matchSubscriberItems pairs answer items with the subscribers asked for, by
// Subscriber_Account. A subscriber with no item, or with a Result that is not
// one of the documented three, gets a malformed-answer Err.
func matchSubscriberItems(account string, batch []string, items []subscriberItem) []SubscriberResult {
	byID := make(map[string]*subscriberItem, len(items))
	for i := range items {
		if id := items[i].Subscriber; id != "" && byID[id] == nil {
			byID[id] = &items[i]
		}
	}
	out := make([]SubscriberResult, len(batch))
	for i, id := range batch {
		out[i].Subscriber = id
		bad := func(info string) {
			out[i].Err = &APIError{Service: ServiceOfficialAccount, Command: CommandAddSubscriber,
				HTTPStatus: http.StatusOK, Account: account, kind: kindBadShape, Info: info}
		}
		it := byID[id]
		switch {
		case it == nil:
			bad(fmt.Sprintf("subscriber %q missing from the answer", id))
		case !it.Result.Set:
			bad(fmt.Sprintf("subscriber %q has no Result", id))
		case it.Result.V < int64(SubscribeFailed) || it.Result.V > int64(SubscribeAlreadySubscribed):
			bad(fmt.Sprintf("subscriber %q has an undocumented Result %d", id, it.Result.V))
		default:
			out[i].Result = SubscribeResult(it.Result.V)
		}
	}
	return out
}
