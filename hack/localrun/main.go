// Command localrun gives `make run` a cluster when none is configured: it starts a
// local control plane (the kube-apiserver and etcd that hack/envtest.sh builds),
// installs the CRDs and the sample, writes a kubeconfig, and runs the manager against
// it until interrupted.
//
//	bin/localrun -- bin/manager [flags]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/testenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "localrun:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := flag.String("dir", ".local", "Directory for the kubeconfig of the local control plane.")
	sample := flag.String("sample", "config/samples/chat_v1alpha1_officialaccountcapacity.yaml", "OfficialAccountCapacity to create.")
	flag.Parse()
	if flag.NArg() == 0 {
		return errors.New("usage: localrun [--dir DIR] [--sample FILE] -- MANAGER [FLAGS]")
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

	oac, err := installSample(context.Background(), env.Client, *sample)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, `localrun: control plane ready; the sample %q is in namespace default.
  export KUBECONFIG=%s
  kubectl get oac
Its credentials Secret has no callbackToken, so unsigned callbacks are accepted:
  curl -X POST 'http://127.0.0.1:9292/callback?SdkAppid=%d&CallbackCommand=OfficialAccount.CallbackAfterOfficialAccountFull&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI' \
    -d '{"CallbackCommand":"OfficialAccount.CallbackAfterOfficialAccountFull","Official_Account":%q,"EventTime":1670574414123}'
Then kubectl get oac shows %s as ACTIVE, and the ConfigMap %s says so. There is no Chat
REST API here, so onFull, chatAPI and notify were left out of the sample; clear the account by hand:
  kubectl annotate oac %s %s=%s
`, oac.Name, kcPath, oac.Spec.SDKAppID, oac.Spec.Accounts[0], oac.Spec.Accounts[1], oac.Spec.Publish.ConfigMapName,
		oac.Name, chatv1alpha1.ClearFullAnnotation, oac.Spec.Accounts[0])

	return runManager(kcPath, flag.Args())
}

// installSample creates the sample resource and a credentials Secret for it.
func installSample(ctx context.Context, c client.Client, path string) (*chatv1alpha1.OfficialAccountCapacity, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read sample: %w", err)
	}
	var oac chatv1alpha1.OfficialAccountCapacity
	if err := yaml.UnmarshalStrict(raw, &oac); err != nil {
		return nil, fmt.Errorf("decode sample %s: %w", path, err)
	}
	oac.Namespace = "default"
	// No Chat REST API is reachable here: without REST keys, chatAPI and onFull the
	// controller makes no REST call (none leaves this machine) and still fails over
	// and publishes. The notify targets need a Slack workspace and the REST API.
	oac.Spec.ChatAPI, oac.Spec.OnFull, oac.Spec.Notify = nil, nil, nil
	secret := &corev1.Secret{}
	secret.Name, secret.Namespace = oac.Spec.CredentialsRef.Name, oac.Namespace
	if err := c.Create(ctx, secret); err != nil {
		return nil, fmt.Errorf("create sample Secret: %w", err)
	}
	if err := c.Create(ctx, &oac); err != nil {
		return nil, fmt.Errorf("create sample %s: %w", path, err)
	}
	return &oac, nil
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
