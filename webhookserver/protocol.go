package webhookserver

import "github.com/oacapacity/oa-capacity-operator/webhookserver/callback"

// CommandAccountFull is the callback this server exists for.
const CommandAccountFull = callback.CommandAccountFull

// Sign is the Sign of a callback sent at requestTime (Unix seconds), as the Chat
// backend computes it from the console's Token; see callback.Sign.
func Sign(token string, requestTime int64) string { return callback.Sign(token, requestTime) }
