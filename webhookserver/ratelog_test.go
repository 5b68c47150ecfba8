package webhookserver

import (
	"fmt"
	"testing"
	"time"
)

func TestOnceEvery(t *testing.T) {
	now := time.Unix(1000, 0)
	o := newOnceEvery(time.Minute, 3, func() time.Time { return now })
	var logged []string
	log := func(k string) { o.log(k, func() { logged = append(logged, k) }) }

	log("a")
	log("a")
	log("b")
	now = now.Add(59 * time.Second)
	log("a")
	now = now.Add(time.Second)
	log("a") // a minute after the first
	if want := "[a b a]"; fmt.Sprint(logged) != want {
		t.Fatalf("logged %v, want %s", logged, want)
	}

	// Many keys never grow it past its bound.
	for i := range 100 {
		log(fmt.Sprint("k", i))
	}
	if len(o.last) > 3 {
		t.Fatalf("remembers %d keys, bound 3", len(o.last))
	}
}
