// Package chatapi is a small client for the Tencent Cloud Chat REST API: the
// Official Account calls this project needs, one-to-one text messages, and the
// UserSig (TLS signature v2) that authenticates them.
//
// It is a plain library: no Kubernetes types, no package state that changes.
// Time, randomness and sleeping are injected through Config so that tests can
// run the retry and rate-limit logic on a virtual clock.
//
// Every call is a POST to {base}/v4/{service}/{command} with the query
// sdkappid, identifier, usersig, random and contenttype=json and a JSON body.
// Failed answers become *APIError, transport failures *TransportError; both
// say through Retryable whether trying again can help. The secret key and the
// UserSig never appear in an error.
//
// The subpackage chatapitest holds a fake Chat server for tests.
package chatapi
