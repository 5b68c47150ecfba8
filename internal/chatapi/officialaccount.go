package chatapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// Official Account field limits from the create_official_account page.
const (
	// AccountIDPrefix starts every caller-chosen OfficialAccountUserID.
	AccountIDPrefix = "@TOA#_"
	// MaxAccountIDBytes is the longest OfficialAccountUserID.
	MaxAccountIDBytes = 48
	// MaxAccountNameBytes is the longest account Name, in bytes (UTF-8).
	MaxAccountNameBytes = 150
	// generatedIDPrefix starts the IDs Chat makes up itself; a chosen ID
	// must not, so that the two can never collide.
	generatedIDPrefix = "@TOA#_@TOA#"
)

// ValidAccountID checks a caller-chosen OfficialAccountUserID: printable ASCII,
// at most 48 bytes, starting with "@TOA#_" and not with "@TOA#_@TOA#".
func ValidAccountID(id string) error {
	switch {
	case !strings.HasPrefix(id, AccountIDPrefix) || len(id) == len(AccountIDPrefix):
		return fmt.Errorf("chatapi: account ID %q must start with %q and have more after it", id, AccountIDPrefix)
	case strings.HasPrefix(id, generatedIDPrefix):
		return fmt.Errorf("chatapi: account ID %q must not start with %q (reserved for generated IDs)", id, generatedIDPrefix)
	case len(id) > MaxAccountIDBytes:
		return fmt.Errorf("chatapi: account ID %q is %d bytes, over %d", id, len(id), MaxAccountIDBytes)
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return fmt.Errorf("chatapi: account ID %q has a byte 0x%02x that is not printable ASCII", id, id[i])
		}
	}
	return nil
}

// validAccountName checks the Name rule shared by create and modify.
func validAccountName(name string) error {
	switch {
	case name == "":
		return errors.New("chatapi: empty account name")
	case !utf8.ValidString(name):
		return errors.New("chatapi: account name is not UTF-8")
	case len(name) > MaxAccountNameBytes:
		return fmt.Errorf("chatapi: account name is %d bytes, over %d", len(name), MaxAccountNameBytes)
	}
	return nil
}

// AccountInfo is one account of a GetOfficialAccountInfo answer.
type AccountInfo struct {
	Account       string    // the OfficialAccountUserID asked for
	Name          string    // display name
	Owner         string    // Owner_Account
	SubscriberNum int64     // current subscribers; 0 if the answer left it out
	CreateTime    time.Time // zero if the answer left it out
	// MaxSubscriberNum is the subscriber limit, or nil: whether the
	// backend returns it is unconfirmed, so callers must cope without it.
	MaxSubscriberNum *int64
	// Err is this account's own failure (e.g. ErrorCode 130004, no such
	// account), an *APIError with Account set; the other fields are then
	// empty.
	Err error
}

// infoFilter names the fields asked for. MaxSubscriberNum is not a documented
// filter name, and an unknown name could fail the whole call, so it is not
// asked for; it is read if it comes anyway.
func infoFilter() []string {
	return []string{"Name", "Owner_Account", "CreateTime", "SubscriberNum"}
}

type accountRef struct {
	Account string `json:"Official_Account"`
}

type getInfoRequest struct {
	IDs    []accountRef `json:"OfficialAccountIdList"`
	Filter struct {
		Base []string `json:"OfficialAccountBaseInfoFilter"`
	} `json:"ResponseFilter"`
}

type getInfoAnswer struct {
	Items []infoItem `json:"OfficialAccountInfoList"`
}

