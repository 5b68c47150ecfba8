package callback

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// referenceObjectQuirk is what Parse did before parseObject: json.Unmarshal into a map,
// then a token walk for the first duplicate key. parseObject must answer the same,
// but for one quirk of the old walk: a duplicated empty key ended it without
// reporting anything (it returned the key, ""), so later duplicates went unseen;
// parseObject reports them. Its last result says the walk ended so.
func referenceObjectQuirk(raw []byte) (map[string]json.RawMessage, string, bool, bool) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return nil, "", false, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return fields, "", true, false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fields, "", true, false
		}
		key, _ := tok.(string)
		if seen[key] {
			return fields, key, true, key == ""
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return fields, "", true, false
		}
	}
	return fields, "", true, false
}

func checkSameAsReference(t *testing.T, raw []byte) {
	t.Helper()
	want, wantDup, wantOK, emptyDup := referenceObjectQuirk(raw)
	got, dup, ok := parseObject(raw)
	if emptyDup && ok {
		return // see referenceObject
	}
	if ok != wantOK || dup != wantDup {
		t.Fatalf("parseObject(%q) = ok %v dup %q; reference ok %v dup %q", raw, ok, dup, wantOK, wantDup)
	}
	if !ok || dup != "" {
		return // a map keeps only the last of duplicated keys; Parse refuses them anyway
	}
	if _, _, _, empty := referenceObjectQuirk(raw); empty || len(got) != len(want) {
		t.Fatalf("parseObject(%q): %d members, reference %d", raw, len(got), len(want))
	}
	for k, v := range want {
		g, found := got.get(k)
		if !found || !bytes.Equal(g, v) {
			t.Fatalf("parseObject(%q)[%q] = %q, %v; reference %q", raw, k, g, found, v)
		}
	}
}

var objectSamples = []string{
	sampleBody,
	`{}`, ` { } `, `null`, `[]`, `[1,2]`, `"x"`, `1`, ``, `{`, `{"a":1}}`, `{"a":1} x`,
	`{"a":1,"a":2}`, `{"a":1,"b":2,"a":3,"b":4}`, `{"b":{"a":1,"a":2}}`,
	`{"a" : [1, {"x": "]}"}, "\""] , "b":true,"c":null,"d":-1.5e3}`,
	`{"\u0041":1,"A":2}`, `{"a\"b":"c\\d"}`, `{"\ud800":1}`, "{\"\xff\":1,\"\xfe\":2}",
	"{\"Official_Account\":\"@TOA#_\xff\"}", `{"k":"\u00e9t\u00e9"}`,
	"\t{\n\"a\"\r:\n1\t}\n",
	`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"c":11}`,
	`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"j":11}`,
	`{"":0,"":0}`, `{"":0,"":0,"a":1,"a":2}`,
}

// The one difference from the old walk: duplicates after a duplicated empty key.
func TestParseObjectReportsDuplicatesAfterAnEmptyKey(t *testing.T) {
	if _, dup, ok := parseObject([]byte(`{"":0,"":0,"a":1,"a":2}`)); !ok || dup != "a" {
		t.Fatalf("dup %q, ok %v; want a", dup, ok)
	}
}

func TestParseObjectMatchesReference(t *testing.T) {
	for _, s := range objectSamples {
		checkSameAsReference(t, []byte(s))
	}
	var many strings.Builder
	many.WriteString("{")
	for i := range 2000 {
		if i > 0 {
			many.WriteString(",")
		}
		many.WriteString(`"k` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + `":1`)
	}
	many.WriteString("}")
	checkSameAsReference(t, []byte(many.String()))
}

// FuzzParseObject compares parseObject with the encoding/json reference on any input.
func FuzzParseObject(f *testing.F) {
	for _, s := range objectSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		checkSameAsReference(t, []byte(raw))
	})
}

func BenchmarkParse(b *testing.B) {
	q := mustQuery(b, sampleQuery+"&Sign="+docSign+"&RequestTime=1669872112")
	body := []byte(sampleBody)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(q, body, testNotAfter); err != nil {
			b.Fatal(err)
		}
	}
}
