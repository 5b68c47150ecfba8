package webhookserver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
)

// errNoCredentials means a credentials Secret could not be read; the callback is then
// refused (fail closed), never accepted unauthenticated.
var errNoCredentials = errors.New("credentials Secret cannot be read")

// tokens reads the callbackToken of credentials Secrets. It reads each Secret with a
// GET (the server needs no right to list or watch Secrets), keeps the answer for ttl,
// and when the API server cannot be reached, goes on with the last answer for up to
// maxStale, so that callbacks are still authenticated, and queued, during an outage.
// A Secret that is gone or forbidden is never served from memory.
type tokens struct {
	reader   client.Reader
	ttl      time.Duration
	goneTTL  time.Duration
	maxStale time.Duration
	timeout  time.Duration
	now      func() time.Time

	mu      sync.Mutex
	entries map[types.NamespacedName]*tokenEntry
}

type tokenEntry struct {
	mu      sync.Mutex        // one read at a time per Secret
	token   string            // empty: the Secret has no callbackToken
	extra   map[string][]byte // the other keys but the REST ones (a callbackForward CA bundle)
	fetched time.Time         // zero: never read
	nextTry time.Time         // after a failed read, when to try again
	gone    error             // the Secret is missing or forbidden, until nextTry
}

func newTokens(reader client.Reader, now func() time.Time) *tokens {
	return &tokens{
		reader:   reader,
		ttl:      30 * time.Second,
		goneTTL:  5 * time.Second,
		maxStale: 30 * time.Minute,
		timeout:  300 * time.Millisecond,
		now:      now,
		entries:  make(map[types.NamespacedName]*tokenEntry),
	}
}

// token returns the callbackToken of the Secret in namespace ns named name; "" means
// the Secret holds none and callbacks need no Sign.
func (t *tokens) token(ctx context.Context, key types.NamespacedName) (string, error) {
	tok, _, err := t.read(ctx, key)
	return tok, err
}

// value returns the key name of the Secret (a CA bundle of spec.callbackForward);
// nil when it has none. The REST keys are not kept.
func (t *tokens) value(ctx context.Context, key types.NamespacedName, name string) ([]byte, error) {
	_, extra, err := t.read(ctx, key)
	return extra[name], err
}

func (t *tokens) read(ctx context.Context, key types.NamespacedName) (string, map[string][]byte, error) {
	t.mu.Lock()
	e, ok := t.entries[key]
	if !ok {
		e = &tokenEntry{}
		t.entries[key] = e
	}
	t.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	now := t.now()
	if e.gone != nil && now.Before(e.nextTry) {
		return "", nil, e.gone // spares the API server a GET per unauthenticated callback
	}
	usable := !e.fetched.IsZero() && now.Sub(e.fetched) < t.maxStale
	if !e.fetched.IsZero() && now.Sub(e.fetched) < t.ttl || usable && now.Before(e.nextTry) {
		return e.token, e.extra, nil
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	var s corev1.Secret
	err := t.reader.Get(ctx, key, &s)
	switch {
	case err == nil:
		e.token, e.fetched, e.gone = string(s.Data[chatv1alpha1.CredentialCallbackToken]), now, nil
		e.extra = nil
		for k, v := range s.Data {
			switch k {
			case chatv1alpha1.CredentialCallbackToken, chatv1alpha1.CredentialAdminIdentifier, chatv1alpha1.CredentialSecretKey:
			default:
				if e.extra == nil {
					e.extra = map[string][]byte{}
				}
				e.extra[k] = v
			}
		}
		return e.token, e.extra, nil
	case apierrors.IsNotFound(err) || apierrors.IsForbidden(err):
		e.token, e.extra, e.fetched = "", nil, time.Time{}
		e.gone = fmt.Errorf("%w: Secret %s: %w", errNoCredentials, key, err)
		e.nextTry = now.Add(t.goneTTL)
		return "", nil, e.gone
	case usable:
		// Do not make every callback of an outage wait for a read that will fail.
		e.nextTry = now.Add(t.ttl)
		return e.token, e.extra, nil
	default:
		return "", nil, fmt.Errorf("%w: Secret %s: %w", errNoCredentials, key, err)
	}
}