// infoItem reads every field an item may carry. Which ID field items have is
// not documented; both names are read, and items without either are matched
// by position when the counts agree.
type infoItem struct {
	Account          string  `json:"Official_Account"`
	UserID           string  `json:"OfficialAccountUserID"`
	Name             string  `json:"Name"`
	Owner            string  `json:"Owner_Account"`
	SubscriberNum    flexInt `json:"SubscriberNum"`
	MaxSubscriberNum flexInt `json:"MaxSubscriberNum"`
	CreateTime       flexInt `json:"CreateTime"`
	ErrorCode        flexInt `json:"ErrorCode"`
	ErrorInfo        string  `json:"ErrorInfo"`
	ResultCode       flexInt `json:"ResultCode"`
	ResultInfo       string  `json:"ResultInfo"`
}

// GetOfficialAccountInfo reads the accounts' profiles, 50 per call. The
// result has one AccountInfo per distinct id, in the order given; an account
// the backend failed on has Err set. The error is for the call as a whole
// (then the result is nil).
func (c *Client) GetOfficialAccountInfo(ctx context.Context, ids []string) ([]AccountInfo, error) {
	uniq := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if id == "" {
			return nil, errors.New("chatapi: get official account info: empty account ID")
		}
		if !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	out := make([]AccountInfo, 0, len(uniq))
	for start := 0; start < len(uniq); start += MaxAccountsPerInfoCall {
		batch := uniq[start:min(start+MaxAccountsPerInfoCall, len(uniq))]
		infos, err := c.getInfoBatch(ctx, batch)
		if err != nil {
			return nil, fmt.Errorf("chatapi: get official account info (accounts %d-%d of %d): %w",
				start+1, start+len(batch), len(uniq), err)
		}
		out = append(out, infos...)
	}
	return out, nil
}

func (c *Client) getInfoBatch(ctx context.Context, batch []string) ([]AccountInfo, error) {
	var req getInfoRequest
	for _, id := range batch {
		req.IDs = append(req.IDs, accountRef{id})
	}
	req.Filter.Base = infoFilter()
	var ans getInfoAnswer
	if err := c.call(ctx, ServiceOfficialAccount, CommandGetOfficialAccountInfo, req, &ans); err != nil {
		return nil, err
	}
	return matchInfoItems(batch, ans.Items), nil
}

// matchInfoItems pairs answer items with the IDs asked for. An ID with no
// item gets a malformed-answer Err rather than silently zero fields.
func matchInfoItems(batch []string, items []infoItem) []AccountInfo {
	byID := make(map[string]*infoItem, len(items))
	for i := range items {
		it := &items[i]
		id := it.Account
		if id == "" {
			id = it.UserID
		}
		if id == "" && len(items) == len(batch) {
			id = batch[i]
		}
		if id != "" && byID[id] == nil {
			byID[id] = it
		}
	}
	out := make([]AccountInfo, len(batch))
	for i, id := range batch {
		out[i].Account = id
		it := byID[id]
		if it == nil {
			out[i].Err = &APIError{Service: ServiceOfficialAccount, Command: CommandGetOfficialAccountInfo,
				HTTPStatus: http.StatusOK, Account: id, kind: kindBadShape, Info: "account missing from the answer"}
			continue
		}
		code, info := it.ErrorCode, it.ErrorInfo
		if !code.Set {
			code, info = it.ResultCode, it.ResultInfo
		}
		if code.V != 0 {
			out[i].Err = &APIError{Service: ServiceOfficialAccount, Command: CommandGetOfficialAccountInfo,
				HTTPStatus: http.StatusOK, Account: id, Code: int(code.V), Info: info}
			continue
		}
		out[i].Name, out[i].Owner, out[i].SubscriberNum = it.Name, it.Owner, it.SubscriberNum.V
		if it.CreateTime.Set {
			out[i].CreateTime = time.Unix(it.CreateTime.V, 0)
		}
		if it.MaxSubscriberNum.Set {
			v := it.MaxSubscriberNum.V
			out[i].MaxSubscriberNum = &v
		}
	}
	return out
}

type modifyRequest struct {
	Account          string `json:"Official_Account"`
	MaxSubscriberNum int64  `json:"MaxSubscriberNum"`
}

