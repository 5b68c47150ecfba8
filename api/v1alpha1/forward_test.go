package v1alpha1_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
)

func TestParseForwardURL(t *testing.T) {
	cases := []struct {
		url string
		ok  bool
	}{
		{"https://backend.example.com/im", true},
		{"https://backend.example.com:8443/im/callback", true},
		{"http://localhost:9494/callback", true},
		{"http://127.0.0.1:9494/callback", true},
		{"http://[::1]:9494/callback", true},
		{"http://im.app.svc:8080/cb", true},
		{"http://im.app.svc.cluster.local/cb", true},
		{"http://IM.APP.SVC/cb", true},
		{"http://backend.example.com/im", false},
		{"http://backend.svc.example.com/im", false},
		{"http://127.0.0.2/cb", false},
		{"https://backend.example.com/im?x=1", false},
		{"https://backend.example.com/im?", false},
		{"https://backend.example.com/im#f", false},
		{"https://user:pw@backend.example.com/im", false},
		{"ftp://backend.example.com/im", false},
		{"backend.example.com/im", false},
		{"https:opaque", false},
		{"", false},
		{"https://%zz", false},
	}
	for _, tc := range cases {
		_, err := chatv1alpha1.ParseForwardURL(tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("ParseForwardURL(%q) = %v; want ok %v", tc.url, err, tc.ok)
		}
	}
}

func FuzzParseForwardURL(f *testing.F) {
	for _, s := range []string{"https://a.example/x", "http://localhost:1/x", "http://a.svc/x?y", "http://u@a.svc/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := chatv1alpha1.ParseForwardURL(raw)
		if err != nil {
			return
		}
		if u.RawQuery != "" || u.Fragment != "" || u.User != nil || (u.Scheme != "https" && u.Scheme != "http") {
			t.Fatalf("accepted %q: %+v", raw, u)
		}
	})
}

func TestForwardTimeoutAndSame(t *testing.T) {
	d := func(v time.Duration) *metav1.Duration { return &metav1.Duration{Duration: v} }
	cases := []struct {
		in   *metav1.Duration
		want time.Duration
	}{
		{nil, 1500 * time.Millisecond},
		{d(0), 1500 * time.Millisecond},
		{d(time.Millisecond), 10 * time.Millisecond},
		{d(time.Second), time.Second},
		{d(5 * time.Second), 1900 * time.Millisecond},
	}
	for _, tc := range cases {
		f := &chatv1alpha1.CallbackForwardSpec{URL: "https://a.example", Timeout: tc.in}
		if got := f.ForwardTimeout(); got != tc.want {
			t.Errorf("timeout %v: got %v, want %v", tc.in, got, tc.want)
		}
	}
	a := &chatv1alpha1.CallbackForwardSpec{URL: "https://a.example"}
	b := &chatv1alpha1.CallbackForwardSpec{URL: "https://a.example", Timeout: d(1500 * time.Millisecond)}
	if !a.Same(b) {
		t.Error("the default timeout spelled out differs from unset")
	}
	if a.Same(&chatv1alpha1.CallbackForwardSpec{URL: "https://b.example"}) || a.Same(nil) {
		t.Error("different forwards are the same")
	}
	var none *chatv1alpha1.CallbackForwardSpec
	if !none.Same(nil) {
		t.Error("nil is not nil")
	}
}
