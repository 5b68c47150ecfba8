package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types of an OfficialAccountCapacity.
const (
	// ConditionReady is True when the configuration is valid and the operator can act
	// on it (credentials readable, Chat API reachable).
	ConditionReady = "Ready"
	// ConditionCapacityAvailable is True while at least one account of the pool can
	// take new subscribers.
	ConditionCapacityAvailable = "CapacityAvailable"
)

// AccountOrigin says where an account of the pool comes from.
// +kubebuilder:validation:Enum=Spec;ScaleOut
type AccountOrigin string

const (
	// OriginSpec marks an account listed in spec.accounts.
	OriginSpec AccountOrigin = "Spec"
	// OriginScaleOut marks an account the operator created through onFull.scaleOut.
	OriginScaleOut AccountOrigin = "ScaleOut"
)

// LimitSource says where the limit the operator uses for an account comes from.
// +kubebuilder:validation:Enum=API;Operator;Learned;Default
type LimitSource string

const (
	// LimitFromAPI means the REST answer carried the account's MaxSubscriberNum.
	LimitFromAPI LimitSource = "API"
	// LimitFromOperator means the operator set it, raising the limit or creating the account.
	LimitFromOperator LimitSource = "Operator"
	// LimitLearned is the highest count read while the account was full.
	LimitLearned LimitSource = "Learned"
	// LimitDefault means not known: headroom assumes spec.headroom.defaultLimit. Such a limit
	// is never raised, and a reading at it does not mark the account full.
	LimitDefault LimitSource = "Default"
)

// NotifyType is the kind of a notification target.
// +kubebuilder:validation:Enum=slack;wecom;dingtalk;feishu;webhook;chat
type NotifyType string

const (
	// NotifySlack posts to a Slack incoming webhook (URL in the Secret's "url" key).
	NotifySlack NotifyType = "slack"
	// NotifyWeCom posts to a WeCom group robot (URL in the Secret's "url" key).
	NotifyWeCom NotifyType = "wecom"
	// NotifyDingTalk posts to a DingTalk custom robot (URL in the Secret's "url" key,
	// optional signing secret in "signingKey").
	NotifyDingTalk NotifyType = "dingtalk"
	// NotifyFeishu posts to a Feishu/Lark custom bot (URL in the Secret's "url" key,
	// optional signing secret in "signingKey").
	NotifyFeishu NotifyType = "feishu"
	// NotifyWebhook posts JSON to any HTTPS endpoint (URL in the Secret's "url" key,
	// optional HMAC key in "signingKey").
	NotifyWebhook NotifyType = "webhook"
	// NotifyChat sends a Chat text message to toAccounts through the Chat REST API.
	NotifyChat NotifyType = "chat"
)

// ChatRegion names a Tencent Cloud Chat data centre; it selects the REST API domain.
// +kubebuilder:validation:Enum=china;singapore;seoul;tokyo;frankfurt;mumbai;siliconvalley;jakarta
type ChatRegion string

// Keys of the Secret of a notify target (notify[].secretRef).
const (
	// NotifyURLKey holds the target's URL; it often carries a token, so it is a secret.
	NotifyURLKey = "url"
	// NotifySigningKey holds the target's signing secret (dingtalk, feishu, webhook).
	NotifySigningKey = "signingKey"
)

// Keys of the credentials Secret named by spec.credentialsRef.
const (
	// CredentialCallbackToken is the webhook authentication Token set in the Chat
	// console. When present, every callback must carry a valid Sign.
	CredentialCallbackToken = "callbackToken"
	// CredentialAdminIdentifier is the App admin account the REST API is called as.
	CredentialAdminIdentifier = "adminIdentifier"
	// CredentialSecretKey is the app's secret key, used to make UserSigs.
	CredentialSecretKey = "secretKey"
)

