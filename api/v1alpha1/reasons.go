package v1alpha1

// Annotations users set on an OfficialAccountCapacity.
const (
	// RequestedAtAnnotation asks for an immediate recheck when it gets a new value
	// (any string, e.g. a timestamp); status.lastHandledRequestedAt acknowledges it.
	RequestedAtAnnotation = "chat.oacapacity.io/requested-at"
	// ClearFullAnnotation clears the listed full accounts ("<id>[,<id>...]") by hand,
	// for pools without REST credentials; the controller removes it once applied.
	ClearFullAnnotation = "chat.oacapacity.io/clear-full"
)

// Reasons of the Ready condition.
const (
	// ReconciledReason: the configuration is valid and every action succeeded.
	ReconciledReason = "Reconciled"
	// MissingCredentialsReason: the credentials Secret, a key of it, or spec.chatAPI
	// that the configured actions need is missing.
	MissingCredentialsReason = "MissingCredentials"
	// InvalidCredentialsReason: the Chat REST API refused the credentials.
	InvalidCredentialsReason = "InvalidCredentials"
	// ChatAPIUnavailableReason: the Chat REST API failed; the controller retries with
	// backoff.
	ChatAPIUnavailableReason = "ChatAPIUnavailable"
	// AccountConflictReason: an account of the pool is already managed by an older
	// resource of the same app, or exists with another owner; this resource takes no
	// action until that is resolved.
	AccountConflictReason = "AccountConflict"
	// ForwardConflictReason: an older resource of the same app sets another
	// spec.callbackForward; the older one's stands.
	ForwardConflictReason = "ForwardConflict"
	// PublishConflictReason: the ConfigMap of spec.publish exists and is not owned by
	// this resource; it is left alone.
	PublishConflictReason = "PublishConflict"
	// SuspendedReason: spec.suspend is true; callbacks are recorded, nothing is done.
	SuspendedReason = "Suspended"
)

// Reasons of the CapacityAvailable condition.
const (
	// AccountAvailableReason: status.activeAccount can take new subscribers.
	AccountAvailableReason = "AccountAvailable"
	// AllAccountsFullReason: every account of the pool is full and no action could
	// make room.
	AllAccountsFullReason = "AllAccountsFull"
)

// Reasons of the Kubernetes Events the controller emits.
const (
	// ActiveAccountChangedEvent: status.activeAccount changed.
	ActiveAccountChangedEvent = "ActiveAccountChanged"
	// LimitRaisedEvent: the controller raised an account's MaxSubscriberNum.
	LimitRaisedEvent = "LimitRaised"
	// AccountCreatedEvent: the controller created (or adopted) a scale-out account.
	AccountCreatedEvent = "AccountCreated"
	// HeadroomLowEvent (Warning): an account is nearly full (spec.headroom) and the
	// controller acted ahead of time.
	HeadroomLowEvent = "HeadroomLow"
	// CapacityExhaustedEvent (Warning): no account of the pool has room.
	CapacityExhaustedEvent = "CapacityExhausted"
	// AccountRecoveredEvent: a full account has room again.
	AccountRecoveredEvent = "AccountRecovered"
	// ChatAPIFailedEvent (Warning): a Chat REST API call failed.
	ChatAPIFailedEvent = "ChatAPIFailed"
	// NotificationSentEvent: a notify target accepted a message.
	NotificationSentEvent = "NotificationSent"
	// NotificationFailedEvent (Warning): a message could not be delivered.
	NotificationFailedEvent = "NotificationFailed"
)
