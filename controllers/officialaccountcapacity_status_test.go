package controllers

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
)

func reasons(evs []event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.eventType+"/"+e.reason)
	}
	return out
}

func TestSetActive(t *testing.T) {
	for _, tc := range []struct {
		name       string
		before     string // status.activeAccount before
		available  metav1.ConditionStatus
		active     string
		wantEvents string
		wantCond   metav1.ConditionStatus
		wantReason string
	}{
		{"first account", "", "", "@TOA#_a", "Normal/ActiveAccountChanged", metav1.ConditionTrue, chatv1alpha1.AccountAvailableReason},
		{"unchanged", "@TOA#_a", metav1.ConditionTrue, "@TOA#_a", "", metav1.ConditionTrue, chatv1alpha1.AccountAvailableReason},
		{"failover", "@TOA#_a", metav1.ConditionTrue, "@TOA#_b", "Normal/ActiveAccountChanged", metav1.ConditionTrue, chatv1alpha1.AccountAvailableReason},
		{"exhausted", "@TOA#_b", metav1.ConditionTrue, "", "Warning/CapacityExhausted", metav1.ConditionFalse, chatv1alpha1.AllAccountsFullReason},
		{"still exhausted", "", metav1.ConditionFalse, "", "", metav1.ConditionFalse, chatv1alpha1.AllAccountsFullReason},
		{"room again", "", metav1.ConditionFalse, "@TOA#_a", "Normal/ActiveAccountChanged", metav1.ConditionTrue, chatv1alpha1.AccountAvailableReason},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oac := pool(nil)
			oac.Generation = 3
			oac.Status.ActiveAccount = tc.before
			if tc.available != "" {
				meta.SetStatusCondition(&oac.Status.Conditions, metav1.Condition{Type: chatv1alpha1.ConditionCapacityAvailable, Status: tc.available, Reason: "x"})
			}
			evs := setActive(oac, tc.active)
			if got := strings.Join(reasons(evs), ","); got != tc.wantEvents {
				t.Errorf("events = %q, want %q", got, tc.wantEvents)
			}
			c := meta.FindStatusCondition(oac.Status.Conditions, chatv1alpha1.ConditionCapacityAvailable)
			if c.Status != tc.wantCond || c.Reason != tc.wantReason || c.ObservedGeneration != 3 {
				t.Errorf("condition = %+v", c)
			}
			if oac.Status.ActiveAccount != tc.active {
				t.Errorf("activeAccount = %q", oac.Status.ActiveAccount)
			}
		})
	}
}

func TestFullMessageSaysWhy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		onFull *chatv1alpha1.OnFullSpec
		want   []string
	}{
		{"nothing configured", nil, []string{"all 2 accounts are full", "scaleOut is not configured", "raiseLimit is not configured"}},
		{"at maxAccounts and ceiling", &chatv1alpha1.OnFullSpec{
			RaiseLimit: &chatv1alpha1.RaiseLimitSpec{Step: 1, Ceiling: 500},
			ScaleOut:   &chatv1alpha1.ScaleOutSpec{MaxAccounts: 2},
		}, []string{"maxAccounts (2)", "ceiling (500)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := fullMessage(pool(tc.onFull))
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not say %q", msg, w)
				}
			}
		})
	}
}

func TestSetReady(t *testing.T) {
	oac := pool(nil)
	oac.Generation = 2
	setReady(oac, metav1.ConditionFalse, chatv1alpha1.MissingCredentialsReason, "Secret chat-app does not exist")
	c := meta.FindStatusCondition(oac.Status.Conditions, chatv1alpha1.ConditionReady)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != chatv1alpha1.MissingCredentialsReason || c.ObservedGeneration != 2 {
		t.Fatalf("Ready = %+v", c)
	}
}
