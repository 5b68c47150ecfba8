package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

func validSpec() chatv1alpha1.OfficialAccountCapacitySpec {
	return chatv1alpha1.OfficialAccountCapacitySpec{
		SDKAppID:       1400000001,
		Accounts:       []string{"@TOA#_support_a", "@TOA#_support_b"},
		CredentialsRef: chatv1alpha1.LocalObjectReference{Name: "chat-app"},
		ChatAPI:        &chatv1alpha1.ChatAPISpec{Region: "singapore"},
		OnFull: &chatv1alpha1.OnFullSpec{
			RaiseLimit: &chatv1alpha1.RaiseLimitSpec{Step: 50000, Ceiling: 500000},
			ScaleOut:   &chatv1alpha1.ScaleOutSpec{MaxAccounts: 8, OwnerAccount: "admin", NamePrefix: "Support"},
		},
		Headroom: &chatv1alpha1.HeadroomSpec{ThresholdPercent: 90, LeadTime: &metav1.Duration{Duration: 30 * time.Minute}},
		Publish:  &chatv1alpha1.PublishSpec{ConfigMapName: "support-active"},
		Notify: []chatv1alpha1.NotifyTarget{
			{Name: "ops", Type: chatv1alpha1.NotifySlack, SecretRef: &chatv1alpha1.LocalObjectReference{Name: "ops-slack"}},
			{Name: "owners", Type: chatv1alpha1.NotifyChat, ToAccounts: []string{"alice"}},
		},
	}
}

// createMutated creates an object whose spec is validSpec changed by mutate.
func createMutated(ns, name string, mutate func(*chatv1alpha1.OfficialAccountCapacitySpec)) error {
	spec := validSpec()
	mutate(&spec)
	return env.Client.Create(context.Background(), &chatv1alpha1.OfficialAccountCapacity{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       spec,
	})
}

func TestCreateAndReadBack(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	oac := &chatv1alpha1.OfficialAccountCapacity{
		ObjectMeta: metav1.ObjectMeta{Name: "support", Namespace: ns},
		Spec:       validSpec(),
	}
	if err := env.Client.Create(ctx, oac); err != nil {
		t.Fatalf("create valid object: %v", err)
	}

	var got chatv1alpha1.OfficialAccountCapacity
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "support"}, &got); err != nil {
		t.Fatalf("read back: %v", err)
	}
	if got.Spec.SDKAppID != 1400000001 || len(got.Spec.Accounts) != 2 || got.Spec.Accounts[0] != "@TOA#_support_a" {
		t.Errorf("spec not stored as sent: %+v", got.Spec)
	}
	// Defaults come from the schema.
	if got.Spec.RecheckInterval == nil || got.Spec.RecheckInterval.Duration != 10*time.Minute {
		t.Errorf("recheckInterval default = %v, want 10m", got.Spec.RecheckInterval)
	}
	if got.Spec.Publish.Key != "activeAccount" {
		t.Errorf("publish.key default = %q, want activeAccount", got.Spec.Publish.Key)
	}
	if got.Spec.RecoveryThresholdPercent != 95 {
		t.Errorf("recoveryThresholdPercent default = %d, want 95", got.Spec.RecoveryThresholdPercent)
	}
	if h := got.Spec.Headroom; h.MinReadInterval == nil || h.MinReadInterval.Duration != 15*time.Second || h.DefaultLimit != 100000 {
		t.Errorf("headroom defaults = %+v, want minReadInterval 15s, defaultLimit 100000", h)
	}
	if got.Spec.OnFull.ScaleOut.MaxSubscriberNum != 100000 {
		t.Errorf("scaleOut.maxSubscriberNum default = %d, want 100000", got.Spec.OnFull.ScaleOut.MaxSubscriberNum)
	}

	// The status subresource stores status and ignores it on the main resource.
	now := metav1.NewTime(time.Unix(1670574414, 0))
	got.Status = chatv1alpha1.OfficialAccountCapacityStatus{
		ActiveAccount: "@TOA#_support_b",
		FullAccounts:  1,
		LastFullTime:  &now,
		Accounts: []chatv1alpha1.AccountStatus{{
			ID: "@TOA#_support_a", Origin: chatv1alpha1.OriginSpec, Full: true, FullSince: &now,
			LastEventTime: 1670574414123, FullEvents: 3, SubscriberNum: 100000, MaxSubscriberNum: 100000,
		}},
	}
	if err := env.Client.Status().Update(ctx, &got); err != nil {
		t.Fatalf("update status: %v", err)
	}
	var again chatv1alpha1.OfficialAccountCapacity
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "support"}, &again); err != nil {
		t.Fatalf("read back status: %v", err)
	}
	if a := again.Status.Accounts; len(a) != 1 || !a[0].Full || a[0].LastEventTime != 1670574414123 || a[0].FullEvents != 3 {
		t.Errorf("status not stored: %+v", again.Status)
	}
}

