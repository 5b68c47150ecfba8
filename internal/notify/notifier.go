package notify

import (
	"context"
	"time"
)

// Kinds of Message.
const (
	// KindFull: an account reached its capacity.
	KindFull = "full"
	// KindRepeat: an account is still full; a reminder.
	KindRepeat = "repeat"
	// KindExhausted: no account has room left.
	KindExhausted = "exhausted"
	// KindRecovered: an account has room again.
	KindRecovered = "recovered"
	// KindNearlyFull: an account is nearly full, and the operator acted ahead of its
	// limit (spec.headroom).
	KindNearlyFull = "nearlyFull"
)

// Message is one event to tell people about.
type Message struct {
	// ID is the stable event ID, the same on every delivery of the event,
	// e.g. "<ns>/<name>/<account>/<episode-start-unix-ms>/<kind>".
	ID string
	// Kind is one of KindFull, KindRepeat, KindExhausted, KindRecovered, KindNearlyFull.
	Kind string
	// AppID is the Chat app's SDKAppID.
	AppID int64
	// Account is the Official Account the event is about.
	Account string
	// Resource is the "namespace/name" of the resource that saw the event.
	Resource string
	// Time is when the event happened; zero means the time of Send.
	Time time.Time
	// Action is what the operator did, in words.
	Action string
	// ActiveAccount is the account now in use; "" when none.
	ActiveAccount string
	// Text is a one-line summary.
	Text string
}

// Notifier delivers messages to one target. Implementations are safe for
// concurrent use.
type Notifier interface {
	// Send delivers m, retrying what can be retried, and returns nil or an
	// error that wraps an *Error.
	Send(ctx context.Context, m Message) error
}
