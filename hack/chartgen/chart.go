package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

type object = map[string]any

// renders are the kustomize renders of config/ the chart is made of.
type renders struct {
	base        []object // config/default
	callbackTLS []object // config/overlays/callback-tls
	prometheus  []object // config/prometheus
	grafana     []object // config/grafana
}

// An item is an object of the chart and the condition under which it is rendered.
type item struct {
	obj  object
	cond string // a template condition; "" renders it always
}

// optionalKinds are the objects the chart renders only when a value is on, by source
// and kind, and how their placeholders go in. Every object of config/prometheus and
// config/grafana must have one.
var optionalKinds = map[string]map[string]struct {
	cond string
	mark func(object)
}{
	"config/default": {
		"CustomResourceDefinition": {".Values.crds.install", func(o object) { meta(o, "annotations")[placeholder("crd_keep")] = "" }},
	},
	"config/prometheus": {
		"ServiceMonitor": {".Values.metrics.serviceMonitor.enabled", func(o object) { meta(o, "labels")[placeholder("monitor_labels")] = "" }},
		"PrometheusRule": {".Values.prometheusRule.enabled", func(o object) { meta(o, "labels")[placeholder("rule_labels")] = "" }},
	},
	"config/grafana": {
		"ConfigMap": {".Values.dashboard.enabled", func(o object) { obj(o, "metadata")["namespace"] = placeholder("dashboard_namespace") }},
	},
}

// mark puts the placeholders of optionalKinds into the objects from dir.
func mark(dir string, objs []object) {
	for _, o := range objs {
		if opt := optionalKinds[dir][kind(o)]; opt.mark != nil {
			opt.mark(o)
		}
	}
}

// meta returns the map of field (labels, annotations) in o's metadata, added when missing.
func meta(o object, field string) object {
	md := obj(o, "metadata")
	m, ok := md[field].(map[string]any)
	if !ok {
		m = object{}
		md[field] = m
	}
	return m
}

// The chart's boolean values that change objects rather than add them: on, each
// renders the objects of its variant in place of the base ones.
var (
	callbackTLSToggle = toggle{on: ".Values.callbackTLS.enabled", off: "not .Values.callbackTLS.enabled"}
	insecureToggle    = toggle{on: "not .Values.metrics.secure", off: ".Values.metrics.secure"}
)

// generate returns the chart's files from the renders.
func generate(r renders) (map[string][]byte, error) {
	items, tls, ns, err := collect(r)
	if err != nil {
		return nil, err
	}
	objs := make([]object, len(items))
	for i, it := range items {
		objs[i] = it.obj
	}
	d, err := parametrize(objs)
	if err != nil {
		return nil, err
	}
	if _, err := parametrize(tls); err != nil {
		return nil, fmt.Errorf("config/overlays/callback-tls: %w", err)
	}
	if d.CallbackTLSSecret, err = parametrizeTLSSecret(objs, tls); err != nil {
		return nil, fmt.Errorf("config/overlays/callback-tls: %w", err)
	}
	insecure := clone(objs)
	if err := insecureMetrics(insecure); err != nil {
		return nil, err
	}
	files, err := templates(items, ns, []variant{{callbackTLSToggle, tls}, {insecureToggle, insecure}})
	if err != nil {
		return nil, err
	}
	for name, b := range chartFiles(d) {
		files[name] = b
	}
	return files, nil
}

// collect returns the objects of the chart with their conditions, the objects of the
// callback-tls overlay, and the namespace they are all in; none has a Namespace.
func collect(r renders) (items []item, tls []object, ns string, err error) {
	base, ns, err := withoutNamespace(r.base)
	if err != nil {
		return nil, nil, "", fmt.Errorf("config/default: %w", err)
	}
	tls, tlsNS, err := withoutNamespace(r.callbackTLS)
	if err != nil {
		return nil, nil, "", fmt.Errorf("config/overlays/callback-tls: %w", err)
	}
	if tlsNS != ns {
		return nil, nil, "", fmt.Errorf("config/overlays/callback-tls installs into %s, config/default into %s", tlsNS, ns)
	}
	for _, src := range []struct {
		dir  string
		objs []object
	}{{"config/default", base}, {"config/prometheus", r.prometheus}, {"config/grafana", r.grafana}} {
		for _, o := range src.objs {
			if namespace(o) != "" && namespace(o) != ns {
				return nil, nil, "", fmt.Errorf("%s: %s is not in the namespace of config/default, %s", src.dir, key(o), ns)
			}
			opt, ok := optionalKinds[src.dir][kind(o)]
			if !ok && src.dir != "config/default" {
				return nil, nil, "", fmt.Errorf("%s: the chart has no value for a %s (%s)", src.dir, kind(o), key(o))
			}
			items = append(items, item{o, opt.cond})
		}
		mark(src.dir, src.objs)
	}
	mark("config/default", tls) // the overlay of config/default
	return items, tls, ns, nil
}

