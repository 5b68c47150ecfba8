package v1alpha1

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Bounds of spec.callbackForward.timeout; the CRD enforces the same.
const (
	DefaultForwardTimeout = 1500 * time.Millisecond
	MinForwardTimeout     = 10 * time.Millisecond
	// MaxForwardTimeout leaves room, within the 2 s Chat waits, to answer it.
	MaxForwardTimeout = 1900 * time.Millisecond
)

// ForwardTimeout is the timeout of f, its default when unset; values out of bounds
// (the CRD refuses them; an old object may hold one) are brought within them.
func (f *CallbackForwardSpec) ForwardTimeout() time.Duration {
	if f.Timeout == nil || f.Timeout.Duration == 0 {
		return DefaultForwardTimeout
	}
	return min(max(f.Timeout.Duration, MinForwardTimeout), MaxForwardTimeout)
}

// Same reports whether f and g name the same backend the same way: url, timeout and
// CA bundle key. Resources of one app must agree on it.
func (f *CallbackForwardSpec) Same(g *CallbackForwardSpec) bool {
	if f == nil || g == nil {
		return f == g
	}
	return f.URL == g.URL && f.ForwardTimeout() == g.ForwardTimeout() && f.CABundleKey == g.CABundleKey
}

// ParseForwardURL checks a callbackForward url as the CRD does, for objects that
// bypassed it (an older CRD): https, or http for loopback and in-cluster Service
// hosts; no query, fragment or user info, since Chat's query string is appended.
func ParseForwardURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("callbackForward.url: %w", err)
	}
	switch {
	case u.Host == "" || u.Opaque != "":
		return nil, errors.New("callbackForward.url must be an absolute URL with a host")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(raw, "?#"):
		return nil, errors.New("callbackForward.url must have no query or fragment: Chat's query string is appended")
	case u.User != nil:
		return nil, errors.New("callbackForward.url must have no user info")
	case u.Scheme == "https":
		return u, nil
	case u.Scheme == "http" && plainHTTPHost(u.Hostname()):
		return u, nil
	}
	return nil, errors.New("callbackForward.url must be https (http only for localhost, 127.0.0.1, ::1, *.svc or *.svc.cluster.local)")
}

func plainHTTPHost(h string) bool {
	h = strings.ToLower(h)
	switch h {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return strings.HasSuffix(h, ".svc") || strings.HasSuffix(h, ".svc.cluster.local")
}

// Older orders resources by creation, then by namespace and name: the oldest
// resource's setting stands when resources of one app disagree.
func Older(a, b *OfficialAccountCapacity) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
}
