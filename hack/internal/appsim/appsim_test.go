package appsim_test

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/oacapacity/oa-capacity-operator/hack/internal/appsim"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi/chatapitest"
	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// newChat starts a fake Chat with accounts a (no subscribers yet) and b and a client for it.
func newChat(t *testing.T, aMax int64) (*chatapitest.Server, *chatapi.Client) {
	t.Helper()
	chat := chatapitest.NewServer(t, 1400000001, "administrator", "key")
	chat.AddAccount(chatapitest.Account{ID: "@TOA#_a", Name: "A", Owner: "o", MaxSubscriberNum: aMax})
	chat.AddAccount(chatapitest.Account{ID: "@TOA#_b", Name: "B", Owner: "o"})
	c, err := chatapi.New(chat.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	return chat, c
}

func newApp(t *testing.T, c *chatapi.Client, rate float64, delay time.Duration) *appsim.App {
	t.Helper()
	app, err := appsim.New(appsim.Config{Chat: c, Rate: rate, Delay: delay, Prefix: "user-"})
	if err != nil {
		t.Fatal(err)
	}
	return app
}

func TestNewValidates(t *testing.T) {
	_, c := newChat(t, 10)
	for _, cfg := range []appsim.Config{
		{Rate: 1},
		{Chat: c, Rate: 0},
		{Chat: c, Rate: 1, Delay: -time.Second},
	} {
		if _, err := appsim.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// The app uses the first reading at once, a change Delay after it was seen.
func TestObserveAndActive(t *testing.T) {
	type obs struct {
		account string
		seen    float64
	}
	for _, tc := range []struct {
		name  string
		delay time.Duration
		obs   []obs
		want  map[float64]string // time → active account; "-" for none known
	}{
		{"none yet", 10 * time.Second, nil, map[float64]string{0: "-"}},
		{"first at once", 10 * time.Second, []obs{{"a", 5}}, map[float64]string{4.9: "-", 5: "a", 100: "a"}},
		{"a change after the delay", 10 * time.Second, []obs{{"a", 0}, {"b", 20}},
			map[float64]string{19: "a", 29.9: "a", 30: "b"}},
		{"the same again is no change", 10 * time.Second, []obs{{"a", 0}, {"b", 20}, {"b", 25}},
			map[float64]string{30: "b", 34: "b"}},
		{"back and forth", 60 * time.Second, []obs{{"a", 0}, {"b", 10}, {"a", 20}},
			map[float64]string{69: "a", 70: "b", 79: "b", 80: "a"}},
		{"nothing published", 0, []obs{{"a", 0}, {"", 1}}, map[float64]string{0.5: "a", 1: ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := newChat(t, 10)
			app := newApp(t, c, 1, tc.delay)
			for _, o := range tc.obs {
				app.Observe(o.account, at(o.seen))
			}
			for when, want := range tc.want {
				got, ok := app.Active(at(when))
				if !ok {
					got = "-"
				}
				if got != want {
					t.Errorf("at %vs: %q, want %q", when, got, want)
				}
			}
		})
	}
}

// Users arrive at the rate and go to the account the app uses; once it is full they
// are refused until the app uses the next one, Delay after the operator published it.
func TestStepSendsToTheActiveAccount(t *testing.T) {
	chat, c := newChat(t, 25)
	filled := make(chan string, 1)
	chat.OnFull(func(account string, _ time.Time) { filled <- account })
	app := newApp(t, c, 10, 10*time.Second)
	ctx := context.Background()
	step := func(s float64) {
		t.Helper()
		if err := app.Step(ctx, at(s)); err != nil {
			t.Fatalf("step at %vs: %v", s, err)
		}
	}

	app.Observe("@TOA#_a", at(0)) // the app starts: it uses what it reads at once
	step(0)                       // the clock starts; nobody has arrived yet
	step(1)                       // 10 users to a
	step(2.5)                     // 15 more: a has 25, full
	if got := <-filled; got != "@TOA#_a" {
		t.Fatalf("OnFull(%s)", got)
	}
	app.Observe("@TOA#_b", at(3)) // the operator fails over; the app uses b from 13 s
	step(12)                      // 95 more, refused by a
	step(13)                      // 10 more, to b
	step(14)                      // 10 more, to b

	st := app.Stats()
	want := appsim.Counts{Attempts: 140, Added: 45, Refused: 95}
	if st.Counts != want {
		t.Errorf("counts %+v, want %+v", st.Counts, want)
	}
	wantBy := map[string]appsim.Counts{
		"@TOA#_a": {Attempts: 120, Added: 25, Refused: 95},
		"@TOA#_b": {Attempts: 20, Added: 20},
	}
	if !reflect.DeepEqual(st.ByAccount, wantBy) {
		t.Errorf("by account %+v, want %+v", st.ByAccount, wantBy)
	}
	wantSw := []appsim.Switch{{"@TOA#_a", at(0), at(0)}, {"@TOA#_b", at(3), at(13)}}
	if !reflect.DeepEqual(st.Switches, wantSw) {
		t.Errorf("switches %+v, want %+v", st.Switches, wantSw)
	}
	if a, _ := chat.Account("@TOA#_a"); a.SubscriberNum != 25 || chat.Refused("@TOA#_a") != 95 {
		t.Errorf("fake: %+v, %d refused", a, chat.Refused("@TOA#_a"))
	}
	if b, _ := chat.Account("@TOA#_b"); b.SubscriberNum != 20 || !chat.Subscribed("@TOA#_b", "user-139") {
		t.Errorf("fake: %+v", b)
	}
}

func TestStepCountsWhatItCouldNotSend(t *testing.T) {
	chat, c := newChat(t, 100)
	app := newApp(t, c, 10, 0)
	ctx := context.Background()
	_ = app.Step(ctx, at(0))
	if err := app.Step(ctx, at(1)); err != nil { // no account known yet
		t.Fatal(err)
	}
	app.Observe("", at(1)) // published: no account has room
	if err := app.Step(ctx, at(2)); err != nil {
		t.Fatal(err)
	}
	app.Observe("@TOA#_gone", at(2))
	if err := app.Step(ctx, at(3)); err == nil {
		t.Error("a failed REST call gave no error")
	}
	st := app.Stats()
	want := appsim.Counts{Attempts: 30, NoAccount: 20, Failed: 10}
	if st.Counts != want || st.ByAccount[""].NoAccount != 20 || st.ByAccount["@TOA#_gone"].Failed != 10 || st.LastError == "" {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	if len(chat.Malformed()) != 0 {
		t.Errorf("malformed %+v", chat.Malformed())
	}
}

// Run steps on a real ticker until its context ends.
func TestRun(t *testing.T) {
	chat, c := newChat(t, 1000)
	app := newApp(t, c, 200, 0)
	app.Observe("@TOA#_a", time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); app.Run(ctx, 10*time.Millisecond) }()
	testenv.Eventually(t, 10*time.Second, func() error {
		if st := app.Stats(); st.Added < 20 {
			return fmt.Errorf("%d added", st.Added)
		}
		return nil
	})
	cancel()
	<-done
	st := app.Stats()
	if a, _ := chat.Account("@TOA#_a"); st.Added != a.SubscriberNum || st.Attempts != st.Added {
		t.Errorf("stats %+v, fake has %d", st.Counts, a.SubscriberNum)
	}
}

// Watch reads the ConfigMap through the API and passes each value on as it arrives.
func TestWatchSeesThePublishedAccount(t *testing.T) {
	ns := env.Namespace(t)
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	_, c := newChat(t, 10)
	app := newApp(t, c, 1, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		app.Watch(ctx, wc, ns, "support-active", "activeAccount", 100*time.Millisecond)
	}()
	defer func() { cancel(); <-done }()

	// Another ConfigMap of the namespace is not the published one.
	other := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: ns}, Data: map[string]string{"activeAccount": "@TOA#_x"}}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "support-active", Namespace: ns}, Data: map[string]string{"activeAccount": "@TOA#_a"}}
	for _, o := range []*corev1.ConfigMap{other, cm} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	before := time.Now()
	testenv.Eventually(t, 30*time.Second, func() error {
		if got, _ := app.Active(time.Now()); got != "@TOA#_a" {
			return fmt.Errorf("active %q", got)
		}
		return nil
	})
	cm.Data["activeAccount"] = "@TOA#_b"
	if err := env.Client.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		if sw := app.Stats().Switches; len(sw) != 2 {
			return fmt.Errorf("switches %+v", sw)
		}
		return nil
	})
	sw := app.Stats().Switches
	if sw[0].Account != "@TOA#_a" || sw[1].Account != "@TOA#_b" || sw[1].Seen.Before(before) || sw[1].From != sw[1].Seen.Add(time.Hour) {
		t.Errorf("switches %+v", sw)
	}
	if got, _ := app.Active(time.Now()); got != "@TOA#_a" {
		t.Errorf("active %q before the delay", got)
	}
}
