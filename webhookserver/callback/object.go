package callback

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// object is the top level of a JSON object: its members in order, each value the raw
// JSON of the value (as json.RawMessage would hold it).
type object []member

type member struct {
	key   string
	value []byte
}

// get returns the raw value of the member named name.
func (o object) get(name string) ([]byte, bool) {
	for i := range o {
		if o[i].key == name {
			return o[i].value, true
		}
	}
	return nil, false
}

// parseObject reads the members of the JSON object raw in one pass. ok is false when
// raw is not valid JSON or not an object (null included); dup is the first key the
// object holds more than once, or "". Keys are decoded as encoding/json decodes them.
// It replaces json.Unmarshal into a map followed by a token walk for duplicates: the
// same answers for a fraction of the work (the callback hot path).
func parseObject(raw []byte) (obj object, dup string, ok bool) {
	if !json.Valid(raw) {
		return nil, "", false
	}
	i := skipSpace(raw, 0)
	if raw[i] != '{' {
		return nil, "", false
	}
	i++
	obj = make(object, 0, 4)
	var seen map[string]bool // past a few members, a map keeps the duplicate check linear
	for {
		i = skipSpace(raw, i)
		switch raw[i] {
		case '}':
			return obj, dup, true
		case ',':
			i++
			continue
		}
		end := stringEnd(raw, i)
		key := decodeString(raw[i:end])
		i = skipSpace(raw, end) // at ':'
		i = skipSpace(raw, i+1)
		vend := valueEnd(raw, i)
		if dup == "" {
			switch {
			case seen != nil:
				if seen[key] {
					dup = key
				}
			case len(obj) >= 8:
				seen = make(map[string]bool, 2*len(obj))
				for _, m := range obj {
					seen[m.key] = true
				}
				if seen[key] {
					dup = key
				}
			default:
				if _, found := obj.get(key); found {
					dup = key
				}
			}
			if seen != nil {
				seen[key] = true
			}
		}
		obj = append(obj, member{key, raw[i:vend]})
		i = vend
	}
}

// The scanners below walk JSON that json.Valid accepted, so they need no bounds or
// syntax checks of their own.

func skipSpace(raw []byte, i int) int {
	for i < len(raw) {
		switch raw[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd returns the index after the closing quote of the string starting at i.
func stringEnd(raw []byte, i int) int {
	for j := i + 1; ; j++ {
		switch raw[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
}

// valueEnd returns the index after the value starting at i.
func valueEnd(raw []byte, i int) int {
	switch raw[i] {
	case '"':
		return stringEnd(raw, i)
	case '{', '[':
		depth := 0
		for j := i; ; j++ {
			switch raw[j] {
			case '"':
				j = stringEnd(raw, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
	default: // number, true, false, null
		j := i
		for j < len(raw) {
			switch raw[j] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return j
			}
			j++
		}
		return j
	}
}

// decodeString decodes a JSON string literal (quotes included) as encoding/json does;
// one without escapes and with valid UTF-8 is its bytes.
func decodeString(lit []byte) string {
	inner := lit[1 : len(lit)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner)
	}
	var s string
	_ = json.Unmarshal(lit, &s) // valid JSON: cannot fail
	return s
}
