package e2e

import (
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
)

// leaks collects, over the whole run, every secret the tests used and every text the
// operator showed: manager logs, Events, statuses, callback answers, notification
// bodies. TestNoSecretLeaks checks that no secret appears in any text.
var leaks = &leakCollector{secrets: map[string]bool{}, signs: map[string]bool{}, texts: map[string]string{}}

type leakCollector struct {
	mu      sync.Mutex
	secrets map[string]bool   // tokens, keys, sink URL tokens
	signs   map[string]bool   // every Sign sent: 64 lowercase hex digits
	texts   map[string]string // text -> where it was seen (deduplicated by content)
}

func (c *leakCollector) addSecret(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.secrets[s] = true
}

func (c *leakCollector) addSign(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.signs[s] = true
}

func (c *leakCollector) addText(where, text string) {
	if text == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.texts[text]; !ok {
		c.texts[text] = where
	}
}

func collectLog(where, log string) { leaks.addText("log of "+where, log) }

var hex64 = regexp.MustCompile(`[0-9a-f]{64}`)

// find returns, for each text that holds a secret or a Sign, where it was seen and
// what it held.
func (c *leakCollector) find() (found []string, secrets, signs, texts int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for text, where := range c.texts {
		for s := range c.secrets {
			if i := strings.Index(text, s); i >= 0 {
				found = append(found, where+": secret "+s+" in …"+excerpt(text, i, len(s))+"…")
			}
		}
		for _, h := range hex64.FindAllStringIndex(text, -1) {
			if s := text[h[0]:h[1]]; c.signs[s] {
				found = append(found, where+": Sign "+s+" in …"+excerpt(text, h[0], len(s))+"…")
			}
		}
	}
	sort.Strings(found)
	return found, len(c.secrets), len(c.signs), len(c.texts)
}

func excerpt(text string, i, n int) string {
	return text[max(0, i-80):min(len(text), i+n+80)]
}

// TestNoSecretLeaks runs after every other test of the run (it waits for them) and
// fails if any callbackToken, secretKey, signingKey, the token of a sink's URL or a
// Sign sent by the simulated backend appears in a manager's log, an Event, a status,
// a callback answer or a notification body.
func TestNoSecretLeaks(t *testing.T) {
	t.Parallel() // released with the others; then waits for them
	running.Wait()
	found, secrets, signs, texts := leaks.find()
	t.Logf("checked %d texts for %d secrets and %d Signs", texts, secrets, signs)
	if texts == 0 {
		t.Skip("no other test ran: nothing to check (run it with the others)")
	}
	for _, f := range found {
		t.Errorf("leaked: %s", f)
	}
}
