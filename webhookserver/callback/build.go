package callback

import (
	"encoding/json"
	"net/url"
	"strconv"
	"time"
)

// SetQuery sets in q the parameters of a callback as the Chat backend sends it, with
// the documented example's ClientIP and OptPlatform, signed with token at now (no
// Sign or RequestTime when token is empty). The tools and tests that play the Chat
// backend build their callbacks with it and Body.
func SetQuery(q url.Values, sdkAppID int64, command, token string, now time.Time) {
	q.Set("SdkAppid", strconv.FormatInt(sdkAppID, 10))
	q.Set("CallbackCommand", command)
	q.Set("contenttype", "json")
	q.Set("ClientIP", "127.0.0.1")
	q.Set("OptPlatform", "RESTAPI")
	if token != "" {
		rt := now.Unix()
		q.Set("RequestTime", strconv.FormatInt(rt, 10))
		q.Set("Sign", Sign(token, rt))
	}
}

// Body is the JSON body of a callback about an account at eventTime (Unix ms).
func Body(command, account string, eventTime int64) []byte {
	b, _ := json.Marshal(struct { // cannot fail: strings and a number
		CallbackCommand string
		Account         string `json:"Official_Account"`
		EventTime       int64
	}{command, account, eventTime})
	return b
}
