package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
)

// The resources of one app must agree on callbackForward: a newer one that sets
// another gets ForwardConflict, the oldest one's stands. Resources in another
// namespace that name the app without its token neither stand nor conflict.
func TestForwardConflict(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	fwd := func(url string) *chatv1alpha1.CallbackForwardSpec { return &chatv1alpha1.CallbackForwardSpec{URL: url} }

	// Older than everything below, in another namespace, with another token.
	squatNS := env.Namespace(t)
	if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "chat-app", Namespace: squatNS},
		StringData: map[string]string{chatv1alpha1.CredentialCallbackToken: "not-the-apps"}}); err != nil {
		t.Fatal(err)
	}
	squatter := &chatv1alpha1.OfficialAccountCapacity{
		ObjectMeta: metav1.ObjectMeta{Name: "squatter", Namespace: squatNS},
		Spec: chatv1alpha1.OfficialAccountCapacitySpec{SDKAppID: h.appID, Accounts: []string{"@TOA#_z"},
			CredentialsRef: chatv1alpha1.LocalObjectReference{Name: "chat-app"}, CallbackForward: fwd("https://squatter.example/cb")},
	}
	if err := env.Client.Create(ctx, squatter); err != nil {
		t.Fatal(err)
	}
	h.startPool(func(s *chatv1alpha1.OfficialAccountCapacitySpec) {
		s.CallbackForward = fwd("https://backend.example/cb")
	})
	h.condition(chatv1alpha1.ConditionReady, metav1.ConditionTrue, chatv1alpha1.ReconciledReason)

	// Names after "pool": newer also when created in the same second.
	newer := func(name, url string) {
		spec := chatv1alpha1.OfficialAccountCapacitySpec{SDKAppID: h.appID, Accounts: []string{"@TOA#_" + name},
			CredentialsRef: chatv1alpha1.LocalObjectReference{Name: "chat-app"}}
		if url != "" {
			spec.CallbackForward = fwd(url)
		}
		if err := env.Client.Create(ctx, &chatv1alpha1.OfficialAccountCapacity{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: h.ns}, Spec: spec}); err != nil {
			t.Fatal(err)
		}
	}
	ready := func(name string) (*metav1.Condition, error) {
		o, err := h.resource(name)
		if err != nil {
			return nil, err
		}
		if c := findReady(o); c != nil && c.ObservedGeneration == o.Generation {
			return c, nil
		}
		return nil, fmt.Errorf("%s: Ready not set for generation %d", name, o.Generation)
	}
	newer("pool-other", "https://elsewhere.example/cb")
	newer("pool-same", "https://backend.example/cb")
	newer("pool-unset", "")
	testEventually(t, func() error {
		c, err := ready("pool-other")
		if err != nil {
			return err
		}
		if c.Status != metav1.ConditionFalse || c.Reason != chatv1alpha1.ForwardConflictReason || !strings.Contains(c.Message, h.ns+"/pool") ||
			!strings.Contains(c.Message, "https://backend.example/cb") {
			return fmt.Errorf("other: Ready = %+v", c)
		}
		for _, name := range []string{"pool-same", "pool-unset"} {
			c, err := ready(name)
			if err != nil {
				return err
			}
			if c.Reason == chatv1alpha1.ForwardConflictReason {
				return fmt.Errorf("%s: Ready = %+v", name, c)
			}
		}
		return nil
	})
	if c := findReady(h.get()); c == nil || c.Reason != chatv1alpha1.ReconciledReason {
		t.Errorf("the oldest of the app: Ready = %+v; the squatter's forward must not conflict", c)
	}

	// Agreeing clears it.
	o, err := h.resource("pool-other")
	if err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(o.DeepCopy())
	o.Spec.CallbackForward = fwd("https://backend.example/cb")
	if err := env.Client.Patch(ctx, o, patch); err != nil {
		t.Fatal(err)
	}
	testEventually(t, func() error {
		c, err := ready("pool-other")
		if err != nil {
			return err
		}
		if c.Reason == chatv1alpha1.ForwardConflictReason {
			return fmt.Errorf("other: Ready = %+v", c)
		}
		return nil
	})

	// A third that differs from the one that stands conflicts too.
	newer("pool-third", "https://third.example/cb")
	testEventually(t, func() error {
		c, err := ready("pool-third")
		if err != nil {
			return err
		}
		if c.Reason != chatv1alpha1.ForwardConflictReason {
			return fmt.Errorf("third: Ready = %+v", c)
		}
		return nil
	})
}
