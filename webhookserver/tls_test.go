package webhookserver

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/util/cert"

	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
)

func writeCert(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	crt, key, err := cert.GenerateSelfSignedCertKey("127.0.0.1", []net.IP{net.ParseIP("127.0.0.1")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Key first: a watcher that sees the new certificate then finds its key.
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), crt, 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(crt) {
		t.Fatal("no certificate in generated PEM")
	}
	return pool
}

// With a certificate directory the server speaks TLS 1.2 or newer, and picks up a
// renewed certificate without a restart.
func TestTLSAndCertificateReload(t *testing.T) {
	dir := t.TempDir()
	first := writeCert(t, dir)
	h := startServer(t, Options{CertDir: dir})
	h.url = strings.Replace(h.url, "http://", "https://", 1)
	appID := newAppID()
	oac := h.pool(env.Namespace(t), appID, "tls-token", "@TOA#_tls")

	h.http = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: first}}}
	h.full(appID, "tls-token", "@TOA#_tls", sampleEventTime)
	if a := accountStatus(stored(t, oac), "@TOA#_tls"); a == nil || !a.Full {
		t.Fatalf("callback over TLS not recorded: %+v", a)
	}

	// Plain HTTP to the TLS port is refused.
	resp, err := http.Post(strings.Replace(h.url, "https://", "http://", 1), "application/json", bytes.NewBufferString("{}"))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the TLS port: HTTP %d, want 400", resp.StatusCode)
		}
	}

	// TLS 1.1 is refused.
	old := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: first, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}}}
	if resp, err := old.Post(h.url, "application/json", bytes.NewBufferString("{}")); err == nil {
		resp.Body.Close()
		t.Error("a TLS 1.1 client was served")
	}

	// A renewed certificate is served without a restart.
	second := writeCert(t, dir)
	testenv.Eventually(t, 30*time.Second, func() error {
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: second}}}
		resp, err := c.Post(h.url+"?SdkAppid=1", "application/json", bytes.NewBufferString("{}"))
		if err != nil {
			return fmt.Errorf("new certificate not served yet: %w", err)
		}
		resp.Body.Close()
		return nil
	})
}
