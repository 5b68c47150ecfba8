package chatapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oacapacity/oa-capacity-operator/internal/backoff"
)

// Service and command names of the REST calls this client makes; the fake
// server in chatapitest is addressed with the same names.
const (
	// ServiceOfficialAccount is the service of the Official Account calls.
	ServiceOfficialAccount = "official_account_open_http_svc"
	// ServiceOpenIM is the service of one-to-one messages.
	ServiceOpenIM = "openim"

	// CommandGetOfficialAccountInfo reads accounts' profiles (≤50 a call).
	CommandGetOfficialAccountInfo = "get_official_account_info"
	// CommandModifyOfficialAccount changes an account's profile.
	CommandModifyOfficialAccount = "modify_official_account_base_info"
	// CommandCreateOfficialAccount creates an account.
	CommandCreateOfficialAccount = "create_official_account"
	// CommandAddSubscriber subscribes users to an account (≤100 a call). The
	// app's backend makes this call, not the operator; the simulators do.
	CommandAddSubscriber = "add_subscriber"
	// CommandSendMsg sends a one-to-one message.
	CommandSendMsg = "sendmsg"
)

// Limits and defaults.
const (
	// MaxRateLimit is the documented limit of each Official Account API,
	// in calls per second. A client may not be configured above it.
	MaxRateLimit = 200
	// DefaultRateLimit leaves headroom under MaxRateLimit for other tools.
	DefaultRateLimit = 150
	// DefaultRateBurst is small so a burst cannot go far over the rate.
	DefaultRateBurst = 10
	// DefaultMaxAttempts is the tries per call, the first included.
	DefaultMaxAttempts = 4
	// DefaultUserSigLifetime follows Tencent's advice of at least 24 hours.
	DefaultUserSigLifetime = 24 * time.Hour
	// MaxAccountsPerInfoCall is the documented limit of one
	// get_official_account_info call; longer lists are split.
	MaxAccountsPerInfoCall = 50
	// MaxSubscribersPerCall is the documented limit of one add_subscriber
	// call; longer lists are split.
	MaxSubscribersPerCall = 100

	defaultBaseBackoff  = 250 * time.Millisecond
	defaultMaxBackoff   = 5 * time.Second
	defaultHTTPTimeout  = 10 * time.Second
	userSigRenewDivisor = 10 // renew when less than 1/10 of the lifetime is left
)

// Config is what New needs. Exactly one of Region and Endpoint is set.
type Config struct {
	SDKAppID        int64  // the app's SDKAppID, > 0
	AdminIdentifier string // an App admin account; the calls are made as it
	SecretKey       string // the app's key; signs UserSigs, never leaves the process
	Region          string // one of Regions(), e.g. "singapore"
	Endpoint        string // base URL instead of Region, e.g. an httptest server URL

	// HTTPClient sends the requests; nil means one with a 10s timeout. The
	// client is copied and its redirects disabled, so that a redirect
	// cannot carry the UserSig to another host.
	HTTPClient *http.Client

	UserSigLifetime time.Duration // lifetime of the admin UserSig; 0 means 24h
	RateLimit       float64       // calls/second over all calls of this client; 0 means 150, max 200
	RateBurst       int           // bucket size; 0 means 10
	MaxAttempts     int           // tries per call, first included; 0 means 4
	BaseBackoff     time.Duration // wait before the second try, doubled each time; 0 means 250ms
	MaxBackoff      time.Duration // cap of one wait; 0 means 5s

	// Now, Sleep and Rand replace the clock, sleeping and randomness in tests.
	// Rand must be safe for concurrent use. nil means the real ones.
	Now   func() time.Time                                 // the clock
	Sleep func(ctx context.Context, d time.Duration) error // waits d or until ctx ends
	Rand  func() uint32                                    // random, MsgRandom, jitter
}

// String hides the secret key, so logging a Config is safe.
func (c Config) String() string {
	key := ""
	if c.SecretKey != "" {
		key = "[redacted]"
	}
	return fmt.Sprintf("chatapi.Config{SDKAppID:%d AdminIdentifier:%q SecretKey:%s Region:%q Endpoint:%q}",
		c.SDKAppID, c.AdminIdentifier, key, c.Region, c.Endpoint)
}

// GoString hides the secret key from %#v as well.
func (c Config) GoString() string { return c.String() }

