package controllers

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
)

// accountSeries lists the per-account series of reg as "metric account value".
func accountSeries(t *testing.T, reg *prometheus.Registry) []string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "account" {
					out = append(out, fmt.Sprintf("%s %s %g", strings.TrimPrefix(mf.GetName(), "oacapacity_"), l.GetValue(), m.GetGauge().GetValue()))
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestAccountGaugesFollowTheStoredStatus(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.PerAccount = true
	oac := &chatv1alpha1.OfficialAccountCapacity{}
	oac.Namespace, oac.Name = "chat", "support"
	oac.Status.ActiveAccount = "@TOA#_a"
	oac.Status.Accounts = []chatv1alpha1.AccountStatus{
		{ID: "@TOA#_a", SubscriberNum: 10, MaxSubscriberNum: 100},
		{ID: "@TOA#_b", SubscriberNum: 0, MaxSubscriberNum: 0},
	}
	m.stored(oac)
	want := []string{
		"account_subscriber_limit @TOA#_a 100", "account_subscriber_limit @TOA#_b 0",
		"account_subscribers @TOA#_a 10", "account_subscribers @TOA#_b 0",
		"active_account @TOA#_a 1",
	}
	if got := accountSeries(t, reg); !slices.Equal(got, want) {
		t.Fatalf("series =\n%q\nwant\n%q", got, want)
	}

	// Failover to b, and a left the pool: a's series go, b is active.
	oac.Status.ActiveAccount = "@TOA#_b"
	oac.Status.Accounts = oac.Status.Accounts[1:]
	m.stored(oac)
	want = []string{"account_subscriber_limit @TOA#_b 0", "account_subscribers @TOA#_b 0", "active_account @TOA#_b 1"}
	if got := accountSeries(t, reg); !slices.Equal(got, want) {
		t.Fatalf("after failover series =\n%q\nwant\n%q", got, want)
	}

	// Every account full: no active series.
	oac.Status.ActiveAccount = ""
	m.stored(oac)
	want = []string{"account_subscriber_limit @TOA#_b 0", "account_subscribers @TOA#_b 0"}
	if got := accountSeries(t, reg); !slices.Equal(got, want) {
		t.Fatalf("exhausted series =\n%q\nwant\n%q", got, want)
	}

	m.gone(types.NamespacedName{Namespace: "chat", Name: "support"})
	if got := accountSeries(t, reg); len(got) != 0 {
		t.Fatalf("series of a deleted resource: %q", got)
	}
}

func TestAccountGaugesOff(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	oac := &chatv1alpha1.OfficialAccountCapacity{}
	oac.Namespace, oac.Name = "chat", "support"
	oac.Status.ActiveAccount = "@TOA#_a"
	oac.Status.Accounts = []chatv1alpha1.AccountStatus{{ID: "@TOA#_a", SubscriberNum: 10, MaxSubscriberNum: 100}}
	m.stored(oac)
	// One series per resource stays: the active account.
	if got, want := accountSeries(t, reg), []string{"active_account @TOA#_a 1"}; !slices.Equal(got, want) {
		t.Fatalf("series = %q, want %q", got, want)
	}
}