// SetMaxSubscriberNum sets account's subscriber limit. Setting the same value
// twice is harmless, so a retried call is safe.
func (c *Client) SetMaxSubscriberNum(ctx context.Context, account string, max int64) error {
	if account == "" {
		return errors.New("chatapi: set max subscriber num: empty account ID")
	}
	if max <= 0 {
		return fmt.Errorf("chatapi: set max subscriber num of %q: limit %d is not positive", account, max)
	}
	if err := c.call(ctx, ServiceOfficialAccount, CommandModifyOfficialAccount, modifyRequest{account, max}, nil); err != nil {
		return fmt.Errorf("chatapi: set max subscriber num of %q to %d: %w", account, max, err)
	}
	return nil
}

// CreateAccountRequest describes an account to create. UserID is required:
// choosing the ID is what makes a retry after a crash find the account
// instead of creating a second one.
type CreateAccountRequest struct {
	Owner            string // Owner_Account, an imported user; required
	Name             string // required, ≤150 bytes
	UserID           string // OfficialAccountUserID; required, see ValidAccountID
	Introduction     string // optional
	FaceURL          string // optional
	Organization     string // optional
	CustomString     string // optional
	MaxSubscriberNum int64  // optional; 0 leaves the backend default (100000)
}

// CreateResult says what CreateOfficialAccount did.
type CreateResult struct {
	Account string // the account's ID
	// Created is true when this call made the account.
	Created bool
	// AlreadyExisted is true when the ID was already in use. That is the
	// expected outcome of a retry, but the ID could also belong to an
	// account someone else made: check its Owner and Name with
	// GetOfficialAccountInfo before relying on it.
	AlreadyExisted bool
}

type createRequest struct {
	Owner            string `json:"Owner_Account"`
	Name             string `json:"Name"`
	UserID           string `json:"OfficialAccountUserID"`
	Introduction     string `json:"Introduction,omitempty"`
	FaceURL          string `json:"FaceUrl,omitempty"`
	Organization     string `json:"Organization,omitempty"`
	CustomString     string `json:"CustomString,omitempty"`
	MaxSubscriberNum int64  `json:"MaxSubscriberNum,omitempty"`
}

type createAnswer struct {
	UserID string `json:"OfficialAccountUserID"`
}

// CreateOfficialAccount creates the account r describes. An ID already in use
// (see AlreadyExistsCode) is a result, not an error.
func (c *Client) CreateOfficialAccount(ctx context.Context, r CreateAccountRequest) (CreateResult, error) {
	if err := ValidAccountID(r.UserID); err != nil {
		return CreateResult{}, fmt.Errorf("chatapi: create official account: %w", err)
	}
	if err := validAccountName(r.Name); err != nil {
		return CreateResult{}, fmt.Errorf("chatapi: create official account %q: %w", r.UserID, err)
	}
	if r.Owner == "" {
		return CreateResult{}, fmt.Errorf("chatapi: create official account %q: empty owner", r.UserID)
	}
	if r.MaxSubscriberNum < 0 {
		return CreateResult{}, fmt.Errorf("chatapi: create official account %q: negative MaxSubscriberNum", r.UserID)
	}
	req := createRequest(r)
	var ans createAnswer
	err := c.call(ctx, ServiceOfficialAccount, CommandCreateOfficialAccount, req, &ans)
	var ae *APIError
	switch {
	case err == nil:
	case errors.As(err, &ae) && ae.kind == kindCode && AlreadyExistsCode(ae.Code):
		return CreateResult{Account: r.UserID, AlreadyExisted: true}, nil
	default:
		return CreateResult{}, fmt.Errorf("chatapi: create official account %q: %w", r.UserID, err)
	}
	if ans.UserID != "" && ans.UserID != r.UserID {
		return CreateResult{}, fmt.Errorf("chatapi: create official account %q: the answer names another account %q", r.UserID, ans.UserID)
	}
	return CreateResult{Account: r.UserID, Created: true}, nil
}