// Client calls the Chat REST API. It is safe for concurrent use; all calls of
// one Client share its rate limit and its cached admin UserSig.
type Client struct {
	appID       int64
	admin       string
	key         string
	base        string
	hc          *http.Client
	now         func() time.Time
	sleep       func(context.Context, time.Duration) error
	rand        func() uint32
	limiter     *rateLimiter
	maxAttempts int
	baseBackoff time.Duration
	maxBackoff  time.Duration
	sigLifetime time.Duration

	sigMu sync.Mutex
	sig   string
	sigAt time.Time // TLS.time of sig
}

// String describes the client without its key or UserSig; fmt would
// otherwise print the unexported fields, secrets included.
func (c *Client) String() string {
	return fmt.Sprintf("chatapi.Client{SDKAppID:%d AdminIdentifier:%q Base:%q}", c.appID, c.admin, c.base)
}

// GoString hides the secrets from %#v as well.
func (c *Client) GoString() string { return c.String() }

// New checks cfg and returns a client. It makes no network call.
func New(cfg Config) (*Client, error) {
	var errs []error
	if cfg.SDKAppID <= 0 {
		errs = append(errs, fmt.Errorf("SDKAppID must be positive, got %d", cfg.SDKAppID))
	}
	if strings.TrimSpace(cfg.AdminIdentifier) == "" {
		errs = append(errs, errors.New("empty admin identifier"))
	}
	if cfg.SecretKey == "" {
		errs = append(errs, errors.New("empty secret key"))
	}
	base, err := baseFromConfig(cfg.Region, cfg.Endpoint)
	if err != nil {
		errs = append(errs, err)
	}
	rate, burst := cfg.RateLimit, cfg.RateBurst
	if rate == 0 {
		rate = DefaultRateLimit
	}
	if burst == 0 {
		burst = DefaultRateBurst
	}
	if rate < 0 || rate > MaxRateLimit {
		errs = append(errs, fmt.Errorf("RateLimit %v is outside (0, %d]", cfg.RateLimit, MaxRateLimit))
	}
	if burst < 0 || cfg.MaxAttempts < 0 || cfg.BaseBackoff < 0 || cfg.MaxBackoff < 0 {
		errs = append(errs, errors.New("RateBurst, MaxAttempts, BaseBackoff and MaxBackoff must not be negative"))
	}
	if cfg.UserSigLifetime != 0 && cfg.UserSigLifetime < time.Minute {
		errs = append(errs, fmt.Errorf("UserSigLifetime %v is under a minute", cfg.UserSigLifetime))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("chatapi: invalid config: %w", errors.Join(errs...))
	}

	c := &Client{
		appID:       cfg.SDKAppID,
		admin:       cfg.AdminIdentifier,
		key:         cfg.SecretKey,
		base:        base,
		now:         cfg.Now,
		sleep:       cfg.Sleep,
		rand:        cfg.Rand,
		maxAttempts: cmp.Or(cfg.MaxAttempts, DefaultMaxAttempts),
		baseBackoff: cmp.Or(cfg.BaseBackoff, defaultBaseBackoff),
		maxBackoff:  cmp.Or(cfg.MaxBackoff, defaultMaxBackoff),
		sigLifetime: cmp.Or(cfg.UserSigLifetime, DefaultUserSigLifetime),
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.sleep == nil {
		c.sleep = backoff.Sleep
	}
	if c.rand == nil {
		c.rand = rand.Uint32
	}
	hc := http.Client{Timeout: defaultHTTPTimeout}
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.hc = &hc
	c.limiter = newRateLimiter(rate, burst, c.now, c.sleep)
	return c, nil
}

// baseFromConfig turns Region or Endpoint into a base URL without a trailing
// slash.
func baseFromConfig(region, endpoint string) (string, error) {
	switch {
	case region != "" && endpoint != "":
		return "", errors.New("set Region or Endpoint, not both")
	case region == "" && endpoint == "":
		return "", fmt.Errorf("set Region (one of %v) or Endpoint", Regions())
	case region != "":
		return BaseURL(region)
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("the Endpoint %q is not an http(s) URL with a host", endpoint)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("the Endpoint %q must not have a query, fragment or user info", endpoint)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// userSig returns the cached admin UserSig, making a new one when none is
// cached, the clock went back, or less than a tenth of its lifetime is left.
func (c *Client) userSig() (string, error) {
	c.sigMu.Lock()
	defer c.sigMu.Unlock()
	now := c.now()
	if c.sig != "" {
		age := now.Sub(c.sigAt)
		if age >= 0 && age < c.sigLifetime-c.sigLifetime/userSigRenewDivisor {
			return c.sig, nil
		}
	}
	sig, err := GenUserSig(c.appID, c.key, c.admin, c.sigLifetime, now)
	if err != nil {
		return "", err
	}
	c.sig, c.sigAt = sig, time.Unix(now.Unix(), 0)
	return sig, nil
}

// dropUserSig forgets sig if it is still the cached one, so that the next
// call makes a fresh one (after the backend said it expired).
func (c *Client) dropUserSig(sig string) {
	c.sigMu.Lock()
	if c.sig == sig {
		c.sig = ""
	}
	c.sigMu.Unlock()
}

// call sends body to service/command, retrying retryable failures with
// exponential backoff and jitter, and decodes a successful answer into out.
// The body, and so any MsgRandom in it, is the same on every attempt.
func (c *Client) call(ctx context.Context, service, command string, body, out any) error {
	payload, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("chatapi %s/%s: encoding request: %w", service, command, err)
	}
	for attempt := 1; ; attempt++ {
		answer, err := c.once(ctx, service, command, payload)
		if err == nil {
			if out == nil {
				return nil
			}
			if err := json.Unmarshal(answer, out); err != nil {
				return &APIError{Service: service, Command: command, HTTPStatus: http.StatusOK, kind: kindBadShape,
					Info: "answer fields: " + err.Error()}
			}
			return nil
		}
		if attempt >= c.maxAttempts || !IsRetryable(err) || ctx.Err() != nil {
			return err
		}
		if serr := c.sleep(ctx, c.backoff(attempt)); serr != nil {
			return fmt.Errorf("%w (retry abandoned: %w)", err, serr)
		}
	}
}

// backoff is the wait after the given failed attempt: base*2^(attempt-1),
// capped, with "equal jitter" (half fixed, half random) so that clients that
// failed together do not retry together.
func (c *Client) backoff(attempt int) time.Duration {
	return backoff.Delay(c.baseBackoff, c.maxBackoff, attempt, c.rand())
}

// once makes one attempt and returns the answer body of a successful call.
func (c *Client) once(ctx context.Context, service, command string, payload []byte) ([]byte, error) {
	if err := c.limiter.wait(ctx); err != nil {
		return nil, &TransportError{Service: service, Command: command, Err: fmt.Errorf("waiting for the rate limiter: %w", err)}
	}
	sig, err := c.userSig()
	if err != nil {
		return nil, fmt.Errorf("chatapi %s/%s: %w", service, command, err)
	}
	// Built by hand like Tencent's own SDKs: the UserSig alphabet
	// (A-Z a-z 0-9 * - _) needs no escaping, and "random" is fresh per attempt.
	u := c.base + "/v4/" + service + "/" + command +
		"?sdkappid=" + strconv.FormatInt(c.appID, 10) +
		"&identifier=" + url.QueryEscape(c.admin) +
		"&usersig=" + sig +
		"&random=" + strconv.FormatUint(uint64(c.rand()), 10) +
		"&contenttype=json"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(payload))
	if err != nil {
		return nil, &TransportError{Service: service, Command: command, Err: redactTransportError(err, sig, c.key)}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &TransportError{Service: service, Command: command, Err: redactTransportError(err, sig, c.key)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return nil, &TransportError{Service: service, Command: command, Err: fmt.Errorf("reading answer: %w", redactTransportError(err, sig, c.key))}
	}
	if len(body) > maxAnswerBytes {
		return nil, &APIError{Service: service, Command: command, HTTPStatus: resp.StatusCode, kind: kindBadShape,
			Info: fmt.Sprintf("answer longer than %d bytes", maxAnswerBytes)}
	}
	if ae := parseAnswer(resp.StatusCode, body); ae != nil {
		ae.Service, ae.Command = service, command
		ae.Info = scrub(ae.Info, []string{sig, c.key})
		if ae.kind == kindCode && ae.Code == CodeUserSigExpired {
			c.dropUserSig(sig)
		}
		return nil, ae
	}
	return body, nil
}
