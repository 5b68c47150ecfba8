// Command localrun gives `make run` a cluster when none is configured: it starts a
// local control plane (the kube-apiserver and etcd that hack/envtest.sh builds),
// installs the CRDs, serves a fake Chat REST API and a notification sink on loopback,
// installs the sample pointed at them, writes a kubeconfig, prints a walkthrough, and
// runs the manager against it until interrupted.
//
//	bin/localrun -- bin/manager [flags]
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi/chatapitest"
	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "localrun:", err)
		os.Exit(1)
	}
}

// The local mode's demo: its fixed credentials are for the fake Chat only.
const (
	demoCallbackToken = "local-demo-token"
	demoAdmin         = "administrator"
	demoSinkSecret    = "demo-sink"
)

func run() error {
	dir := flag.String("dir", ".local", "Directory for the kubeconfig of the local control plane.")
	sample := flag.String("sample", "config/samples/chat_v1alpha1_officialaccountcapacity.yaml", "OfficialAccountCapacity to create.")
	chatAddr := flag.String("chat-address", "127.0.0.1:9393", "Address of the fake Chat REST API.")
	demoAddr := flag.String("demo-address", "127.0.0.1:9494", "Address of the notification sink and the subscriber-count handle.")
	callbackURL := flag.String("callback-url", "http://127.0.0.1:9292/callback", "Where the fake Chat sends its full callbacks: the manager's receiver.")
	flag.Parse()
	if flag.NArg() == 0 {
		return errors.New("usage: localrun [flags] -- MANAGER [FLAGS]")
	}
	// Bind the fixed ports first: a second `make run` fails at once, not after a
	// control plane has started.
	chatL, err := net.Listen("tcp", *chatAddr)
	if err != nil {
		return fmt.Errorf("fake Chat REST API: %w", err)
	}
	demoL, err := net.Listen("tcp", *demoAddr)
	if err != nil {
		_ = chatL.Close()
		return fmt.Errorf("notification sink: %w", err)
	}

	// The same control plane as the tests, with the CRDs installed; its binaries come
	// from KUBEBUILDER_ASSETS or hack/envtest.sh.
	fmt.Fprintln(os.Stderr, "localrun: no cluster is configured; starting a local control plane")
	env, err := testenv.Start()
	if err != nil {
		return fmt.Errorf("start local control plane: %w", err)
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "localrun: stop control plane:", err)
		}
	}()
	kc, err := env.KubeConfig()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	kcPath, err := filepath.Abs(filepath.Join(*dir, "kubeconfig"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(kcPath, kc, 0o600); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}

	oac, err := readSample(*sample)
	if err != nil {
		return err
	}
	fake := &chatapitest.Standalone{Out: os.Stderr, Prefix: "localrun: fake Chat: "}
	defer fake.Close()
	secretKey, sinkKey := randomKey(), randomKey()
	chat := chatapitest.NewServerOn(fake, chatL, oac.Spec.SDKAppID, demoAdmin, secretKey)
	seedChat(chat, oac)
	stream, err := playSubscribers(chat, env, oac, *callbackURL)
	if err != nil {
		return err
	}
	sink := &http.Server{Handler: &demo{chat: chat, stream: stream, signingKey: sinkKey, callbackToken: demoCallbackToken, out: os.Stdout}, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = sink.Serve(demoL) }()
	defer func() { _ = sink.Close() }()

	if err := installSample(context.Background(), env.Client, oac, chat.URL(), "http://"+*demoAddr, secretKey, sinkKey); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, `localrun: ready. The sample %q is in namespace default; the fake Chat REST API
is on %s, the notification sink and the app's backend on %s. In another terminal, in this directory:

  export KUBECONFIG=%s
%s
The walkthrough in README.md ("See it work") shows what each step prints.
`, oac.Name, *chatAddr, *demoAddr, kcPath, indent(walkthrough))

	return runManager(kcPath, flag.Args())
}

