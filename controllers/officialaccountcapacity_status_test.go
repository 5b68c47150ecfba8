package controllers

import (
	"errors"
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

// setActive and summarize together, as a reconcile runs them: the active account,
// CapacityAvailable and their events.
func TestSetActiveAndCapacityAvailable(t *testing.T) {
	for _, tc := range []struct {
		name       string
		before     string // status.activeAccount before
		available  metav1.ConditionStatus
		active     string
		wantEvents string
		wantCond   metav1.ConditionStatus
		wantReason string
	}{
		{"first decision", "", "", "@TOA#_a", "", metav1.ConditionTrue, chatv1alpha1.AccountAvailableReason},
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
			evs = append(evs, summarize(oac, findings{}, true, nil)...)
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

// A reconcile that did not decide the active account (suspended, in conflict) leaves
// CapacityAvailable as it was: it did not look.
func TestSummarizeUndecidedKeepsCapacityAvailable(t *testing.T) {
	oac := pool(nil)
	oac.Spec.Suspend = true
	if evs := summarize(oac, findings{}, false, nil); len(evs) != 0 {
		t.Errorf("events %v", reasons(evs))
	}
	if c := meta.FindStatusCondition(oac.Status.Conditions, chatv1alpha1.ConditionCapacityAvailable); c != nil {
		t.Errorf("CapacityAvailable set without a decision: %+v", c)
	}
	if c := meta.FindStatusCondition(oac.Status.Conditions, chatv1alpha1.ConditionReady); c == nil || c.Reason != chatv1alpha1.SuspendedReason {
		t.Errorf("Ready = %+v", c)
	}
}

func TestReadyShowsTheProblemToFixFirst(t *testing.T) {
	missing := &finding{chatv1alpha1.MissingCredentialsReason, "Secret chat-app does not exist"}
	refused := &finding{chatv1alpha1.InvalidCredentialsReason, "refused"}
	down := &finding{chatv1alpha1.ChatAPIUnavailableReason, "cannot read the subscriber counts: 503"}
	for _, tc := range []struct {
		name        string
		suspend     bool
		f           findings
		err         error
		wantStatus  metav1.ConditionStatus
		wantReason  string
		wantMessage string
	}{
		{"all well", false, findings{}, nil, metav1.ConditionTrue, chatv1alpha1.ReconciledReason, "the pool is reconciled"},
		{"suspended first", true, findings{conflict: "x", credentials: missing}, nil, metav1.ConditionFalse, chatv1alpha1.SuspendedReason, "spec.suspend is true"},
		{"conflict before credentials", false, findings{conflict: "account @TOA#_a is managed by ns/older", credentials: missing}, nil,
			metav1.ConditionFalse, chatv1alpha1.AccountConflictReason, "managed by ns/older"},
		{"account conflict before forward conflict", false, findings{conflict: "account", forwardConflict: "forward"}, nil,
			metav1.ConditionFalse, chatv1alpha1.AccountConflictReason, "account"},
		{"forward conflict before credentials", false, findings{forwardConflict: "ns/older relays to https://a.example", credentials: missing, rest: down}, nil,
			metav1.ConditionFalse, chatv1alpha1.ForwardConflictReason, "ns/older"},
		{"credentials before REST", false, findings{credentials: missing, rest: down}, nil, metav1.ConditionFalse, chatv1alpha1.MissingCredentialsReason, "does not exist"},
		{"refused credentials", false, findings{rest: refused, publishConflict: "x"}, nil, metav1.ConditionFalse, chatv1alpha1.InvalidCredentialsReason, "refused"},
		{"REST failure before its error", false, findings{rest: down}, errors.New("read the subscriber counts: 503"),
			metav1.ConditionFalse, chatv1alpha1.ChatAPIUnavailableReason, "cannot read the subscriber counts"},
		{"publish conflict", false, findings{publishConflict: "ConfigMap pool-active exists"}, nil, metav1.ConditionFalse, chatv1alpha1.PublishConflictReason, "pool-active"},
		{"any other error", false, findings{}, errors.New("update ConfigMap pool-active: timeout"), metav1.ConditionFalse, chatv1alpha1.ChatAPIUnavailableReason, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oac := pool(nil)
			oac.Generation, oac.Status.ObservedGeneration = 2, 1
			oac.Spec.Suspend = tc.suspend
			summarize(oac, tc.f, true, tc.err)
			c := meta.FindStatusCondition(oac.Status.Conditions, chatv1alpha1.ConditionReady)
			if c == nil || c.Status != tc.wantStatus || c.Reason != tc.wantReason || !strings.Contains(c.Message, tc.wantMessage) || c.ObservedGeneration != 2 {
				t.Fatalf("Ready = %+v, want %s %s %q", c, tc.wantStatus, tc.wantReason, tc.wantMessage)
			}
			// observedGeneration moves on only when the reconcile succeeded.
			if want := map[bool]int64{true: 2, false: 1}[tc.err == nil]; oac.Status.ObservedGeneration != want {
				t.Errorf("observedGeneration = %d, want %d", oac.Status.ObservedGeneration, want)
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
