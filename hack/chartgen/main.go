// Command chartgen writes the Helm chart charts/oa-capacity-operator from the kustomize
// renders of config/, the sources of dist/install.yaml, so that the two cannot drift
// (as kubebuilder's helm plugin does). make manifests runs it:
//
//	chartgen --config config --out charts/oa-capacity-operator
//
// config/default becomes the templates, with the chart's values put in place of the
// fields they set; config/overlays/callback-tls becomes the callbackTLS value (its
// difference to config/default, rendered when the value is on); config/prometheus and
// config/grafana become the optional ServiceMonitor, PrometheusRule and dashboard
// ConfigMap. With its default values the chart renders the objects of config/default
// but its Namespace, which Helm cannot own (it stores the release in it before it
// installs anything).
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"k8s.io/apimachinery/pkg/util/yaml"
)

func main() {
	config := flag.String("config", "config", "the kustomize tree to render")
	out := flag.String("out", "charts/oa-capacity-operator", "the chart directory to write")
	kubectl := flag.String("kubectl", "kubectl", "kubectl, which renders the kustomizations")
	flag.Parse()
	if err := run(*config, *out, *kubectl); err != nil {
		fmt.Fprintln(os.Stderr, "chartgen:", err)
		os.Exit(1)
	}
}

func run(config, out, kubectl string) error {
	var r renders
	for dir, objs := range map[string]*[]object{
		"default":               &r.base,
		"overlays/callback-tls": &r.callbackTLS,
		"prometheus":            &r.prometheus,
		"grafana":               &r.grafana,
	} {
		var err error
		if *objs, err = kustomize(kubectl, filepath.Join(config, dir)); err != nil {
			return err
		}
	}
	files, err := generate(r)
	if err != nil {
		return err
	}
	return write(out, files)
}

// kustomize renders a kustomization directory with kubectl and decodes its objects.
func kustomize(kubectl, dir string) ([]object, error) {
	var stderr bytes.Buffer
	cmd := exec.Command(kubectl, "kustomize", dir)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("kubectl kustomize %s: %w\n%s", dir, err, stderr.Bytes())
	}
	objs, err := decode(out)
	if err != nil {
		return nil, fmt.Errorf("kubectl kustomize %s: %w", dir, err)
	}
	return objs, nil
}

// decode splits a multi-document YAML stream into objects.
func decode(b []byte) ([]object, error) {
	var objs []object
	d := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		var o object
		err := d.Decode(&o)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decode object %d: %w", len(objs)+1, err)
		}
		if len(o) > 0 {
			objs = append(objs, o)
		}
	}
}

// write replaces the chart in dir by files (paths relative to dir). The templates
// directory is written whole, so that a template of a kind no longer rendered goes.
func write(dir string, files map[string][]byte) error {
	if err := os.RemoveAll(filepath.Join(dir, "templates")); err != nil {
		return fmt.Errorf("remove old templates: %w", err)
	}
	for name, b := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}
