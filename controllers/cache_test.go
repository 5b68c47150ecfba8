package controllers

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
)

func TestCacheTransformDropsWhatNobodyReads(t *testing.T) {
	oac := &chatv1alpha1.OfficialAccountCapacity{}
	oac.Name = "support"
	oac.Annotations = map[string]string{lastAppliedAnnotation: `{"big":"copy"}`, "keep": "me"}
	oac.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	oac.Spec.Accounts = []string{"@TOA#_a"}
	out, err := CacheTransform()(oac)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*chatv1alpha1.OfficialAccountCapacity)
	if got.ManagedFields != nil {
		t.Errorf("managedFields kept: %v", got.ManagedFields)
	}
	if len(got.Annotations) != 1 || got.Annotations["keep"] != "me" {
		t.Errorf("annotations = %v, want only keep=me", got.Annotations)
	}
	if len(got.Spec.Accounts) != 1 {
		t.Errorf("spec changed: %v", got.Spec)
	}

	// Only the last-applied annotation: none left at all.
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{lastAppliedAnnotation: "{}"}}}
	if out, err = CacheTransform()(cm); err != nil {
		t.Fatal(err)
	}
	if a := out.(*corev1.ConfigMap).Annotations; a != nil {
		t.Errorf("annotations = %v, want nil", a)
	}

	// What the informer hands over on a delete it missed passes through.
	tomb := cache.DeletedFinalStateUnknown{Key: "ns/name"}
	if out, err = CacheTransform()(tomb); err != nil || out != tomb {
		t.Errorf("tombstone: %v, %v", out, err)
	}
}
