package chatapi

import (
	"bytes"
	"compress/zlib"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Errors of VerifyUserSig. They are sentinels so that callers (the fake
// server, above all) can map each to the answer Tencent gives for it.
var (
	// ErrUserSigMalformed: the string does not decode to a v2 UserSig.
	ErrUserSigMalformed = errors.New("chatapi: malformed UserSig")
	// ErrUserSigWrongApp: the UserSig was made for another SDKAppID.
	ErrUserSigWrongApp = errors.New("chatapi: UserSig is for another SDKAppID")
	// ErrUserSigWrongIdentifier: the UserSig was made for another user.
	ErrUserSigWrongIdentifier = errors.New("chatapi: UserSig is for another identifier")
	// ErrUserSigBadSignature: the HMAC does not match, so the UserSig was
	// made with another key or was altered.
	ErrUserSigBadSignature = errors.New("chatapi: UserSig signature does not match")
	// ErrUserSigExpired: now is after TLS.time + TLS.expire.
	ErrUserSigExpired = errors.New("chatapi: UserSig expired")
)

// maxUserSigLen bounds the work done on outside input; real UserSigs are a
// few hundred bytes.
const maxUserSigLen = 8 << 10

// userSigDoc is the JSON of a v2 UserSig, fields in the order Tencent's own
// implementations write them.
type userSigDoc struct {
	Ver        string `json:"TLS.ver"`
	Identifier string `json:"TLS.identifier"`
	SDKAppID   int64  `json:"TLS.sdkappid"`
	Expire     int64  `json:"TLS.expire"`
	Time       int64  `json:"TLS.time"`
	UserBuf    string `json:"TLS.userbuf,omitempty"`
	Sig        string `json:"TLS.sig"`
}

// GenUserSig makes a UserSig (TLS signature v2) for identifier, valid from
// now for expire (whole seconds), signed with the app's secret key.
func GenUserSig(sdkAppID int64, key, identifier string, expire time.Duration, now time.Time) (string, error) {
	return genUserSig(sdkAppID, key, identifier, expire, now, nil)
}

// genUserSig also takes a userbuf; the client never needs one, tests do.
func genUserSig(sdkAppID int64, key, identifier string, expire time.Duration, now time.Time, userBuf []byte) (string, error) {
	switch {
	case sdkAppID <= 0:
		return "", fmt.Errorf("chatapi: sdkAppID must be positive, got %d", sdkAppID)
	case key == "":
		return "", errors.New("chatapi: empty secret key")
	case identifier == "":
		return "", errors.New("chatapi: empty identifier")
	case expire < time.Second:
		return "", fmt.Errorf("chatapi: UserSig lifetime %v is under one second", expire)
	}
	doc := userSigDoc{
		Ver:        "2.0",
		Identifier: identifier,
		SDKAppID:   sdkAppID,
		Expire:     int64(expire / time.Second),
		Time:       now.Unix(),
	}
	// An empty userbuf is treated as none: omitempty would drop it from the
	// JSON while the content string still named it.
	hasBuf := len(userBuf) > 0
	if hasBuf {
		doc.UserBuf = base64.StdEncoding.EncodeToString(userBuf)
	}
	doc.Sig = userSigHMAC(key, doc.Identifier, doc.SDKAppID, doc.Time, doc.Expire, doc.UserBuf, hasBuf)
	js, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("chatapi: encoding UserSig: %w", err)
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	if _, err := zw.Write(js); err != nil {
		return "", fmt.Errorf("chatapi: compressing UserSig: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("chatapi: compressing UserSig: %w", err)
	}
	return sigReplacer.Replace(base64.StdEncoding.EncodeToString(z.Bytes())), nil
}

// sigReplacer and sigUnreplacer are immutable once built.
var (
	sigReplacer   = strings.NewReplacer("+", "*", "/", "-", "=", "_")
	sigUnreplacer = strings.NewReplacer("*", "+", "-", "/", "_", "=")
)

// userSigHMAC is step 1 and 2 of the algorithm: the content string, every
// line ending in "\n", then base64(HMAC-SHA256(key, content)).
func userSigHMAC(key, identifier string, sdkAppID, now, expire int64, userBuf string, hasUserBuf bool) string {
	content := "TLS.identifier:" + identifier + "\n" +
		"TLS.sdkappid:" + strconv.FormatInt(sdkAppID, 10) + "\n" +
		"TLS.time:" + strconv.FormatInt(now, 10) + "\n" +
		"TLS.expire:" + strconv.FormatInt(expire, 10) + "\n"
	if hasUserBuf {
		content += "TLS.userbuf:" + userBuf + "\n"
	}
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(content))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// VerifyUserSig checks that sig is a v2 UserSig for sdkAppID and identifier,
// signed with key, and not expired at now. A TLS.userbuf field, when present,
// is covered by the signature check. The error wraps one of the ErrUserSig*
// sentinels and never contains the UserSig or the key.
func VerifyUserSig(sdkAppID int64, key, identifier, sig string, now time.Time) error {
	doc, hasBuf, err := decodeUserSig(sig)
	if err != nil {
		return err
	}
	if doc.SDKAppID != sdkAppID {
		return fmt.Errorf("%w: made for %d, want %d", ErrUserSigWrongApp, doc.SDKAppID, sdkAppID)
	}
	if doc.Identifier != identifier {
		return fmt.Errorf("%w: made for %q, want %q", ErrUserSigWrongIdentifier, doc.Identifier, identifier)
	}
	want := userSigHMAC(key, doc.Identifier, doc.SDKAppID, doc.Time, doc.Expire, doc.UserBuf, hasBuf)
	if !hmac.Equal([]byte(want), []byte(doc.Sig)) {
		return ErrUserSigBadSignature
	}
	// The signature is checked first so that an altered expiry reads as a
	// bad signature, not as "expired".
	if doc.Time > math.MaxInt64-doc.Expire || now.Unix() > doc.Time+doc.Expire {
		return fmt.Errorf("%w: valid until %s", ErrUserSigExpired, time.Unix(doc.Time, 0).Add(time.Duration(doc.Expire)*time.Second).UTC().Format(time.RFC3339))
	}
	return nil
}

// decodeUserSig undoes steps 5 to 3 and reads the fields leniently: numbers
// may be JSON numbers or decimal strings, keys may come in any order.
func decodeUserSig(sig string) (userSigDoc, bool, error) {
	var doc userSigDoc
	if sig == "" || len(sig) > maxUserSigLen {
		return doc, false, fmt.Errorf("%w: length %d", ErrUserSigMalformed, len(sig))
	}
	raw, err := base64.StdEncoding.DecodeString(sigUnreplacer.Replace(sig))
	if err != nil {
		return doc, false, fmt.Errorf("%w: not base64", ErrUserSigMalformed)
	}
	zr, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		return doc, false, fmt.Errorf("%w: not zlib", ErrUserSigMalformed)
	}
	js, err := io.ReadAll(io.LimitReader(zr, maxUserSigLen+1))
	if err != nil || len(js) > maxUserSigLen {
		return doc, false, fmt.Errorf("%w: bad zlib stream", ErrUserSigMalformed)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(js, &m); err != nil {
		return doc, false, fmt.Errorf("%w: not a JSON object", ErrUserSigMalformed)
	}
	str := func(k string) (string, error) {
		var s string
		if err := json.Unmarshal(m[k], &s); err != nil {
			return "", fmt.Errorf("%w: field %s", ErrUserSigMalformed, k)
		}
		return s, nil
	}
	num := func(k string) (int64, error) {
		v, ok := parseFlexInt(m[k])
		if !ok {
			return 0, fmt.Errorf("%w: field %s", ErrUserSigMalformed, k)
		}
		return v, nil
	}
	if doc.Ver, err = str("TLS.ver"); err != nil {
		return doc, false, err
	}
	if doc.Ver != "2.0" {
		return doc, false, fmt.Errorf("%w: version %q", ErrUserSigMalformed, doc.Ver)
	}
	if doc.Identifier, err = str("TLS.identifier"); err != nil {
		return doc, false, err
	}
	if doc.Sig, err = str("TLS.sig"); err != nil {
		return doc, false, err
	}
	if doc.SDKAppID, err = num("TLS.sdkappid"); err != nil {
		return doc, false, err
	}
	if doc.Expire, err = num("TLS.expire"); err != nil {
		return doc, false, err
	}
	if doc.Time, err = num("TLS.time"); err != nil {
		return doc, false, err
	}
	if doc.Expire < 0 {
		return doc, false, fmt.Errorf("%w: negative expire", ErrUserSigMalformed)
	}
	_, hasBuf := m["TLS.userbuf"]
	if hasBuf {
		if doc.UserBuf, err = str("TLS.userbuf"); err != nil {
			return doc, false, err
		}
	}
	return doc, hasBuf, nil
}

// parseFlexInt reads a JSON integer given as a number or a decimal string.
// Tencent documents numbers, but a lenient reader costs nothing.
func parseFlexInt(b []byte) (int64, bool) {
	s := strings.TrimSpace(string(b))
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	if s == "" || s == "null" {
		return 0, false
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, true
	}
	// 1e5 or 100000.0 are valid JSON for an integer value.
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}
