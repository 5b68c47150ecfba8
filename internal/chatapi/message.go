package chatapi

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// MsgResult is what sendmsg answers about a sent message.
type MsgResult struct {
	MsgTime time.Time // server time of the message; zero if not in the answer
	MsgKey  string    // the message's key, used to recall it
}

type textContent struct {
	Text string `json:"Text"`
}

type msgElem struct {
	MsgType    string      `json:"MsgType"`
	MsgContent textContent `json:"MsgContent"`
}

type sendMsgRequest struct {
	SyncOtherMachine int       `json:"SyncOtherMachine"`
	From             string    `json:"From_Account,omitempty"`
	To               string    `json:"To_Account"`
	MsgRandom        uint32    `json:"MsgRandom"`
	MsgBody          []msgElem `json:"MsgBody"`
}

type sendMsgAnswer struct {
	MsgTime flexInt `json:"MsgTime"`
	MsgKey  string  `json:"MsgKey"`
}

// SendText sends text from one user to another. An empty from sends as the
// admin. SyncOtherMachine is 2: the message is not synced to the sender's
// other devices, as fits a notification. A retried attempt carries the same
// MsgRandom; whether the backend uses it to drop duplicates is not documented.
func (c *Client) SendText(ctx context.Context, from, to, text string) (MsgResult, error) {
	if to == "" {
		return MsgResult{}, errors.New("chatapi: send text: empty recipient")
	}
	if text == "" {
		return MsgResult{}, fmt.Errorf("chatapi: send text to %q: empty text", to)
	}
	req := sendMsgRequest{
		SyncOtherMachine: 2,
		From:             from,
		To:               to,
		MsgRandom:        c.rand(),
		MsgBody:          []msgElem{{MsgType: "TIMTextElem", MsgContent: textContent{Text: text}}},
	}
	var ans sendMsgAnswer
	if err := c.call(ctx, ServiceOpenIM, CommandSendMsg, req, &ans); err != nil {
		return MsgResult{}, fmt.Errorf("chatapi: send text to %q: %w", to, err)
	}
	r := MsgResult{MsgKey: ans.MsgKey}
	if ans.MsgTime.Set {
		r.MsgTime = time.Unix(ans.MsgTime.V, 0)
	}
	return r, nil
}
