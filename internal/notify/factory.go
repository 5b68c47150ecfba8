package notify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/oacapacity/oa-capacity-operator/internal/backoff"
)

// Target types, the values of Config.Type. They are the values of the API's
// NotifyType, which this package cannot import (it knows nothing of Kubernetes); a
// test in controllers proves the two sets equal.
const (
	TypeSlack    = "slack"    // Slack incoming webhook
	TypeWeCom    = "wecom"    // WeCom (企业微信) group robot
	TypeDingTalk = "dingtalk" // DingTalk (钉钉) custom group robot
	TypeFeishu   = "feishu"   // Feishu/Lark custom bot
	TypeWebhook  = "webhook"  // generic signed JSON webhook
	TypeChat     = "chat"     // Tencent Cloud Chat one-to-one text messages
)

// Defaults of the retry policy.
const (
	DefaultMaxAttempts    = 4                      // tries per Send, the first included
	DefaultBaseBackoff    = 500 * time.Millisecond // wait after the first failure
	DefaultMaxBackoff     = 30 * time.Second       // cap of one wait
	DefaultAttemptTimeout = 10 * time.Second       // bound of one HTTP attempt
)

// constructor builds one target type from a checked config.
type constructor func(cfg Config, d *deliverer) Notifier

// constructors maps each type to its constructor; signs says whether the
// type uses SigningKey, url whether it uses URL.
var constructors = map[string]struct {
	build      constructor
	signs, url bool
}{
	TypeSlack:    {newSlack, false, true},
	TypeWeCom:    {newWeCom, false, true},
	TypeDingTalk: {newDingTalk, true, true},
	TypeFeishu:   {newFeishu, true, true},
	TypeWebhook:  {newWebhook, true, true},
	TypeChat:     {newChat, false, false},
}

// Signs reports whether targets of type typ take a SigningKey (and sign each request
// with it when set); false for an unknown type.
func Signs(typ string) bool { return constructors[typ].signs }

// Types lists the known target types, sorted.
func Types() []string {
	ts := make([]string, 0, len(constructors))
	for t := range constructors {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

// Config says where and how to deliver. Zero durations and counts mean the
// defaults; nil functions mean the real ones.
type Config struct {
	Type       string     // one of Types()
	URL        string     // the target URL; https, or http to a loopback host; not for chat
	SigningKey string     // dingtalk, feishu, webhook: signs each request when set
	ToAccounts []string   // chat: the recipients
	From       string     // chat: the sender; "" sends as the app admin
	Chat       ChatSender // chat: sends the messages, e.g. a *chatapi.Client

	// HTTPClient sends the requests; nil means a plain one. It is copied
	// and its redirects disabled, so a redirect cannot take the message
	// (or a signature) elsewhere.
	HTTPClient *http.Client
	// Now and Sleep replace the clock and sleeping in tests.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error

	MaxAttempts    int           // tries per Send, the first included; 0 means 4
	BaseBackoff    time.Duration // wait after the first failure, doubled each time; 0 means 500ms
	MaxBackoff     time.Duration // cap of one wait, Retry-After included; 0 means 30s
	AttemptTimeout time.Duration // bound of one HTTP attempt; 0 means 10s
}

// String hides the URL's path and query and the signing key, so logging a
// Config is safe.
func (c Config) String() string {
	key := ""
	if c.SigningKey != "" {
		key = "[redacted]"
	}
	u := ""
	if c.URL != "" {
		u = redactURL(c.URL)
	}
	return fmt.Sprintf("notify.Config{Type:%q URL:%q SigningKey:%s ToAccounts:%q From:%q MaxAttempts:%d BaseBackoff:%v MaxBackoff:%v AttemptTimeout:%v}",
		c.Type, u, key, c.ToAccounts, c.From, c.MaxAttempts, c.BaseBackoff, c.MaxBackoff, c.AttemptTimeout)
}

// GoString hides the secrets from %#v as well.
func (c Config) GoString() string { return c.String() }

// New checks cfg and returns the Notifier of its type. It makes no network
// call.
func New(cfg Config) (Notifier, error) {
	ctor, known := constructors[cfg.Type]
	var errs []error
	if !known {
		errs = append(errs, fmt.Errorf("unknown type %q (known: %s)", cfg.Type, strings.Join(Types(), ", ")))
	}
	if known && ctor.url {
		if err := checkURL(cfg.URL); err != nil {
			errs = append(errs, err)
		}
	}
	if known && !ctor.url && cfg.URL != "" {
		errs = append(errs, fmt.Errorf("type %s takes no URL", cfg.Type))
	}
	if known && !ctor.signs && cfg.SigningKey != "" {
		errs = append(errs, fmt.Errorf("type %s takes no SigningKey", cfg.Type))
	}
	if cfg.Type == TypeChat {
		if cfg.Chat == nil {
			errs = append(errs, errors.New("type chat needs a Chat sender"))
		}
		if len(cfg.ToAccounts) == 0 {
			errs = append(errs, errors.New("type chat needs ToAccounts"))
		}
		for i, a := range cfg.ToAccounts {
			if strings.TrimSpace(a) == "" {
				errs = append(errs, fmt.Errorf("ToAccounts[%d] is empty", i))
			}
		}
	} else if known && (len(cfg.ToAccounts) > 0 || cfg.From != "" || cfg.Chat != nil) {
		errs = append(errs, fmt.Errorf("type %s takes no ToAccounts, From or Chat", cfg.Type))
	}
	if cfg.MaxAttempts < 0 || cfg.BaseBackoff < 0 || cfg.MaxBackoff < 0 || cfg.AttemptTimeout < 0 {
		errs = append(errs, errors.New("MaxAttempts, BaseBackoff, MaxBackoff and AttemptTimeout must not be negative"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("notify: invalid config: %w", errors.Join(errs...))
	}

	d := &deliverer{
		typ:            cfg.Type,
		url:            cfg.URL,
		key:            cfg.SigningKey,
		secrets:        secretsOf(cfg.URL, cfg.SigningKey),
		now:            cfg.Now,
		sleep:          cfg.Sleep,
		maxAttempts:    cmp.Or(cfg.MaxAttempts, DefaultMaxAttempts),
		baseBackoff:    cmp.Or(cfg.BaseBackoff, DefaultBaseBackoff),
		maxBackoff:     cmp.Or(cfg.MaxBackoff, DefaultMaxBackoff),
		attemptTimeout: cmp.Or(cfg.AttemptTimeout, DefaultAttemptTimeout),
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.sleep == nil {
		d.sleep = backoff.Sleep
	}
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	d.hc = &hc
	return ctor.build(cfg, d), nil
}

// loopbackHosts may be reached over plain http (tests, a local relay).
var loopbackHosts = []string{"127.0.0.1", "localhost", "::1"}

// checkURL accepts an https URL with a host, or an http one to a loopback
// host. The error names the URL only by scheme and host.
func checkURL(raw string) error {
	if raw == "" {
		return errors.New("empty URL")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("URL %s is not an absolute URL with a host", redactURL(raw))
	}
	switch {
	case u.User != nil:
		return fmt.Errorf("URL %s must not hold user info", redactURL(raw))
	case u.Fragment != "" || u.RawFragment != "":
		return fmt.Errorf("URL %s must not have a fragment", redactURL(raw))
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && slices.Contains(loopbackHosts, strings.ToLower(u.Hostname())):
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("URL %s must be https (http only to %s)", redactURL(raw), strings.Join(loopbackHosts, ", "))
	}
	return fmt.Errorf("URL %s is not https", redactURL(raw))
}
