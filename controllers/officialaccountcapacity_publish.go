package controllers

import (
	"context"
	"fmt"
	"maps"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
)

const (
	// ManagedByLabel marks the ConfigMaps the controller publishes; the manager's cache
	// holds only ConfigMaps with it (see CacheByObject).
	ManagedByLabel = "app.kubernetes.io/managed-by"
	managedByValue = "oa-capacity-operator"
	// AppIDKey is the ConfigMap key that holds the app's SDKAppID.
	AppIDKey = "sdkAppID"
	// defaultPublishKey is spec.publish.key when unset.
	defaultPublishKey = "activeAccount"
)

// CacheByObject is the manager's cache setting for the objects the controller
// watches: only the ConfigMaps it publishes, not every ConfigMap of the cluster.
func CacheByObject() map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{
		&corev1.ConfigMap{}: {Label: labels.SelectorFromSet(labels.Set{ManagedByLabel: managedByValue})},
	}
}

// publish writes the active account into the ConfigMap of spec.publish, owned by the
// resource, and puts it back when someone edited it. A ConfigMap of that name that the
// resource does not own is left alone and marked on Ready.
func (r *OfficialAccountCapacityReconciler) publish(ctx context.Context, run *reconcileRun) error {
	oac := run.oac
	p := oac.Spec.Publish
	if p == nil {
		return nil
	}
	key := p.Key
	if key == "" {
		key = defaultPublishKey
	}
	want := map[string]string{AppIDKey: strconv.FormatInt(oac.Spec.SDKAppID, 10), key: oac.Status.ActiveAccount}

	cm := &corev1.ConfigMap{}
	name := client.ObjectKey{Namespace: oac.Namespace, Name: p.ConfigMapName}
	err := r.Client.Get(ctx, name, cm)
	if apierrors.IsNotFound(err) {
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: name.Namespace, Name: name.Name,
			Labels: map[string]string{ManagedByLabel: managedByValue}}, Data: want}
		if err := controllerutil.SetControllerReference(oac, cm, r.Client.Scheme()); err != nil {
			return fmt.Errorf("own ConfigMap %s: %w", name.Name, err)
		}
		err = r.Client.Create(ctx, cm)
		if err == nil {
			r.Metrics.action(actionPublish, nil)
			return nil
		}
		if !apierrors.IsAlreadyExists(err) {
			r.Metrics.action(actionPublish, err)
			return fmt.Errorf("create ConfigMap %s: %w", name.Name, err)
		}
		// It exists without our label, so the cache does not show it.
		cm = &corev1.ConfigMap{}
		err = r.APIReader.Get(ctx, name, cm)
	}
	if err != nil {
		return fmt.Errorf("read ConfigMap %s: %w", name.Name, err)
	}
	if !metav1.IsControlledBy(cm, oac) {
		run.findings.publishConflict = fmt.Sprintf("ConfigMap %s exists and is not owned by this resource: delete it or choose another spec.publish.configMapName", name.Name)
		return nil
	}
	if maps.Equal(cm.Data, want) && cm.Labels[ManagedByLabel] == managedByValue && len(cm.BinaryData) == 0 {
		return nil
	}
	orig := cm.DeepCopy()
	cm.Data, cm.BinaryData = want, nil
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	cm.Labels[ManagedByLabel] = managedByValue
	err = r.Client.Patch(ctx, cm, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
	r.Metrics.action(actionPublish, err)
	if err != nil {
		return fmt.Errorf("update ConfigMap %s: %w", name.Name, err)
	}
	return nil
}
