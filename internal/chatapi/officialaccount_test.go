package chatapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi/chatapitest"
)

func TestGetOfficialAccountInfo(t *testing.T) {
	e := newEnv(t, nil)
	created := testStart.Add(-time.Hour).Unix()
	e.srv.AddAccount(chatapitest.Account{ID: "@TOA#_a", Name: "Support A", Owner: "alice", SubscriberNum: 99999, MaxSubscriberNum: 100000, CreateTime: created})
	e.srv.AddAccount(chatapitest.Account{ID: "@TOA#_b", Name: "Support B", Owner: "bob", SubscriberNum: 3})

	infos, err := e.c.GetOfficialAccountInfo(context.Background(), []string{"@TOA#_a", "@TOA#_gone", "@TOA#_b", "@TOA#_a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 3 {
		t.Fatalf("%d infos, want 3 (duplicates folded): %+v", len(infos), infos)
	}
	a, gone, b := infos[0], infos[1], infos[2]
	if a.Account != "@TOA#_a" || a.Name != "Support A" || a.Owner != "alice" || a.SubscriberNum != 99999 ||
		!a.CreateTime.Equal(time.Unix(created, 0)) || a.Err != nil {
		t.Errorf("a = %+v", a)
	}
	if a.MaxSubscriberNum != nil {
		t.Errorf("MaxSubscriberNum %d not in the answer, want nil", *a.MaxSubscriberNum)
	}
	if b.Account != "@TOA#_b" || b.SubscriberNum != 3 || b.Err != nil {
		t.Errorf("b = %+v", b)
	}
	var ae *chatapi.APIError
	if gone.Account != "@TOA#_gone" || !errors.As(gone.Err, &ae) || ae.Code != chatapi.CodeOfficialAccountNotFound ||
		ae.Account != "@TOA#_gone" || chatapi.IsRetryable(gone.Err) {
		t.Errorf("gone = %+v (%v)", gone, gone.Err)
	}

	reqs := e.srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	checkQuery(t, reqs[0], testStart)
	var body struct {
		OfficialAccountIdList []map[string]string
		ResponseFilter        struct{ OfficialAccountBaseInfoFilter []string }
	}
	if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	wantIDs := []map[string]string{{"Official_Account": "@TOA#_a"}, {"Official_Account": "@TOA#_gone"}, {"Official_Account": "@TOA#_b"}}
	if !reflect.DeepEqual(body.OfficialAccountIdList, wantIDs) {
		t.Errorf("OfficialAccountIdList %v", body.OfficialAccountIdList)
	}
	filter := strings.Join(body.ResponseFilter.OfficialAccountBaseInfoFilter, ",")
	for _, f := range []string{"SubscriberNum", "Name", "Owner_Account", "CreateTime"} {
		if !strings.Contains(filter, f) {
			t.Errorf("filter %q lacks %s", filter, f)
		}
	}

	// When the backend does return MaxSubscriberNum, it is read.
	e.srv.ReturnMaxSubscriberNum(true)
	infos, err = e.c.GetOfficialAccountInfo(context.Background(), []string{"@TOA#_a"})
	if err != nil || infos[0].MaxSubscriberNum == nil || *infos[0].MaxSubscriberNum != 100000 {
		t.Errorf("with MaxSubscriberNum: %+v %v", infos, err)
	}
}

func TestGetOfficialAccountInfoBatchesOf50(t *testing.T) {
	e := newEnv(t, nil)
	var ids []string
	for i := range 120 {
		id := fmt.Sprintf("@TOA#_acct%03d", i)
		ids = append(ids, id)
		e.srv.AddAccount(chatapitest.Account{ID: id, Name: id, Owner: "o", SubscriberNum: int64(i)})
	}
	infos, err := e.c.GetOfficialAccountInfo(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	if n := e.srv.Calls(chatapi.CommandGetOfficialAccountInfo); n != 3 {
		t.Errorf("%d calls, want 3", n)
	}
	var sizes []int
	next := 0
	for _, r := range e.srv.Requests() {
		var body struct{ OfficialAccountIdList []map[string]string }
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(body.OfficialAccountIdList))
		for _, ref := range body.OfficialAccountIdList {
			if ref["Official_Account"] != ids[next] {
				t.Fatalf("batch item %q, want %q", ref["Official_Account"], ids[next])
			}
			next++
		}
	}
	if !reflect.DeepEqual(sizes, []int{50, 50, 20}) {
		t.Errorf("batch sizes %v", sizes)
	}
	if len(infos) != 120 {
		t.Fatalf("%d infos", len(infos))
	}
	for i, info := range infos {
		if info.Account != ids[i] || info.SubscriberNum != int64(i) || info.Err != nil {
			t.Fatalf("info %d = %+v", i, info)
		}
	}
	if infos, err := e.c.GetOfficialAccountInfo(context.Background(), nil); err != nil || len(infos) != 0 {
		t.Errorf("no ids: %v %v", infos, err)
	}
	if e.srv.Calls(chatapi.CommandGetOfficialAccountInfo) != 3 {
		t.Error("no ids made a call")
	}
}

// A failure of any batch fails the call; the error says which accounts.
func TestGetOfficialAccountInfoBatchFails(t *testing.T) {
	e := newEnv(t, nil)
	ids := make([]string, 60)
	for i := range ids {
		ids[i] = fmt.Sprintf("@TOA#_%d", i)
	}
	e.srv.FailNext(chatapi.CommandGetOfficialAccountInfo, 1, chatapi.CodeOfficialAccountNotFound, "")
	infos, err := e.c.GetOfficialAccountInfo(context.Background(), ids)
	if err == nil || infos != nil || !strings.Contains(err.Error(), "accounts 1-50 of 60") {
		t.Fatalf("got %v %v", infos, err)
	}
}

// Answers whose items carry no ID, other error field names, or too few
// items. The item shape is not documented, so the parser is lenient in the
// ways listed in docs/chatapi.md.
func TestGetOfficialAccountInfoItemShapes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		items string
		check func(t *testing.T, infos []chatapi.AccountInfo)
	}{
		{"no IDs, matched by position", `[{"SubscriberNum":1},{"SubscriberNum":"2","MaxSubscriberNum":5}]`,
			func(t *testing.T, infos []chatapi.AccountInfo) {
				if infos[0].SubscriberNum != 1 || infos[1].SubscriberNum != 2 || *infos[1].MaxSubscriberNum != 5 {
					t.Errorf("%+v", infos)
				}
			}},
		{"OfficialAccountUserID as ID, reversed", `[{"OfficialAccountUserID":"@TOA#_y","SubscriberNum":9},{"OfficialAccountUserID":"@TOA#_x","SubscriberNum":8}]`,
			func(t *testing.T, infos []chatapi.AccountInfo) {
				if infos[0].SubscriberNum != 8 || infos[1].SubscriberNum != 9 {
					t.Errorf("%+v", infos)
				}
			}},
		{"ResultCode per item", `[{"Official_Account":"@TOA#_x","ResultCode":130004,"ResultInfo":"gone"},{"Official_Account":"@TOA#_y","SubscriberNum":1}]`,
			func(t *testing.T, infos []chatapi.AccountInfo) {
				var ae *chatapi.APIError
				if !errors.As(infos[0].Err, &ae) || ae.Code != 130004 || ae.Info != "gone" || infos[1].Err != nil {
					t.Errorf("%+v", infos)
				}
			}},
		{"item missing", `[{"Official_Account":"@TOA#_y","SubscriberNum":1}]`,
			func(t *testing.T, infos []chatapi.AccountInfo) {
				if !errors.Is(infos[0].Err, chatapi.ErrMalformedAnswer) || infos[1].Err != nil || infos[1].SubscriberNum != 1 {
					t.Errorf("%+v", infos)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","OfficialAccountInfoList":%s}`, tc.items)
			}))
			defer srv.Close()
			c, err := chatapi.New(chatapi.Config{SDKAppID: testAppID, AdminIdentifier: testAdmin, SecretKey: testKey, Endpoint: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			infos, err := c.GetOfficialAccountInfo(context.Background(), []string{"@TOA#_x", "@TOA#_y"})
			if err != nil {
				t.Fatal(err)
			}
			if infos[0].Account != "@TOA#_x" || infos[1].Account != "@TOA#_y" {
				t.Fatalf("order %+v", infos)
			}
			tc.check(t, infos)
		})
	}
}

