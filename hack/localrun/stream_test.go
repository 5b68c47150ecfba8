package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi/chatapitest"
	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
	"github.com/oacapacity/oa-capacity-operator/webhookserver/callback"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

func TestParseStreamParams(t *testing.T) {
	for query, want := range map[string]*streamParams{
		"":                                {50, 60, 10 * time.Second},
		"rate=2.5&seconds=5&delay=1m":     {2.5, 5, time.Minute},
		"rate=5000&seconds=3600&delay=0s": {5000, 3600, 0},
		"rate=0":                          nil,
		"rate=5001":                       nil,
		"rate=fast":                       nil,
		"seconds=0":                       nil,
		"seconds=3601":                    nil,
		"seconds=1.5":                     nil,
		"delay=10":                        nil,
		"delay=-1s":                       nil,
		"delay=2h":                        nil,
	} {
		r := httptest.NewRequest(http.MethodPost, "/stream?"+query, nil)
		got, err := parseStreamParams(r)
		switch {
		case want == nil && err == nil:
			t.Errorf("%q accepted: %+v", query, got)
		case want != nil && (err != nil || got != *want):
			t.Errorf("%q: %+v %v, want %+v", query, got, err, *want)
		}
	}
}

// A stream subscribes its users to the published account; the subscription that fills
// it makes the fake Chat call the receiver with a signed full callback; the users sent
// to the full account are refused and counted.
func TestStreamFillsTheAccountAndChatCallsTheOperator(t *testing.T) {
	ns := env.Namespace(t)
	got := make(chan callback.Callback, 4)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		cb, err := callback.Parse(r.URL.Query(), raw, time.Now().Add(time.Minute).UnixMilli())
		if err == nil {
			err = callback.CheckSign(cb, demoCallbackToken, time.Now(), time.Minute)
		}
		if err != nil {
			t.Errorf("callback: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got <- cb
		_, _ = io.WriteString(w, `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`)
	}))
	defer receiver.Close()

	oac := &chatv1alpha1.OfficialAccountCapacity{ObjectMeta: metav1.ObjectMeta{Name: "support", Namespace: ns},
		Spec: chatv1alpha1.OfficialAccountCapacitySpec{SDKAppID: 1400000001, Accounts: []string{"@TOA#_a", "@TOA#_b"},
			Publish: &chatv1alpha1.PublishSpec{ConfigMapName: "support-active"}}}
	chat := chatapitest.NewServer(t, oac.Spec.SDKAppID, demoAdmin, "key")
	chat.AddAccount(chatapitest.Account{ID: "@TOA#_a", Name: "A", Owner: demoAdmin, SubscriberNum: 95, MaxSubscriberNum: 100})
	stream, err := playSubscribers(chat, env, oac, receiver.URL+"/callback")
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "support-active", Namespace: ns}, Data: map[string]string{"activeAccount": "@TOA#_a"}}
	if err := env.Client.Create(context.Background(), cm); err != nil {
		t.Fatal(err)
	}

	// 2 s at 20 users a second: 5 take the last places, the others are refused (the
	// ConfigMap never moves). The answer ends with the counts.
	rec := httptest.NewRecorder()
	stream.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/stream?"+url.Values{"rate": {"20"}, "seconds": {"2"}}.Encode(), nil))
	out := rec.Body.String()
	m := regexp.MustCompile(`(?m)^done: (\d+) users: 5 added, (\d+) refused\n  @TOA#_a: 5 added, (\d+) refused\n$`).FindStringSubmatch(out)
	if rec.Code != http.StatusOK || m == nil || m[2] != m[3] || m[2] == "0" || !strings.HasPrefix(out, "20 users a second for 2s") {
		t.Fatalf("answer %d:\n%s", rec.Code, out)
	}
	if !strings.Contains(out, "the app starts with @TOA#_a") {
		t.Errorf("the start is not shown:\n%s", out)
	}
	if n := chat.Refused("@TOA#_a"); m[2] != strconv.FormatInt(n, 10) {
		t.Errorf("the fake refused %d, the stream says %s", n, m[2])
	}
	select {
	case cb := <-got:
		if cb.Account != "@TOA#_a" || cb.SDKAppID != oac.Spec.SDKAppID || cb.Command != callback.CommandAccountFull {
			t.Errorf("callback %+v", cb)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no full callback")
	}
}