func TestInvalidObjectsAreRefused(t *testing.T) {
	ns := env.Namespace(t)
	cases := []struct {
		name   string
		mutate func(*chatv1alpha1.OfficialAccountCapacitySpec)
		// want are substrings the API server's message must hold: the field and why.
		want []string
	}{
		{"sdkAppID zero", func(s *chatv1alpha1.OfficialAccountCapacitySpec) { s.SDKAppID = 0 },
			[]string{"spec.sdkAppID", "greater than or equal to 1"}},
		{"sdkAppID negative", func(s *chatv1alpha1.OfficialAccountCapacitySpec) { s.SDKAppID = -5 },
			[]string{"spec.sdkAppID", "greater than or equal to 1"}},
		{"no accounts", func(s *chatv1alpha1.OfficialAccountCapacitySpec) { s.Accounts = []string{} },
			[]string{"spec.accounts", "at least 1 items"}},
		{"empty account", func(s *chatv1alpha1.OfficialAccountCapacitySpec) { s.Accounts = []string{"@TOA#_a1", ""} },
			[]string{"spec.accounts[1]", "at least 7 chars"}},
		{"duplicate account", func(s *chatv1alpha1.OfficialAccountCapacitySpec) { s.Accounts = []string{"@TOA#_a1", "@TOA#_a1"} },
			[]string{"spec.accounts[1]", "Duplicate value"}},
		{"account without prefix", func(s *chatv1alpha1.OfficialAccountCapacitySpec) { s.Accounts = []string{"support_a"} },
			[]string{"spec.accounts[0]", "should match"}},
		{"account not printable ASCII", func(s *chatv1alpha1.OfficialAccountCapacitySpec) { s.Accounts = []string{"@TOA#_caf\u00e9"} },
			[]string{"spec.accounts[0]", "should match"}},
		{"account with control character", func(s *chatv1alpha1.OfficialAccountCapacitySpec) { s.Accounts = []string{"@TOA#_a\tb"} },
			[]string{"spec.accounts[0]", "should match"}},
		{"account too long", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.Accounts = []string{"@TOA#_" + strings.Repeat("x", 43)}
		}, []string{"spec.accounts[0]", "may not be more than 48 bytes"}},
		{"too many accounts", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.Accounts = nil
			for i := range 65 {
				s.Accounts = append(s.Accounts, fmt.Sprintf("@TOA#_a%02d", i))
			}
			s.OnFull = nil
		}, []string{"spec.accounts", "at most 64 items"}},
		{"ceiling below step", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.OnFull.RaiseLimit = &chatv1alpha1.RaiseLimitSpec{Step: 1000, Ceiling: 999}
		}, []string{"spec.onFull.raiseLimit.ceiling", "ceiling must not be below step"}},
		{"maxAccounts below spec accounts", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.OnFull.ScaleOut.MaxAccounts = 1
		}, []string{"spec.onFull.scaleOut.maxAccounts", "must not be below the number of spec.accounts"}},
		{"unknown notify type", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.Notify[0].Type = "email"
		}, []string{"spec.notify[0].type", "Unsupported value"}},
		{"duplicate notify names", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.Notify[1].Name = "ops"
		}, []string{"spec.notify[1]", "Duplicate value"}},
		{"slack without secretRef", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.Notify[0].SecretRef = nil
		}, []string{"spec.notify[0].secretRef", "secretRef is required"}},
		{"chat without toAccounts", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.Notify[1].ToAccounts = nil
		}, []string{"spec.notify[1].toAccounts", "toAccounts is required"}},
		{"chatAPI with region and endpoint", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.ChatAPI = &chatv1alpha1.ChatAPISpec{Region: "singapore", Endpoint: "https://adminapisgp.im.qcloud.com"}
		}, []string{"spec.chatAPI", "exactly one of region or endpoint"}},
		{"chatAPI empty", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.ChatAPI = &chatv1alpha1.ChatAPISpec{}
		}, []string{"spec.chatAPI", "exactly one of region or endpoint"}},
		{"unknown region", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.ChatAPI = &chatv1alpha1.ChatAPISpec{Region: "mars"}
		}, []string{"spec.chatAPI.region", "Unsupported value"}},
		{"http endpoint", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.ChatAPI = &chatv1alpha1.ChatAPISpec{Endpoint: "http://chat.example.com"}
		}, []string{"spec.chatAPI.endpoint", "must be an https URL"}},
		{"endpoint not a URL", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.ChatAPI = &chatv1alpha1.ChatAPISpec{Endpoint: "adminapisgp.im.qcloud.com"}
		}, []string{"spec.chatAPI.endpoint", "must be an https URL"}},
		{"recheckInterval too short", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.RecheckInterval = &metav1.Duration{Duration: time.Second}
		}, []string{"spec.recheckInterval", "at least 10s"}},
		{"credentialsRef without name", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.CredentialsRef.Name = ""
		}, []string{"spec.credentialsRef.name", "at least 1 chars"}},
		{"onFull without chatAPI", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.ChatAPI = nil
		}, []string{"spec.chatAPI", "chatAPI is required by onFull"}},
		{"chat notify target without chatAPI", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.ChatAPI, s.OnFull = nil, nil
		}, []string{"spec.chatAPI", "chatAPI is required by notify targets of type chat"}},
		{"dingtalk without secretRef", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.Notify[0].Type, s.Notify[0].SecretRef = chatv1alpha1.NotifyDingTalk, nil
		}, []string{"spec.notify[0].secretRef", "secretRef is required"}},
		{"recoveryThresholdPercent over 100", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.RecoveryThresholdPercent = 101
		}, []string{"spec.recoveryThresholdPercent", "less than or equal to 100"}},
		{"recoveryThresholdPercent negative", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.RecoveryThresholdPercent = -1
		}, []string{"spec.recoveryThresholdPercent", "greater than or equal to 1"}},
		{"headroom threshold 100", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.Headroom = &chatv1alpha1.HeadroomSpec{ThresholdPercent: 100}
		}, []string{"spec.headroom.thresholdPercent", "less than or equal to 99"}},
		{"headroom without threshold", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.Headroom = &chatv1alpha1.HeadroomSpec{}
		}, []string{"spec.headroom.thresholdPercent", "greater than or equal to 1"}},
		{"headroom reading too often", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.Headroom = &chatv1alpha1.HeadroomSpec{ThresholdPercent: 90, MinReadInterval: &metav1.Duration{Duration: time.Second}}
		}, []string{"spec.headroom.minReadInterval", "at least 5s"}},
		{"headroom lead time negative", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.Headroom = &chatv1alpha1.HeadroomSpec{ThresholdPercent: 90, LeadTime: &metav1.Duration{Duration: -time.Minute}}
		}, []string{"spec.headroom.leadTime", "from 0s to 168h"}},
		{"callbackForward http to a public host", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.CallbackForward = &chatv1alpha1.CallbackForwardSpec{URL: "http://backend.example.com/im"}
		}, []string{"spec.callbackForward.url", "must be an https URL"}},
		{"callbackForward with a query", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.CallbackForward = &chatv1alpha1.CallbackForwardSpec{URL: "https://backend.example.com/im?x=1"}
		}, []string{"spec.callbackForward.url", "without query"}},
		{"callbackForward not a URL", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.CallbackForward = &chatv1alpha1.CallbackForwardSpec{URL: "backend"}
		}, []string{"spec.callbackForward.url", "must be an https URL"}},
		{"callbackForward http to a lookalike of a Service", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.CallbackForward = &chatv1alpha1.CallbackForwardSpec{URL: "http://backend.svc.example.com/im"}
		}, []string{"spec.callbackForward.url", "must be an https URL"}},
		{"callbackForward timeout over 1900ms", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.CallbackForward = &chatv1alpha1.CallbackForwardSpec{URL: "https://backend.example.com/im", Timeout: &metav1.Duration{Duration: 2 * time.Second}}
		}, []string{"spec.callbackForward.timeout", "from 10ms to 1900ms"}},
		{"callbackForward bad CA key", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.CallbackForward = &chatv1alpha1.CallbackForwardSpec{URL: "https://backend.example.com/im", CABundleKey: "ca/pem"}
		}, []string{"spec.callbackForward.caBundleKey", "should match"}},
		{"headroom without chatAPI", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.ChatAPI, s.OnFull, s.Notify = nil, nil, nil
			s.Headroom = &chatv1alpha1.HeadroomSpec{ThresholdPercent: 90}
		}, []string{"spec.chatAPI", "chatAPI is required by headroom"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := createMutated(ns, fmt.Sprintf("bad-%02d", i), tc.mutate)
			if err == nil {
				t.Fatalf("created an invalid object; want it refused with %q", tc.want)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("error is not Invalid: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q does not contain %q", err.Error(), w)
				}
			}
		})
	}
}

