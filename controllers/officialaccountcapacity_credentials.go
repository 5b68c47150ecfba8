package controllers

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
)

// secretCache keeps the REST keys of the Secrets read so far, with their resource
// version: a Secret is read again (one GET) only when the metadata watch shows it
// changed. The data of other Secrets of the cluster is never read.
type secretCache struct {
	mu      sync.Mutex
	entries map[types.NamespacedName]cachedSecret
}

type cachedSecret struct {
	resourceVersion string
	data            map[string][]byte // only the keys the controller uses
}

// secretData returns the data the controller uses of the Secret key, and its resource
// version; found is false when it does not exist.
func (r *OfficialAccountCapacityReconciler) secretData(ctx context.Context, key types.NamespacedName) (data map[string][]byte, version string, found bool, err error) {
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	metaErr := r.Client.Get(ctx, key, meta)
	r.secrets.mu.Lock()
	cached, ok := r.secrets.entries[key]
	r.secrets.mu.Unlock()
	if metaErr == nil && ok && cached.resourceVersion == meta.ResourceVersion {
		return cached.data, cached.resourceVersion, true, nil
	}
	// Not seen yet, changed, or the cache cannot tell: read it from the API server.
	var s corev1.Secret
	if err := r.APIReader.Get(ctx, key, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, "", false, nil
		}
		return nil, "", false, fmt.Errorf("read Secret %s: %w", key, err)
	}
	data = map[string][]byte{}
	for _, k := range []string{chatv1alpha1.CredentialAdminIdentifier, chatv1alpha1.CredentialSecretKey, chatv1alpha1.CredentialCallbackToken,
		chatv1alpha1.NotifyURLKey, chatv1alpha1.NotifySigningKey} {
		if v, ok := s.Data[k]; ok {
			data[k] = v
		}
	}
	r.secrets.mu.Lock()
	if r.secrets.entries == nil {
		r.secrets.entries = map[types.NamespacedName]cachedSecret{}
	}
	r.secrets.entries[key] = cachedSecret{resourceVersion: s.ResourceVersion, data: data}
	r.secrets.mu.Unlock()
	return data, s.ResourceVersion, true, nil
}

// restClient returns the REST client of oac, or nil when it has none; a missing
// Secret, or credentials that the configured actions need and lack, are recorded for
// Ready. Without a client the controller still fails over and publishes. The error
// is a failure to read the Secret that may pass (retried with backoff).
func (r *OfficialAccountCapacityReconciler) restClient(ctx context.Context, run *reconcileRun) (ChatAPI, error) {
	oac := run.oac
	key := types.NamespacedName{Namespace: oac.Namespace, Name: oac.Spec.CredentialsRef.Name}
	data, version, found, err := r.secretData(ctx, key)
	run.credentials = version
	switch {
	case err != nil:
		run.findings.credentials = &finding{chatv1alpha1.MissingCredentialsReason, fmt.Sprintf("cannot read Secret %s: %v", key.Name, err)}
		return nil, err
	case !found:
		run.findings.credentials = &finding{chatv1alpha1.MissingCredentialsReason, fmt.Sprintf("Secret %s does not exist: create it with the keys %s, %s and %s",
			key.Name, chatv1alpha1.CredentialCallbackToken, chatv1alpha1.CredentialAdminIdentifier, chatv1alpha1.CredentialSecretKey)}
		return nil, nil
	}
	creds, ok := credentialsFromSecret(oac, data)
	if !ok {
		if needsREST(oac) {
			run.findings.credentials = &finding{chatv1alpha1.MissingCredentialsReason, fmt.Sprintf("spec.onFull needs the Chat REST API: Secret %s must hold %s and %s, and spec.chatAPI must be set",
				key.Name, chatv1alpha1.CredentialAdminIdentifier, chatv1alpha1.CredentialSecretKey)}
		}
		return nil, nil
	}
	api, err := r.Chat.For(creds)
	if err != nil {
		run.findings.credentials = &finding{chatv1alpha1.InvalidCredentialsReason, err.Error()}
		return nil, nil
	}
	run.admin = creds.admin
	return api, nil
}

// needsREST reports whether the configured actions need the Chat REST API.
func needsREST(oac *chatv1alpha1.OfficialAccountCapacity) bool {
	f := oac.Spec.OnFull
	return f != nil && (f.RaiseLimit != nil || f.ScaleOut != nil)
}
