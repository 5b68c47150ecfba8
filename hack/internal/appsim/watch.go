package appsim

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Watch reads the published account from the ConfigMap namespace/name, data key, with
// a watch through the API, and calls Observe with each value at the moment it arrives.
// A watch that ends or fails is started again after retry. It returns when ctx ends.
func (a *App) Watch(ctx context.Context, c client.WithWatch, namespace, name, key string, retry time.Duration) {
	for ctx.Err() == nil {
		w, err := c.Watch(ctx, &corev1.ConfigMapList{}, client.InNamespace(namespace),
			client.MatchingFields{"metadata.name": name})
		if err == nil {
			for e := range w.ResultChan() {
				cm, ok := e.Object.(*corev1.ConfigMap)
				if ok && (e.Type == watch.Added || e.Type == watch.Modified) {
					a.Observe(cm.Data[key], time.Now())
				}
			}
			w.Stop()
		}
		select {
		case <-ctx.Done():
		case <-time.After(retry):
		}
	}
}