func TestSetMaxSubscriberNum(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.AddAccount(chatapitest.Account{ID: "@TOA#_a", Name: "A", Owner: "alice", SubscriberNum: 100000})
	if err := e.c.SetMaxSubscriberNum(context.Background(), "@TOA#_a", 150000); err != nil {
		t.Fatal(err)
	}
	if a, _ := e.srv.Account("@TOA#_a"); a.MaxSubscriberNum != 150000 || a.Name != "A" {
		t.Errorf("account after modify: %+v", a)
	}
	reqs := e.srv.Requests()
	checkQuery(t, reqs[0], testStart)
	if got, want := string(reqs[0].Body), `{"Official_Account":"@TOA#_a","MaxSubscriberNum":150000}`; got != want {
		t.Errorf("body %s, want %s", got, want)
	}

	err := e.c.SetMaxSubscriberNum(context.Background(), "@TOA#_missing", 5)
	var ae *chatapi.APIError
	if !errors.As(err, &ae) || ae.Code != chatapi.CodeOfficialAccountNotFound || chatapi.IsRetryable(err) {
		t.Errorf("missing account: %v", err)
	}
	for _, bad := range []struct {
		id  string
		max int64
	}{{"", 5}, {"@TOA#_a", 0}, {"@TOA#_a", -1}} {
		if err := e.c.SetMaxSubscriberNum(context.Background(), bad.id, bad.max); err == nil {
			t.Errorf("SetMaxSubscriberNum(%q, %d) accepted", bad.id, bad.max)
		}
	}
	if n := e.srv.TotalCalls(); n != 2 {
		t.Errorf("%d calls; invalid input must not reach the server", n)
	}
}

