package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// The chart's values enter the objects as placeholders, tokenPrefix+name+"__", which
// stay single YAML scalars through marshalling; expand turns them into template text.
const tokenPrefix = "__oac_"

func placeholder(name string) string { return tokenPrefix + name + "__" }

// A token is what a placeholder becomes: inline text in place of it, or lines in place
// of the line that holds it, which must read line (after its indentation).
type token struct {
	inline string
	line   string
	block  func(ind string) []string
}

var tokens = map[string]token{
	"replicas": {inline: "{{ .Values.replicas }}"},
	"image":    {inline: `"{{ .Values.image.repository }}:{{ .Values.image.tag }}"`},
	"pull_policy": {line: "imagePullPolicy: " + placeholder("pull_policy"), block: func(ind string) []string {
		return []string{ind + "{{- with .Values.image.pullPolicy }}", ind + "imagePullPolicy: {{ . }}", ind + "{{- end }}"}
	}},
	"resources": {line: "resources: " + placeholder("resources"), block: func(ind string) []string {
		return []string{ind + "resources:", fmt.Sprintf("%s  {{- toYaml .Values.resources | nindent %d }}", ind, len(ind)+2)}
	}},
	"extra_args": {line: "- " + placeholder("extra_args"), block: func(ind string) []string {
		return []string{ind + "{{- range .Values.extraArgs }}", ind + "- {{ . | quote }}", ind + "{{- end }}"}
	}},
	"callback_tls_secret": {inline: "{{ .Values.callbackTLS.secretName | quote }}"},
	"monitor_labels":      labelsToken("monitor_labels", ".Values.metrics.serviceMonitor.labels"),
	"rule_labels":         labelsToken("rule_labels", ".Values.prometheusRule.labels"),
	"crd_keep": {line: placeholder("crd_keep") + `: ""`, block: func(ind string) []string {
		return []string{ind + "{{- if .Values.crds.keep }}", ind + "helm.sh/resource-policy: keep", ind + "{{- end }}"}
	}},
	"dashboard_namespace": {inline: "{{ .Values.dashboard.namespace | default .Release.Namespace | quote }}"},
}

// labelsToken adds the map of value to the labels its placeholder key is among.
func labelsToken(name, value string) token {
	return token{line: placeholder(name) + `: ""`, block: func(ind string) []string {
		return []string{ind + "{{- with " + value + " }}", fmt.Sprintf("%s{{- toYaml . | nindent %d }}", ind, len(ind)), ind + "{{- end }}"}
	}}
}

var placeholders = regexp.MustCompile(tokenPrefix + `([a-z_]+?)__`)

// expand replaces the placeholders in lines by their template text.
func expand(lines []string) ([]string, error) {
	var out []string
	for _, l := range lines {
		var block []string
		var err error
		l = placeholders.ReplaceAllStringFunc(l, func(p string) string {
			t, ok := tokens[placeholders.FindStringSubmatch(p)[1]]
			switch {
			case !ok:
				err = fmt.Errorf("unknown placeholder %s", p)
			case t.block != nil && strings.TrimLeft(l, " ") != t.line:
				err = fmt.Errorf("placeholder %s in %q, want a line of its own %q", p, l, t.line)
			case t.block != nil:
				block = t.block(indent(l))
			}
			return t.inline
		})
		if err != nil {
			return nil, err
		}
		if block != nil {
			out = append(out, block...)
		} else {
			out = append(out, l)
		}
	}
	return out, nil
}

// defaults are the values of the renders: the chart's default values.
type defaults struct {
	Repository, Tag, PullPolicy string
	Replicas                    int64
	Resources                   object
	CallbackTLSSecret           string
}

// parametrize puts the manager's placeholders into the Deployment of objs and
// returns the values they replaced.
func parametrize(objs []object) (defaults, error) {
	var d defaults
	deploy, c, err := managerOf(objs)
	if err != nil {
		return d, err
	}
	spec := obj(deploy, "spec")
	r, ok := spec["replicas"].(float64)
	if !ok {
		return d, fmt.Errorf("the Deployment %s sets no replicas", name(deploy))
	}
	d.Replicas = int64(r)
	spec["replicas"] = placeholder("replicas")

	image := str(c, "image")
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.ContainsAny(image[i:], "/@") {
		return d, fmt.Errorf("manager image %q: want repository:tag", image)
	}
	d.Repository, d.Tag = image[:i], image[i+1:]
	c["image"] = placeholder("image")
	d.PullPolicy = str(c, "imagePullPolicy")
	c["imagePullPolicy"] = placeholder("pull_policy")

	if d.Resources = obj(c, "resources"); d.Resources == nil {
		return d, fmt.Errorf("the manager container sets no resources")
	}
	c["resources"] = placeholder("resources")

	args, _ := c["args"].([]any)
	c["args"] = append(args, placeholder("extra_args"))
	return d, nil
}

