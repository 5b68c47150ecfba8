package main

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
)

func TestMergePatch(t *testing.T) {
	for _, tc := range []struct {
		name, target, patch, want string
	}{
		{"add a field", `{"a":1}`, `{"headroom":{"thresholdPercent":90}}`, `{"a":1,"headroom":{"thresholdPercent":90}}`},
		{"merge objects", `{"h":{"x":1,"y":2}}`, `{"h":{"y":3,"z":4}}`, `{"h":{"x":1,"y":3,"z":4}}`},
		{"null deletes", `{"a":1,"b":2}`, `{"a":null}`, `{"b":2}`},
		{"a list replaces", `{"l":[1,2]}`, `{"l":[3]}`, `{"l":[3]}`},
		{"an object replaces a scalar", `{"a":1}`, `{"a":{"b":1}}`, `{"a":{"b":1}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var target, patch, want map[string]any
			for i, s := range []string{tc.target, tc.patch, tc.want} {
				if err := json.Unmarshal([]byte(s), []*map[string]any{&target, &patch, &want}[i]); err != nil {
					t.Fatal(err)
				}
			}
			if got := mergePatch(target, patch); !reflect.DeepEqual(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestPatchSpec(t *testing.T) {
	o := pool(nsGrowth, "growth-10s", growthApp, []string{"@TOA#_a", "@TOA#_b"})
	raw, err := patchSpec(o, `{"headroom":{"thresholdPercent":90},"recheckInterval":"1m","accounts":["@TOA#_c"]}`)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Metadata struct{ Name string }
		Spec     map[string]any
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"sdkAppID": float64(growthApp), "accounts": []any{"@TOA#_c"},
		"credentialsRef": map[string]any{"name": "creds"}, "recheckInterval": "1m",
		"headroom": map[string]any{"thresholdPercent": float64(90)}}
	if got.Metadata.Name != "growth-10s" || !reflect.DeepEqual(got.Spec, want) {
		t.Errorf("patched %s", raw)
	}
	for _, bad := range []string{`[1]`, `{`, `"x"`} {
		if _, err := patchSpec(o, bad); err == nil {
			t.Errorf("patch %s accepted", bad)
		}
	}
	// No patch: the object as it is.
	raw, err = patchSpec(o, "")
	var back chatv1alpha1.OfficialAccountCapacity
	if err != nil || json.Unmarshal(raw, &back) != nil || !reflect.DeepEqual(back.Spec, o.Spec) {
		t.Errorf("no patch: %s %v", raw, err)
	}
}

func TestGrowthConfigCheck(t *testing.T) {
	ok := growthConfig{rate: 10, limit: 10000, accounts: 3, startPercent: 85, delays: "10s, 60s"}
	delays, err := ok.check()
	if err != nil || !reflect.DeepEqual(delays, []time.Duration{10 * time.Second, time.Minute}) {
		t.Fatalf("%v %v", delays, err)
	}
	for _, edit := range []func(*growthConfig){
		func(g *growthConfig) { g.delays = "10s,10s" },
		func(g *growthConfig) { g.delays = "soon" },
		func(g *growthConfig) { g.delays = "-1s" },
		func(g *growthConfig) { g.rate = 0 },
		func(g *growthConfig) { g.limit = 99 },
		func(g *growthConfig) { g.accounts = 1 },
		func(g *growthConfig) { g.startPercent = 100 },
	} {
		g := ok
		edit(&g)
		if _, err := g.check(); err == nil {
			t.Errorf("%+v accepted", g)
		}
	}
}