func TestCreateOfficialAccount(t *testing.T) {
	e := newEnv(t, nil)
	req := chatapi.CreateAccountRequest{Owner: "alice", Name: "Support 3", UserID: "@TOA#_support_3",
		Introduction: "Overflow", MaxSubscriberNum: 100000}
	res, err := e.c.CreateOfficialAccount(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res != (chatapi.CreateResult{Account: "@TOA#_support_3", Created: true}) {
		t.Errorf("result %+v", res)
	}
	a, ok := e.srv.Account("@TOA#_support_3")
	if !ok || a.Owner != "alice" || a.Name != "Support 3" || a.Introduction != "Overflow" || a.MaxSubscriberNum != 100000 {
		t.Errorf("account %+v", a)
	}
	reqs := e.srv.Requests()
	checkQuery(t, reqs[0], testStart)
	body := bodyOf(t, reqs[0].Body)
	want := map[string]any{"Owner_Account": "alice", "Name": "Support 3", "OfficialAccountUserID": "@TOA#_support_3",
		"Introduction": "Overflow", "MaxSubscriberNum": float64(100000)}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("body %v, want %v", body, want)
	}

	// The same request again: the ID is taken, which is a result.
	res, err = e.c.CreateOfficialAccount(context.Background(), req)
	if err != nil || res != (chatapi.CreateResult{Account: "@TOA#_support_3", AlreadyExisted: true}) {
		t.Errorf("second create: %+v %v", res, err)
	}
	if n := len(e.srv.Accounts()); n != 1 {
		t.Errorf("%d accounts, want 1", n)
	}
}

// The first attempt creates the account but its answer is lost; the retry
// finds the ID taken. One account, reported as already existing.
func TestCreateOfficialAccountAnswerLost(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.LoseAnswerNext(chatapi.CommandCreateOfficialAccount, 1)
	res, err := e.c.CreateOfficialAccount(context.Background(), chatapi.CreateAccountRequest{Owner: "alice", Name: "S", UserID: "@TOA#_s"})
	if err != nil || !res.AlreadyExisted || res.Created {
		t.Fatalf("got %+v %v", res, err)
	}
	if n, calls := len(e.srv.Accounts()), e.srv.Calls(chatapi.CommandCreateOfficialAccount); n != 1 || calls != 2 {
		t.Errorf("%d accounts after %d calls, want 1 after 2", n, calls)
	}
}

func TestCreateOfficialAccountValidates(t *testing.T) {
	e := newEnv(t, nil)
	ok := chatapi.CreateAccountRequest{Owner: "alice", Name: "N", UserID: "@TOA#_n"}
	for _, tc := range []struct {
		name string
		edit func(*chatapi.CreateAccountRequest)
	}{
		{"no user id", func(r *chatapi.CreateAccountRequest) { r.UserID = "" }},
		{"no prefix", func(r *chatapi.CreateAccountRequest) { r.UserID = "support" }},
		{"prefix only", func(r *chatapi.CreateAccountRequest) { r.UserID = "@TOA#_" }},
		{"reserved prefix", func(r *chatapi.CreateAccountRequest) { r.UserID = "@TOA#_@TOA#x" }},
		{"49 bytes", func(r *chatapi.CreateAccountRequest) { r.UserID = "@TOA#_" + strings.Repeat("x", 43) }},
		{"non-ASCII", func(r *chatapi.CreateAccountRequest) { r.UserID = "@TOA#_é" }},
		{"control char", func(r *chatapi.CreateAccountRequest) { r.UserID = "@TOA#_a\n" }},
		{"no name", func(r *chatapi.CreateAccountRequest) { r.Name = "" }},
		{"151-byte name", func(r *chatapi.CreateAccountRequest) { r.Name = strings.Repeat("é", 75) + "x" }},
		{"no owner", func(r *chatapi.CreateAccountRequest) { r.Owner = "" }},
		{"negative max", func(r *chatapi.CreateAccountRequest) { r.MaxSubscriberNum = -1 }},
	} {
		r := ok
		tc.edit(&r)
		if _, err := e.c.CreateOfficialAccount(context.Background(), r); err == nil {
			t.Errorf("%s: accepted %+v", tc.name, r)
		}
	}
	if n := e.srv.TotalCalls(); n != 0 {
		t.Errorf("%d calls for invalid requests", n)
	}
	// The limits themselves pass.
	r := ok
	r.UserID, r.Name = "@TOA#_"+strings.Repeat("x", 42), strings.Repeat("é", 75)
	if _, err := e.c.CreateOfficialAccount(context.Background(), r); err != nil {
		t.Errorf("48-byte ID, 150-byte name: %v", err)
	}
}

func TestValidAccountID(t *testing.T) {
	for id, valid := range map[string]bool{
		"@TOA#_support_a": true, "@TOA#_ a~": true, "@TOA#_" + strings.Repeat("z", 42): true,
		"@TOA#_" + strings.Repeat("z", 43): false, "@TOA#_@TOA#abc": false, "@TOA#": false,
		"": false, "@toa#_x": false, "@TOA#_\x7f": false,
	} {
		if err := chatapi.ValidAccountID(id); (err == nil) != valid {
			t.Errorf("ValidAccountID(%q) = %v, want valid=%v", id, err, valid)
		}
	}
}
