package chatapi_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
)

func TestSendText(t *testing.T) {
	e := newEnv(t, nil)
	res, err := e.c.SendText(context.Background(), "", "alice", "Support A is full")
	if err != nil {
		t.Fatal(err)
	}
	msgs := e.srv.Messages()
	if len(msgs) != 1 || msgs[0].To != "alice" || msgs[0].From != "" || msgs[0].Text != "Support A is full" {
		t.Fatalf("messages %+v", msgs)
	}
	if res.MsgKey != msgs[0].MsgKey || res.MsgTime.Unix() != testStart.Unix() {
		t.Errorf("result %+v, fake says %+v", res, msgs[0])
	}
	reqs := e.srv.Requests()
	checkQuery(t, reqs[0], testStart)
	body := bodyOf(t, reqs[0].Body)
	want := map[string]any{
		"SyncOtherMachine": float64(2),
		"To_Account":       "alice",
		"MsgRandom":        float64(msgs[0].MsgRandom),
		"MsgBody": []any{map[string]any{
			"MsgType":    "TIMTextElem",
			"MsgContent": map[string]any{"Text": "Support A is full"},
		}},
	}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("body %v\nwant %v", body, want)
	}

	if _, err := e.c.SendText(context.Background(), "ops-bot", "bob", "hello"); err != nil {
		t.Fatal(err)
	}
	if m := e.srv.Messages()[1]; m.From != "ops-bot" || m.To != "bob" {
		t.Errorf("second message %+v", m)
	}
	for _, bad := range [][2]string{{"", "x"}, {"bob", ""}} {
		if _, err := e.c.SendText(context.Background(), "", bad[0], bad[1]); err == nil {
			t.Errorf("SendText(to=%q, text=%q) accepted", bad[0], bad[1])
		}
	}
	if n := e.srv.Calls(chatapi.CommandSendMsg); n != 2 {
		t.Errorf("%d calls", n)
	}
}

// A retried sendmsg carries the same MsgRandom (so the backend could drop a
// duplicate) but a fresh URL random.
func TestSendTextRetryKeepsMsgRandom(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.FailNext(chatapi.CommandSendMsg, 1, chatapi.CodeMsgNetwork, "network issue, retry")
	if _, err := e.c.SendText(context.Background(), "", "alice", "hi"); err != nil {
		t.Fatal(err)
	}
	reqs := e.srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	b1, b2 := bodyOf(t, reqs[0].Body), bodyOf(t, reqs[1].Body)
	if b1["MsgRandom"] != b2["MsgRandom"] {
		t.Errorf("MsgRandom changed across retries: %v %v", b1["MsgRandom"], b2["MsgRandom"])
	}
	if reqs[0].Query.Get("random") == reqs[1].Query.Get("random") {
		t.Error("URL random repeated across attempts")
	}
	if len(e.srv.Messages()) != 1 {
		t.Errorf("%d messages", len(e.srv.Messages()))
	}
}