// A variant is what the objects become when its toggle is on; an object it lacks
// stays as it is.
type variant struct {
	t    toggle
	objs []object
}

// templates returns the template files of items, one per kind: each object's YAML
// with the variants' differences as conditionals and the placeholders expanded.
func templates(items []item, ns string, variants []variant) (map[string][]byte, error) {
	byKey := map[string]int{}
	lines := make([][]string, len(items))
	for i, it := range items {
		byKey[key(it.obj)] = i
		var err error
		if lines[i], err = text(it.obj, ns); err != nil {
			return nil, err
		}
	}
	hunks := make([][]hunk, len(items))
	for order, v := range variants {
		for _, o := range v.objs {
			i, ok := byKey[key(o)]
			if !ok {
				return nil, fmt.Errorf("with %s, %s is added, which the chart cannot express", v.t.on, key(o))
			}
			vl, err := text(o, ns)
			if err != nil {
				return nil, err
			}
			hunks[i] = append(hunks[i], diff(lines[i], vl, v.t, order)...)
		}
	}

	files := map[string][]byte{}
	for i, it := range items {
		body, err := render(lines[i], hunks[i])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key(it.obj), err)
		}
		if body, err = expand(body); err != nil {
			return nil, fmt.Errorf("%s: %w", key(it.obj), err)
		}
		doc := "---\n" + strings.Join(body, "\n") + "\n"
		if strings.Contains(doc, tokenPrefix) {
			return nil, fmt.Errorf("%s: a value placeholder is left in", key(it.obj))
		}
		if it.cond != "" {
			doc = "{{- if " + it.cond + " }}\n" + doc + "{{- end }}\n"
		}
		name := "templates/" + strings.ToLower(kind(it.obj)) + ".yaml"
		if _, ok := files[name]; !ok {
			files[name] = []byte(generatedHeader)
		}
		files[name] = append(files[name], doc...)
	}
	return files, nil
}

const generatedHeader = "# Generated by hack/chartgen (make manifests) from config/; edit those sources, not this file.\n"

// withoutNamespace returns objs without their one Namespace, and its name.
func withoutNamespace(objs []object) ([]object, string, error) {
	var ns []string
	rest := slices.DeleteFunc(slices.Clone(objs), func(o object) bool {
		if kind(o) == "Namespace" {
			ns = append(ns, name(o))
			return true
		}
		return false
	})
	if len(ns) != 1 {
		return nil, "", fmt.Errorf("want one Namespace, found %q", ns)
	}
	for _, o := range rest {
		if n := namespace(o); n != "" && n != ns[0] {
			return nil, "", fmt.Errorf("%s is not in the Namespace %s", key(o), ns[0])
		}
	}
	return rest, ns[0], nil
}

// text returns the YAML lines of o as template text: template delimiters in its
// strings escaped, and its namespace made the release's.
func text(o object, ns string) ([]string, error) {
	b, err := yaml.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("marshal %s: %w", key(o), err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	s = strings.ReplaceAll(s, "{{", "{{`{{`}}")
	s = strings.ReplaceAll(s, ns, "{{ .Release.Namespace }}")
	return strings.Split(s, "\n"), nil
}

func clone(objs []object) []object {
	b, err := json.Marshal(objs)
	if err != nil {
		panic(err) // objects decoded from JSON marshal again
	}
	var out []object
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

func kind(o object) string      { return str(o, "kind") }
func name(o object) string      { return str(o, "metadata", "name") }
func namespace(o object) string { return str(o, "metadata", "namespace") }
func key(o object) string {
	if ns := namespace(o); ns != "" {
		return kind(o) + " " + ns + "/" + name(o)
	}
	return kind(o) + " " + name(o)
}

// get returns the value at path in o, or nil.
func get(o object, path ...string) any {
	var v any = o
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func str(o object, path ...string) string { s, _ := get(o, path...).(string); return s }
func obj(o object, path ...string) object { m, _ := get(o, path...).(map[string]any); return m }

// list returns the maps of the list at path in o.
func list(o object, path ...string) []object {
	l, _ := get(o, path...).([]any)
	var out []object
	for _, v := range l {
		if m, ok := v.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// managerOf returns the one Deployment of objs and its container named manager.
func managerOf(objs []object) (deploy, container object, err error) {
	for _, o := range objs {
		if kind(o) != "Deployment" {
			continue
		}
		if deploy != nil {
			return nil, nil, fmt.Errorf("two Deployments: %s and %s", name(deploy), name(o))
		}
		deploy = o
	}
	if deploy == nil {
		return nil, nil, fmt.Errorf("no Deployment")
	}
	for _, c := range list(deploy, "spec", "template", "spec", "containers") {
		if str(c, "name") == "manager" {
			return deploy, c, nil
		}
	}
	return nil, nil, fmt.Errorf("the Deployment %s has no container named manager", name(deploy))
}
