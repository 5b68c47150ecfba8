package chatapi

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/oacapacity/oa-capacity-operator/internal/vclock"
)

func newTestClient(t testing.TB, clk *vclock.Clock, rnd func() uint32) *Client {
	t.Helper()
	c, err := New(Config{SDKAppID: vecAppID, AdminIdentifier: vecID, SecretKey: vecKey,
		Endpoint: "http://127.0.0.1:1", Now: clk.Now, Sleep: clk.Sleep, Rand: rnd,
		UserSigLifetime: 10 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestUserSigCachedAndRenewed(t *testing.T) {
	clk := vclock.New(time.Unix(vecTime, 0))
	c := newTestClient(t, clk, nil)
	first, err := c.userSig()
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyUserSig(vecAppID, vecKey, vecID, first, clk.Now()); err != nil {
		t.Fatalf("cached sig does not verify: %v", err)
	}
	clk.Advance(9*time.Hour - time.Second) // 1h+1s of 10h left: more than 10%
	if again, _ := c.userSig(); again != first {
		t.Error("renewed while more than a tenth of the lifetime was left")
	}
	clk.Advance(2 * time.Second) // under 10% left
	renewed, _ := c.userSig()
	if renewed == first {
		t.Fatal("not renewed with under a tenth of the lifetime left")
	}
	if err := VerifyUserSig(vecAppID, vecKey, vecID, renewed, clk.Now().Add(9*time.Hour)); err != nil {
		t.Errorf("renewed sig: %v", err)
	}
	clk.Advance(-time.Hour) // the clock steps back: do not trust the cache
	if back, _ := c.userSig(); back == renewed {
		t.Error("kept a sig made in the future")
	}
	cur, _ := c.userSig()
	c.dropUserSig("something else")
	if again, _ := c.userSig(); again != cur {
		t.Error("dropping another sig dropped the cached one")
	}
	c.dropUserSig(cur)
	clk.Advance(time.Second)
	if again, _ := c.userSig(); again == cur {
		t.Error("dropped sig still served")
	}
}

func TestUserSigConcurrent(t *testing.T) {
	clk := vclock.New(time.Unix(vecTime, 0))
	c := newTestClient(t, clk, nil)
	var wg sync.WaitGroup
	sigs := make([]string, 32)
	for i := range sigs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sigs[i], _ = c.userSig()
		}()
	}
	wg.Wait()
	for _, s := range sigs {
		if s != sigs[0] || s == "" {
			t.Fatal("concurrent callers got different or empty sigs")
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	clk := vclock.New(time.Unix(vecTime, 0))
	for _, r := range []uint32{0, math.MaxUint32} {
		c := newTestClient(t, clk, func() uint32 { return r })
		for attempt := 1; attempt <= 8; attempt++ {
			full := min(defaultBaseBackoff<<(attempt-1), defaultMaxBackoff)
			d := c.backoff(attempt)
			if d < full/2 || d > full {
				t.Errorf("rand %d attempt %d: backoff %v outside [%v, %v]", r, attempt, d, full/2, full)
			}
			if r == 0 && d != full/2 {
				t.Errorf("attempt %d: jitter 0 gives %v, want %v", attempt, d, full/2)
			}
		}
	}
}

func BenchmarkCachedUserSig(b *testing.B) {
	clk := vclock.New(time.Unix(vecTime, 0))
	c := newTestClient(b, clk, nil)
	if _, err := c.userSig(); err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.userSig(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