func TestValidEdgeCasesAreAccepted(t *testing.T) {
	ns := env.Namespace(t)
	cases := []struct {
		name   string
		mutate func(*chatv1alpha1.OfficialAccountCapacitySpec)
	}{
		{"minimal", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			*s = chatv1alpha1.OfficialAccountCapacitySpec{SDKAppID: 1, Accounts: []string{"@TOA#_x"}, CredentialsRef: s.CredentialsRef}
		}},
		{"48-byte account", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.Accounts = []string{"@TOA#_" + strings.Repeat("x", 42)}
			s.OnFull = nil
		}},
		{"account Chat generated", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.Accounts = []string{"@TOA#_@TOA#0001", "@TOA#_support_b"}
		}},
		{"onFull empty without chatAPI", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.ChatAPI, s.OnFull, s.Notify, s.Headroom = nil, &chatv1alpha1.OnFullSpec{}, s.Notify[:1], nil
		}},
		{"dingtalk and feishu targets", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			ref := &chatv1alpha1.LocalObjectReference{Name: "robots"}
			s.Notify = append(s.Notify, chatv1alpha1.NotifyTarget{Name: "ding", Type: chatv1alpha1.NotifyDingTalk, SecretRef: ref},
				chatv1alpha1.NotifyTarget{Name: "lark", Type: chatv1alpha1.NotifyFeishu, SecretRef: ref})
		}},
		{"https endpoint", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.ChatAPI = &chatv1alpha1.ChatAPISpec{Endpoint: "https://adminapisgp.im.qcloud.com"}
		}},
		{"http loopback endpoint", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.ChatAPI = &chatv1alpha1.ChatAPISpec{Endpoint: "http://127.0.0.1:8080"}
		}},
		{"callbackForward https", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.CallbackForward = &chatv1alpha1.CallbackForwardSpec{URL: "https://backend.example.com/im/callback", Timeout: &metav1.Duration{Duration: 1900 * time.Millisecond}, CABundleKey: "ca.crt"}
		}},
		{"callbackForward http in-cluster Service", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.CallbackForward = &chatv1alpha1.CallbackForwardSpec{URL: "http://im-backend.app.svc.cluster.local:8080/callback"}
		}},
		{"callbackForward http loopback", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.CallbackForward = &chatv1alpha1.CallbackForwardSpec{URL: "http://127.0.0.1:9494/callback"}
		}},
		{"ceiling equals step", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.OnFull.RaiseLimit = &chatv1alpha1.RaiseLimitSpec{Step: 10, Ceiling: 10}
		}},
		{"maxAccounts equals spec accounts", func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
			s.OnFull.ScaleOut.MaxAccounts = 2
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := createMutated(ns, fmt.Sprintf("ok-%02d", i), tc.mutate); err != nil {
				t.Fatalf("valid object refused: %v", err)
			}
		})
	}
}
