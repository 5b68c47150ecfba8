package controllers

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	chatv1alpha1 "github.com/oacapacity/oa-capacity-operator/api/v1alpha1"
	"github.com/oacapacity/oa-capacity-operator/internal/chatapi"
)

// ChatAPI is the part of the Chat REST API the controller uses; *chatapi.Client has it.
type ChatAPI interface {
	GetOfficialAccountInfo(ctx context.Context, ids []string) ([]chatapi.AccountInfo, error)
	SetMaxSubscriberNum(ctx context.Context, account string, max int64) error
	CreateOfficialAccount(ctx context.Context, r chatapi.CreateAccountRequest) (chatapi.CreateResult, error)
	SendText(ctx context.Context, from, to, text string) (chatapi.MsgResult, error)
}

// restCredentials is what a REST client of one app needs from a resource and its
// Secret. It is never logged: String hides the key.
type restCredentials struct {
	appID     int64
	admin     string
	secretKey string
	region    string
	endpoint  string
}

func (c restCredentials) String() string {
	return fmt.Sprintf("app %d as %q", c.appID, c.admin)
}

// ChatClients hands out one REST client per app and credentials, shared by every
// resource of the app, so that their calls share one rate limit (the documented 200
// calls/s per API). A client is replaced when the app's credentials change.
type ChatClients struct {
	// Template holds the settings every client gets (HTTP client, retries, rate);
	// the app, credentials and endpoint come from each resource.
	Template chatapi.Config
	// Metrics counts the calls; nil counts nothing.
	Metrics *Metrics

	mu      sync.Mutex
	clients map[int64]chatEntry // by SDKAppID
}

type chatEntry struct {
	fingerprint [32]byte
	client      ChatAPI
}

// For returns the client for creds, creating it on first use or when the credentials
// of the app changed.
func (c *ChatClients) For(creds restCredentials) (ChatAPI, error) {
	fp := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s\x00%s", creds.admin, creds.secretKey, creds.region, creds.endpoint))
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.clients[creds.appID]; ok && e.fingerprint == fp {
		return e.client, nil
	}
	cfg := c.Template
	cfg.SDKAppID, cfg.AdminIdentifier, cfg.SecretKey = creds.appID, creds.admin, creds.secretKey
	cfg.Region, cfg.Endpoint = creds.region, creds.endpoint
	cl, err := chatapi.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("REST client for %s: %w", creds, err)
	}
	var api ChatAPI = cl
	if c.Metrics != nil {
		api = countedChat{api, c.Metrics.restCalls}
	}
	if c.clients == nil {
		c.clients = map[int64]chatEntry{}
	}
	c.clients[creds.appID] = chatEntry{fingerprint: fp, client: api}
	return api, nil
}

// countedChat counts each call by command and result.
type countedChat struct {
	ChatAPI
	calls *prometheus.CounterVec
}

func (c countedChat) GetOfficialAccountInfo(ctx context.Context, ids []string) ([]chatapi.AccountInfo, error) {
	infos, err := c.ChatAPI.GetOfficialAccountInfo(ctx, ids)
	c.count(chatapi.CommandGetOfficialAccountInfo, err)
	return infos, err
}

func (c countedChat) SetMaxSubscriberNum(ctx context.Context, account string, max int64) error {
	err := c.ChatAPI.SetMaxSubscriberNum(ctx, account, max)
	c.count(chatapi.CommandModifyOfficialAccount, err)
	return err
}

func (c countedChat) CreateOfficialAccount(ctx context.Context, r chatapi.CreateAccountRequest) (chatapi.CreateResult, error) {
	res, err := c.ChatAPI.CreateOfficialAccount(ctx, r)
	c.count(chatapi.CommandCreateOfficialAccount, err)
	return res, err
}

func (c countedChat) SendText(ctx context.Context, from, to, text string) (chatapi.MsgResult, error) {
	res, err := c.ChatAPI.SendText(ctx, from, to, text)
	c.count(chatapi.CommandSendMsg, err)
	return res, err
}

func (c countedChat) count(command string, err error) {
	c.calls.WithLabelValues(command, restResult(err)).Inc()
}

// restResult is the metric label of a REST call's outcome.
func restResult(err error) string {
	switch {
	case err == nil:
		return "success"
	case chatapi.IsAuthError(err):
		return "auth_error"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	}
	return "error"
}

// credentialsFromSecret reads the REST credentials of oac from its Secret's data;
// ok is false when the Secret lacks them or oac has no chatAPI.
func credentialsFromSecret(oac *chatv1alpha1.OfficialAccountCapacity, data map[string][]byte) (restCredentials, bool) {
	c := restCredentials{
		appID:     oac.Spec.SDKAppID,
		admin:     string(data[chatv1alpha1.CredentialAdminIdentifier]),
		secretKey: string(data[chatv1alpha1.CredentialSecretKey]),
	}
	if oac.Spec.ChatAPI != nil {
		c.region, c.endpoint = string(oac.Spec.ChatAPI.Region), oac.Spec.ChatAPI.Endpoint
	}
	ok := c.admin != "" && c.secretKey != "" && (c.region != "" || c.endpoint != "")
	return c, ok
}