// parametrizeTLSSecret puts the placeholder of callbackTLS.secretName into the Secret
// volume the overlay tls adds to base, and returns the Secret's name.
func parametrizeTLSSecret(base, tls []object) (string, error) {
	bd, _, err := managerOf(base)
	if err != nil {
		return "", err
	}
	td, _, err := managerOf(tls)
	if err != nil {
		return "", err
	}
	var have []string
	for _, v := range list(bd, "spec", "template", "spec", "volumes") {
		have = append(have, str(v, "name"))
	}
	var secret string
	for _, v := range list(td, "spec", "template", "spec", "volumes") {
		s := obj(v, "secret")
		if s == nil || slices.Contains(have, str(v, "name")) {
			continue
		}
		if secret != "" {
			return "", fmt.Errorf("it adds two Secret volumes; the chart has one callbackTLS.secretName")
		}
		secret = str(s, "secretName")
		s["secretName"] = placeholder("callback_tls_secret")
	}
	if secret == "" {
		return "", fmt.Errorf("it adds no Secret volume to Deployment %s", name(td))
	}
	return secret, nil
}

// insecureMetrics turns objs into what metrics.secure=false renders: the manager
// serves plain HTTP (--metrics-secure=false), its metrics ports are named http, and the
// ServiceMonitor scrapes them without a token or TLS.
func insecureMetrics(objs []object) error {
	_, c, err := managerOf(objs)
	if err != nil {
		return err
	}
	args, _ := c["args"].([]any)
	if _, ok := flagValue(args, "metrics-secure"); ok {
		return fmt.Errorf("the manager's args set --metrics-secure, which is the chart's metrics.secure")
	}
	if len(args) == 0 || args[len(args)-1] != placeholder("extra_args") {
		return fmt.Errorf("the manager's args do not end with the extra args")
	}
	addr, ok := flagValue(args, "metrics-bind-address")
	if !ok {
		addr = ":8443" // the manager's default
	}
	m := portOfAddress.FindStringSubmatch(addr)
	if m == nil {
		return fmt.Errorf("--metrics-bind-address=%s has no port", addr)
	}
	var port string
	for _, p := range list(c, "ports") {
		if n, _ := json.Marshal(p["containerPort"]); string(n) == m[1] {
			port = str(p, "name")
			p["name"] = "http-metrics"
		}
	}
	if port == "" {
		return fmt.Errorf("no named container port for --metrics-bind-address=%s", addr)
	}
	c["args"] = slices.Insert(args, len(args)-1, any("--metrics-secure=false"))

	servicePorts := map[string]bool{}
	for _, o := range objs {
		if kind(o) != "Service" {
			continue
		}
		for _, p := range list(o, "spec", "ports") {
			if p["targetPort"] == port {
				servicePorts[str(p, "name")] = true
				p["name"], p["targetPort"] = "http", "http-metrics"
			}
		}
	}
	if len(servicePorts) == 0 {
		return fmt.Errorf("no Service targets the metrics port %s", port)
	}
	for _, o := range objs {
		if kind(o) != "ServiceMonitor" {
			continue
		}
		var found bool
		for _, e := range list(o, "spec", "endpoints") {
			if servicePorts[str(e, "port")] {
				found = true
				e["port"], e["scheme"] = "http", "http"
				for _, f := range []string{"bearerTokenFile", "bearerTokenSecret", "authorization", "tlsConfig"} {
					delete(e, f)
				}
			}
		}
		if !found {
			return fmt.Errorf("ServiceMonitor %s scrapes no metrics Service port", name(o))
		}
	}
	return nil
}

// flagValue returns the value of --name=value in args, and whether it is there.
func flagValue(args []any, name string) (string, bool) {
	for _, a := range args {
		if s, ok := a.(string); ok {
			if v, ok := strings.CutPrefix(s, "--"+name+"="); ok {
				return v, true
			}
		}
	}
	return "", false
}

var portOfAddress = regexp.MustCompile(`:(\d+)$`)