func readSample(path string) (*chatv1alpha1.OfficialAccountCapacity, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read sample: %w", err)
	}
	var oac chatv1alpha1.OfficialAccountCapacity
	if err := yaml.UnmarshalStrict(raw, &oac); err != nil {
		return nil, fmt.Errorf("decode sample %s: %w", path, err)
	}
	if len(oac.Spec.Accounts) < 2 || oac.Spec.Publish == nil {
		return nil, fmt.Errorf("sample %s: the walkthrough needs two accounts and spec.publish", path)
	}
	oac.Namespace = "default"
	return &oac, nil
}

// seedChat gives the fake Chat the sample's accounts: the first with room to fill,
// the second already at the raise ceiling, so that three callbacks show a raise, a
// failover and a scale-out.
func seedChat(chat *chatapitest.Server, oac *chatv1alpha1.OfficialAccountCapacity) {
	a, b := oac.Spec.Accounts[0], oac.Spec.Accounts[1]
	chat.AddAccount(chatapitest.Account{ID: a, Name: a, Owner: demoAdmin, SubscriberNum: 60000, MaxSubscriberNum: 100000})
	chat.AddAccount(chatapitest.Account{ID: b, Name: b, Owner: demoAdmin, SubscriberNum: 40000, MaxSubscriberNum: 150000})
}

// installSample creates the sample, pointed at the fake Chat and the sink (which also
// plays the app's backend), and the Secrets it names.
func installSample(ctx context.Context, c client.Client, oac *chatv1alpha1.OfficialAccountCapacity, chatURL, demoURL, secretKey, sinkKey string) error {
	sinkURL := demoURL + "/notify"
	oac.Spec.ChatAPI = &chatv1alpha1.ChatAPISpec{Endpoint: chatURL}
	oac.Spec.CallbackForward = &chatv1alpha1.CallbackForwardSpec{URL: demoURL + "/im/callback"}
	oac.Spec.OnFull = &chatv1alpha1.OnFullSpec{
		RaiseLimit: &chatv1alpha1.RaiseLimitSpec{Step: 50000, Ceiling: 150000},
		ScaleOut:   &chatv1alpha1.ScaleOutSpec{MaxAccounts: 3, OwnerAccount: demoAdmin, NamePrefix: "Support", MaxSubscriberNum: 100000},
	}
	oac.Spec.Notify = []chatv1alpha1.NotifyTarget{{Name: "sink", Type: chatv1alpha1.NotifyWebhook, SecretRef: &chatv1alpha1.LocalObjectReference{Name: demoSinkSecret}}}
	secrets := []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: oac.Spec.CredentialsRef.Name, Namespace: oac.Namespace}, StringData: map[string]string{
			"callbackToken": demoCallbackToken, "adminIdentifier": demoAdmin, "secretKey": secretKey,
		}},
		{ObjectMeta: metav1.ObjectMeta{Name: demoSinkSecret, Namespace: oac.Namespace}, StringData: map[string]string{
			"url": sinkURL, "signingKey": sinkKey,
		}},
	}
	for _, s := range secrets {
		if err := c.Create(ctx, s); err != nil {
			return fmt.Errorf("create Secret %s: %w", s.Name, err)
		}
	}
	if err := c.Create(ctx, oac); err != nil {
		return fmt.Errorf("create sample %s: %w", oac.Name, err)
	}
	return nil
}

func randomKey() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// indent indents the lines of s that are not blank.
func indent(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if strings.TrimSpace(line) != "" {
			b.WriteString("  ")
		}
		b.WriteString(line)
	}
	return b.String()
}

// runManager runs the manager until it exits, passing SIGINT and SIGTERM on to it so
// that it drains before the control plane stops.
func runManager(kubeconfig string, argv []string) error {
	cmd := exec.Command(argv[0], append([]string{"--kubeconfig", kubeconfig}, argv[1:]...)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// Its own process group: a terminal's Ctrl-C reaches only us, and the manager
	// gets it once (a second signal would make it exit without draining).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start manager: %w", err)
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			_ = cmd.Process.Signal(s)
		case err := <-exited:
			if err != nil {
				return fmt.Errorf("manager: %w", err)
			}
			return nil
		}
	}
}