// OfficialAccountCapacitySpec declares a pool of Official Accounts of one Chat app and
// what to do when one of them is full.
// +kubebuilder:validation:XValidation:rule="!has(self.onFull) || !has(self.onFull.scaleOut) || self.onFull.scaleOut.maxAccounts >= size(self.accounts)",message="must not be below the number of spec.accounts",fieldPath=".onFull.scaleOut.maxAccounts",reason=FieldValueInvalid
// +kubebuilder:validation:XValidation:rule="!has(self.onFull) || (!has(self.onFull.raiseLimit) && !has(self.onFull.scaleOut)) || has(self.chatAPI)",message="chatAPI is required by onFull.raiseLimit and onFull.scaleOut",fieldPath=".chatAPI",reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="!has(self.notify) || !self.notify.exists(n, n.type == 'chat') || has(self.chatAPI)",message="chatAPI is required by notify targets of type chat",fieldPath=".chatAPI",reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="!has(self.headroom) || has(self.chatAPI)",message="chatAPI is required by headroom: it reads the subscriber counts",fieldPath=".chatAPI",reason=FieldValueRequired
type OfficialAccountCapacitySpec struct {
	// sdkAppID is the SDKAppID of the Chat app. Callbacks must carry it as SdkAppid.
	// +required
	// +kubebuilder:validation:Minimum=1
	SDKAppID int64 `json:"sdkAppID"`

	// accounts is the ordered pool of Official Account user IDs; the first is the
	// primary. Each ID is printable ASCII, starts with "@TOA#_" and is at most 48
	// bytes long. IDs that Chat generated itself (they start with "@TOA#_@TOA#") are
	// accepted.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=7
	// +kubebuilder:validation:items:MaxLength=48
	// +kubebuilder:validation:items:Pattern=`^@TOA#_[ -~]+$`
	Accounts []string `json:"accounts"`

	// credentialsRef names a Secret in the same namespace with the keys
	// callbackToken (webhook authentication Token), adminIdentifier and secretKey
	// (REST API). Callbacks must be signed with callbackToken; without it they are
	// refused unless the manager runs with --callback-allow-unsigned.
	// +required
	CredentialsRef LocalObjectReference `json:"credentialsRef"`

	// chatAPI selects the Chat REST API domain. Needed by onFull and by notify
	// targets of type chat.
	// +optional
	ChatAPI *ChatAPISpec `json:"chatAPI,omitempty"`

	// callbackForward relays the app's other callbacks to the app's own webhook
	// backend, so that the app's one webhook URL can point at the operator. Every
	// callback the operator does not consume is relayed synchronously and the
	// backend's answer returned to Chat verbatim; the "account full" callback is
	// recorded as ever and also relayed in the background. See docs/callbacks.md.
	// All resources of one app that set it must agree; the oldest one's stands.
	// +optional
	CallbackForward *CallbackForwardSpec `json:"callbackForward,omitempty"`

	// onFull says what to do through the Chat REST API when an account is full.
	// +optional
	OnFull *OnFullSpec `json:"onFull,omitempty"`

	// headroom acts before an account is full: an account nearly full gets the onFull
	// policy ahead of time (raise its limit, else send new subscribers to the next
	// account with headroom, else create one), so that no subscriber is refused while
	// the app learns of the change. Unset: the operator acts when accounts are full.
	// +optional
	Headroom *HeadroomSpec `json:"headroom,omitempty"`

	// publish writes the account new subscribers should use into a ConfigMap.
	// +optional
	Publish *PublishSpec `json:"publish,omitempty"`

	// notify lists who is told when an account becomes full and when room is back.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Notify []NotifyTarget `json:"notify,omitempty"`

	// recheckInterval is how often the subscriber count of every account of the pool
	// is read through the Chat REST API: a full account whose callback was lost is
	// found, and a full account with room again is cleared. Needs REST credentials.
	// +optional
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s')",message="must be at least 10s"
	RecheckInterval *metav1.Duration `json:"recheckInterval,omitempty"`

	// recoveryThresholdPercent: a full account is cleared only when a reading taken
	// after its last "full" callback shows at most this percentage of its limit, so
	// that one unsubscribe does not flap traffic back to it.
	// +optional
	// +kubebuilder:default=95
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	RecoveryThresholdPercent int32 `json:"recoveryThresholdPercent,omitempty"`

	// suspend stops all actions (REST calls, notifications, publishing); callbacks
	// are still recorded.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// name of the referent.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// ChatAPISpec selects the Chat REST API by region or by endpoint; exactly one is set.
// +kubebuilder:validation:XValidation:rule="has(self.region) != has(self.endpoint)",message="exactly one of region or endpoint must be set"
type ChatAPISpec struct {
	// region is the data centre of the app: china, singapore, seoul, tokyo,
	// frankfurt, mumbai, siliconvalley or jakarta.
	// +optional
	Region ChatRegion `json:"region,omitempty"`

	// endpoint overrides the REST API base URL. It must be https; http is accepted
	// only for loopback hosts (tests).
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && (url(self).getScheme() == 'https' || (url(self).getScheme() == 'http' && url(self).getHostname() in ['localhost', '127.0.0.1', '::1']))",message="must be an https URL (http only for localhost, 127.0.0.1 or ::1)"
	Endpoint string `json:"endpoint,omitempty"`
}

// CallbackForwardSpec is the app's own webhook backend.
type CallbackForwardSpec struct {
	// url is the backend's callback URL; Chat's query string is appended to it
	// unchanged, so it has no query or fragment of its own. It must be https; plain
	// http is accepted only for loopback hosts and in-cluster Services (*.svc,
	// *.svc.cluster.local).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && !self.contains('?') && !self.contains('#') && !self.contains('@') && (url(self).getScheme() == 'https' || (url(self).getScheme() == 'http' && (url(self).getHostname() in ['localhost', '127.0.0.1', '::1'] || url(self).getHostname().endsWith('.svc') || url(self).getHostname().endsWith('.svc.cluster.local'))))",message="must be an https URL without query, fragment or user info (http only for localhost, 127.0.0.1, ::1, *.svc or *.svc.cluster.local)"
	URL string `json:"url"`

	// timeout bounds the wait for the backend's answer. Chat waits 2 s for the
	// operator's; past timeout it gets a 504 and applies its default.
	// +optional
	// +kubebuilder:default="1500ms"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10ms') && duration(self) <= duration('1900ms')",message="must be from 10ms to 1900ms"
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// caBundleKey names a key of the credentials Secret (spec.credentialsRef) that
	// holds PEM certificates of the backend's private CA; they are trusted in addition
	// to the system's.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	CABundleKey string `json:"caBundleKey,omitempty"`
}

// OnFullSpec lists the actions taken when an account of the pool is full.
type OnFullSpec struct {
	// raiseLimit raises the full account's MaxSubscriberNum by step, up to ceiling.
	// +optional
	RaiseLimit *RaiseLimitSpec `json:"raiseLimit,omitempty"`

	// scaleOut creates a new account when no account of the pool has room.
	// +optional
	ScaleOut *ScaleOutSpec `json:"scaleOut,omitempty"`
}

// RaiseLimitSpec raises an account's subscriber limit in steps.
// +kubebuilder:validation:XValidation:rule="self.ceiling >= self.step",message="ceiling must not be below step",fieldPath=".ceiling",reason=FieldValueInvalid
type RaiseLimitSpec struct {
	// step is added to MaxSubscriberNum each time the account is full.
	// +required
	// +kubebuilder:validation:Minimum=1
	Step int64 `json:"step"`

	// ceiling is the highest MaxSubscriberNum the operator sets.
	// +required
	// +kubebuilder:validation:Minimum=1
	Ceiling int64 `json:"ceiling"`
}

// ScaleOutSpec creates new Official Accounts when the pool is full.
type ScaleOutSpec struct {
	// maxAccounts bounds the pool, spec accounts included.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=64
	MaxAccounts int32 `json:"maxAccounts"`

	// ownerAccount is the Chat user that owns the created accounts.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=48
	OwnerAccount string `json:"ownerAccount"`

	// namePrefix starts the display name of each created account.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=140
	NamePrefix string `json:"namePrefix"`

	// maxSubscriberNum is the subscriber limit of created accounts.
	// +optional
	// +kubebuilder:default=100000
	// +kubebuilder:validation:Minimum=1
	MaxSubscriberNum int64 `json:"maxSubscriberNum,omitempty"`
}

// HeadroomSpec says when an account is nearly full, and how often the pool is read.
type HeadroomSpec struct {
	// thresholdPercent: an account at or above this share of its limit is nearly
	// full. It stops being nearly full below recoveryThresholdPercent of it.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=99
	ThresholdPercent int32 `json:"thresholdPercent"`

	// leadTime: an account whose fill rate predicts it full within leadTime is nearly
	// full too, whatever its share.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('168h')",message="must be from 0s to 168h"
	LeadTime *metav1.Duration `json:"leadTime,omitempty"`

	// minReadInterval is the shortest time between two readings of the pool. Readings
	// come sooner as an account nears its threshold: about half its predicted time to
	// it, from minReadInterval to recheckInterval.
	// +optional
	// +kubebuilder:default="15s"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('5s')",message="must be at least 5s"
	MinReadInterval *metav1.Duration `json:"minReadInterval,omitempty"`

	// defaultLimit is the limit assumed for an account whose limit is not known yet
	// (Chat's default for an account created without one is 100000). An assumed limit
	// only makes an account nearly full: it is never raised, and an account is not
	// marked full by it.
	// +optional
	// +kubebuilder:default=100000
	// +kubebuilder:validation:Minimum=1
	DefaultLimit int64 `json:"defaultLimit,omitempty"`
}

// PublishSpec names the ConfigMap that carries the active account.
type PublishSpec struct {
	// configMapName is the ConfigMap, in the same namespace, the operator writes.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	ConfigMapName string `json:"configMapName"`

	// key is the ConfigMap data key that holds the active account ID.
	// +optional
	// +kubebuilder:default="activeAccount"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key,omitempty"`
}

// NotifyTarget is one place to tell about capacity changes.
// +kubebuilder:validation:XValidation:rule="self.type == 'chat' || has(self.secretRef)",message="secretRef is required for slack, wecom, dingtalk, feishu and webhook",fieldPath=".secretRef",reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="self.type != 'chat' || (has(self.toAccounts) && size(self.toAccounts) > 0)",message="toAccounts is required for type chat",fieldPath=".toAccounts",reason=FieldValueRequired
type NotifyTarget struct {
	// name identifies the target in status.notifications.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// type is slack, wecom, dingtalk, feishu, webhook or chat.
	// +required
	Type NotifyType `json:"type"`

	// secretRef names a Secret in the same namespace whose "url" key holds the target
	// URL and whose optional "signingKey" key holds the signing secret (dingtalk,
	// feishu, webhook). Required for every type but chat.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`

	// toAccounts are the Chat users told by a chat target.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=48
	ToAccounts []string `json:"toAccounts,omitempty"`

	// repeatInterval repeats the notification while the episode lasts; unset means
	// once per episode.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="must be at least 1m"
	RepeatInterval *metav1.Duration `json:"repeatInterval,omitempty"`
}

// AccountStatus is what the operator knows of one account of the pool.
type AccountStatus struct {
	// id is the Official Account user ID.
	// +required
	// +kubebuilder:validation:MaxLength=48
	ID string `json:"id"`

	// origin says whether the account is listed in spec or was created by scale-out.
	// +optional
	Origin AccountOrigin `json:"origin,omitempty"`

	// full is true from a "full" callback until room is seen again.
	// +optional
	Full bool `json:"full,omitempty"`

	// fullSince is the EventTime of the first "full" callback of this episode.
	// +optional
	FullSince *metav1.Time `json:"fullSince,omitempty"`

	// lastEventTime is the newest EventTime (Unix milliseconds) of a "full" callback.
	// +optional
	LastEventTime int64 `json:"lastEventTime,omitempty"`

	// fullEvents counts the distinct "full" callbacks recorded for this account.
	// +optional
	FullEvents int64 `json:"fullEvents,omitempty"`

	// subscriberNum is the subscriber count last read from the Chat REST API.
	// +optional
	SubscriberNum int64 `json:"subscriberNum,omitempty"`

	// readTime is when subscriberNum was read, to the microsecond: it is compared with
	// the millisecond EventTime of callbacks.
	// +optional
	ReadTime *metav1.MicroTime `json:"readTime,omitempty"`

	// maxSubscriberNum is the subscriber limit as the operator knows it: from the
	// Chat REST API when it returns one, else what the operator set, else the highest
	// subscriberNum read while the account was full. 0 means not known yet.
	// +optional
	MaxSubscriberNum int64 `json:"maxSubscriberNum,omitempty"`

	// limitSource says where maxSubscriberNum comes from: API, Operator, Learned, or
	// Default when it is not known and headroom assumes spec.headroom.defaultLimit
	// (maxSubscriberNum stays 0 then).
	// +optional
	LimitSource LimitSource `json:"limitSource,omitempty"`

	// nearlyFull is true while the account is at or above spec.headroom's threshold,
	// or predicted full within its leadTime; new subscribers go elsewhere meanwhile.
	// +optional
	NearlyFull bool `json:"nearlyFull,omitempty"`

	// nearlyFullSince is when this nearly-full episode began.
	// +optional
	NearlyFullSince *metav1.Time `json:"nearlyFullSince,omitempty"`

	// fillRate is how many subscribers the account gains an hour, smoothed over its
	// readings; negative while it loses them; unset until it has been read twice.
	// Stored with the reading.
	// +optional
	FillRate *int64 `json:"fillRate,omitempty"`

	// predictedFullTime is when the account reaches its limit at its fill rate; unset
	// while it does not grow or its limit is not known. Stored with the reading.
	// +optional
	PredictedFullTime *metav1.Time `json:"predictedFullTime,omitempty"`

	// raisingTo is the limit the operator is setting: stored before the REST call, so
	// that a retry after a crash or a conflicting write sets the same value instead of
	// raising again.
	// +optional
	RaisingTo int64 `json:"raisingTo,omitempty"`

	// creating is true from just before the operator asks the Chat REST API to create
	// this account (scale-out) until the answer is recorded; a restart in between
	// finishes that creation instead of starting another.
	// +optional
	Creating bool `json:"creating,omitempty"`
}

// NotificationStatus is the delivery state of one notify target; it survives
// restarts, so an episode is never announced twice nor lost.
type NotificationStatus struct {
	// name of the notify target.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// lastNotifiedEpisode identifies the last episode announced successfully.
	// +optional
	LastNotifiedEpisode string `json:"lastNotifiedEpisode,omitempty"`

	// lastSentTime is when the last notification succeeded.
	// +optional
	LastSentTime *metav1.Time `json:"lastSentTime,omitempty"`

	// failures counts consecutive failed deliveries.
	// +optional
	Failures int32 `json:"failures,omitempty"`

	// lastError is the last delivery failure, in words, without secrets.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	LastError string `json:"lastError,omitempty"`

	// blockedConfig is set when the target refused a message for good (e.g. HTTP
	// 404): a fingerprint of the target's spec and Secret. Nothing is sent to it until
	// either changes.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	BlockedConfig string `json:"blockedConfig,omitempty"`

	// pending are the messages decided but not yet accepted by the target, oldest
	// first. A message leaves the list only once the target accepted it.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	Pending []PendingNotification `json:"pending,omitempty"`

	// episodes are the open episodes this target was told of, so that it hears of
	// their end, and of their repeats.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Episodes []NotifiedEpisode `json:"episodes,omitempty"`

	// exhaustedSince is the start of the exhaustion (all accounts full) this target
	// was told of.
	// +optional
	ExhaustedSince *metav1.Time `json:"exhaustedSince,omitempty"`
}

// PendingNotification is one message waiting for delivery.
type PendingNotification struct {
	// id is stable across retries and restarts, so that receivers can drop repeats:
	// <namespace>/<name>/<account>/<episode start, Unix ms>/<kind>[/<repeat>].
	// +required
	// +kubebuilder:validation:MaxLength=512
	ID string `json:"id"`

	// kind is full, repeat, exhausted, recovered or nearlyFull.
	// +required
	// +kubebuilder:validation:Enum=full;repeat;exhausted;recovered;nearlyFull
	Kind string `json:"kind"`

	// account is the account the message is about; empty for exhausted.
	// +optional
	// +kubebuilder:validation:MaxLength=48
	Account string `json:"account,omitempty"`

	// time is when it happened.
	// +required
	Time metav1.Time `json:"time"`

	// action is what the operator did about it, in words.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Action string `json:"action,omitempty"`

	// activeAccount is the account new subscribers went to when it was decided.
	// +optional
	// +kubebuilder:validation:MaxLength=48
	ActiveAccount string `json:"activeAccount,omitempty"`
}

// NotifiedEpisode is an episode (an account full since a time) a target was told of.
type NotifiedEpisode struct {
	// account that is full.
	// +required
	// +kubebuilder:validation:MaxLength=48
	Account string `json:"account"`

	// since is the start of the episode (the account's fullSince).
	// +required
	Since metav1.Time `json:"since"`

	// repeats counts the repeats sent (notify[].repeatInterval).
	// +optional
	Repeats int32 `json:"repeats,omitempty"`
}

// OfficialAccountCapacityStatus is the observed state of the pool.
type OfficialAccountCapacityStatus struct {
	// observedGeneration is the spec generation the controller last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// activeAccount is the account new subscribers should use.
	// +optional
	ActiveAccount string `json:"activeAccount,omitempty"`

	// fullAccounts is the number of accounts currently full.
	// +optional
	FullAccounts int32 `json:"fullAccounts,omitempty"`

	// activeAccountUsed is the share of its limit the active account uses, as last
	// stored, e.g. "87%"; empty while its limit is not known.
	// +optional
	// +kubebuilder:validation:MaxLength=8
	ActiveAccountUsed string `json:"activeAccountUsed,omitempty"`

	// lastFullTime is the newest EventTime of any "full" callback.
	// +optional
	LastFullTime *metav1.Time `json:"lastFullTime,omitempty"`

	// accounts is the state of each account of the pool.
	// +optional
	// +listType=map
	// +listMapKey=id
	// +kubebuilder:validation:MaxItems=64
	Accounts []AccountStatus `json:"accounts,omitempty"`

	// lastRecheckTime is when the subscriber counts of the pool were last read.
	// +optional
	LastRecheckTime *metav1.Time `json:"lastRecheckTime,omitempty"`

	// lastHandledRequestedAt is the last value of the annotation
	// chat.oacapacity.io/requested-at that the controller acted on.
	// +optional
	LastHandledRequestedAt string `json:"lastHandledRequestedAt,omitempty"`

	// notifications is the delivery state of each notify target.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Notifications []NotificationStatus `json:"notifications,omitempty"`

	// conditions: Ready and CapacityAvailable.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// OfficialAccountCapacity watches a pool of Tencent Cloud Chat Official Accounts and
// acts when one reaches its subscriber limit.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=oac,categories=chat
// +kubebuilder:printcolumn:name="AppID",type=integer,JSONPath=`.spec.sdkAppID`
// +kubebuilder:printcolumn:name="Active",type=string,JSONPath=`.status.activeAccount`
// +kubebuilder:printcolumn:name="Used",type=string,JSONPath=`.status.activeAccountUsed`
// +kubebuilder:printcolumn:name="Full",type=integer,JSONPath=`.status.fullAccounts`
// +kubebuilder:printcolumn:name="Available",type=string,JSONPath=`.status.conditions[?(@.type=="CapacityAvailable")].status`
// +kubebuilder:printcolumn:name="Last-Full",type=date,JSONPath=`.status.lastFullTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type OfficialAccountCapacity struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired pool and its policy.
	// +required
	Spec OfficialAccountCapacitySpec `json:"spec"`

	// status is what the operator has recorded and done.
	// +optional
	Status OfficialAccountCapacityStatus `json:"status,omitempty"`
}

// OfficialAccountCapacityList is a list of OfficialAccountCapacity.
// +kubebuilder:object:root=true
type OfficialAccountCapacityList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []OfficialAccountCapacity `json:"items"`
}

func init() {
	SchemeBuilder.Register(&OfficialAccountCapacity{}, &OfficialAccountCapacityList{})
}
