package chatapi

// Chat ErrorCode values this package acts on. They come from Tencent Cloud
// Chat's public error-code table (REST API common codes 60xxx, account and
// UserSig codes 70xxx, message codes 20xxx/90xxx, group codes 10xxx and the
// Official Account codes 13xxxx). docs/chatapi.md says which meanings are
// uncertain. Keep every decision in the three functions below so a wrong
// guess is corrected in one place.
const (
	// CodeHTTPParse: the backend could not parse the HTTP request.
	CodeHTTPParse = 60002
	// CodeJSONParse: the request body is not valid JSON.
	CodeJSONParse = 60003
	// CodeRESTRateLimited: the REST API call rate limit was exceeded.
	CodeRESTRateLimited = 60007
	// CodeServiceTimeout: "service request timeout or HTTP request format
	// error"; documented with "check the request and retry".
	CodeServiceTimeout = 60008
	// CodeRequestResource: unknown URL (service or command).
	CodeRequestResource = 60009
	// CodeAdminRequired: the identifier is not an App admin.
	CodeAdminRequired = 60010
	// CodeAccountCheckTimeout: account check timed out; documented as retry.
	CodeAccountCheckTimeout = 60014
	// CodeTooFrequent: "requests are too frequent, try again later".
	CodeTooFrequent = 60018

	// CodeUserSigExpired: the UserSig has expired.
	CodeUserSigExpired = 70001
	// CodeUserSigInvalid: the UserSig is illegal (does not decode).
	CodeUserSigInvalid = 70003
	// CodeUserSigVerifyFailed: the UserSig was made with another key. This
	// is what a wrong secret key produces.
	CodeUserSigVerifyFailed = 70009
	// CodeUserSigIdentifierMismatch: identifier differs from the UserSig's.
	CodeUserSigIdentifierMismatch = 70013
	// CodeUserSigAppIDMismatch: sdkappid differs from the UserSig's.
	CodeUserSigAppIDMismatch = 70014
	// CodeUserSigNoPublicKey: no key known for the SDKAppID.
	CodeUserSigNoPublicKey = 70016
	// CodeUserSigNoAppID: the SDKAppID does not exist (wrong region?).
	CodeUserSigNoAppID = 70020
	// CodeUserSigLocked: too many UserSig failures; wait a minute.
	CodeUserSigLocked = 70050
	// CodeAccountBlocked: the account is on the blocklist.
	CodeAccountBlocked = 70051
	// CodeInternalTimeout: server-side internal timeout; documented as retry.
	CodeInternalTimeout = 70169
	// CodeInvalidParameter: illegal request parameters.
	CodeInvalidParameter = 70402
	// CodeInternalError: internal server error; documented as retry.
	CodeInternalError = 70500

	// CodeMsgNetwork: sendmsg "network issue, please retry".
	CodeMsgNetwork = 20004
	// CodeMsgInternal: sendmsg "internal server error, please retry".
	CodeMsgInternal = 20005
	// CodeMsgServiceInternal: message service internal error, retry.
	CodeMsgServiceInternal = 90994
	// CodeMsgServerInternal: message server internal error, retry.
	CodeMsgServerInternal = 91000

	// CodeGroupInternal: internal error in the group-style services.
	// Whether the Official Account service uses it is unconfirmed.
	CodeGroupInternal = 10002
	// CodeGroupRateLimited: operation frequency limit in the group-style
	// services. Whether the Official Account service uses it is unconfirmed.
	CodeGroupRateLimited = 10006

	// CodeOfficialAccountNotFound: the account does not exist or was
	// destroyed.
	CodeOfficialAccountNotFound = 130004
	// CodeOfficialAccountFull: the account has reached its subscriber limit.
	CodeOfficialAccountFull = 130006
	// CodeOfficialAccountIDInvalid: OfficialAccountUserID has a bad format.
	CodeOfficialAccountIDInvalid = 130007
	// CodeOfficialAccountIDInUse: "the official account user ID is in use".
	// create_official_account answers it when the chosen ID exists, which is
	// how a retried create learns its first attempt succeeded.
	CodeOfficialAccountIDInUse = 130008
)

// RetryableCode reports whether a Chat ErrorCode means a transient backend
// problem (busy, internal error, timeout, rate limited) that a later attempt
// can get past. Anything not listed is treated as permanent: retrying a bad
// request or a bad signature only burns the rate limit.
func RetryableCode(code int) bool {
	switch code {
	case CodeRESTRateLimited, CodeServiceTimeout, CodeAccountCheckTimeout, CodeTooFrequent,
		CodeInternalTimeout, CodeInternalError,
		CodeMsgNetwork, CodeMsgInternal, CodeMsgServiceInternal, CodeMsgServerInternal,
		CodeGroupInternal, CodeGroupRateLimited:
		return true
	}
	return false
}

// AuthCode reports whether a Chat ErrorCode means the credentials are wrong:
// the UserSig, the key, the SDKAppID or the admin identifier. Retrying with
// the same configuration cannot help; an operator has to fix it.
func AuthCode(code int) bool {
	switch code {
	case CodeAdminRequired,
		CodeUserSigExpired, CodeUserSigInvalid, CodeUserSigVerifyFailed,
		CodeUserSigIdentifierMismatch, CodeUserSigAppIDMismatch, CodeUserSigNoPublicKey,
		CodeUserSigNoAppID, CodeUserSigLocked, CodeAccountBlocked:
		return true
	}
	return false
}

// AlreadyExistsCode reports whether create_official_account's ErrorCode means
// the requested OfficialAccountUserID already exists. Only 130008 is in the
// public table for this; the group codes 10021/10025 ("GroupId already used")
// were considered and left out because they belong to another service.
func AlreadyExistsCode(code int) bool {
	return code == CodeOfficialAccountIDInUse
}
