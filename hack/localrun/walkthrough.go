package main

// walkthrough is what localrun prints to try once it is ready: the commands of the
// README's "See it work", which the walkthrough test (test/walkthrough) runs against
// this local mode and checks, output included. Keep the two the same; the test fails
// when they differ.
const walkthrough = `kubectl get oac

# 1. @TOA#_support_a fills up (here in the fake Chat), and Chat calls the operator:
curl -s --data-urlencode 'account=@TOA#_support_a' 127.0.0.1:9494/subscribers
bin/send-callback --token local-demo-token --app 1400000001 --account '@TOA#_support_a'
# the operator raises its limit by 50000:
kubectl wait oac/support --for=jsonpath='{.status.accounts[0].maxSubscriberNum}'=150000
kubectl get oac

# 2. It fills up again, at the raise ceiling: the operator fails over.
curl -s --data-urlencode 'account=@TOA#_support_a' 127.0.0.1:9494/subscribers
bin/send-callback --token local-demo-token --app 1400000001 --account '@TOA#_support_a'
kubectl wait oac/support --for=jsonpath='{.status.activeAccount}'='@TOA#_support_b'
kubectl get configmap support-active -o jsonpath='{.data.activeAccount}{"\n"}'

# 3. The second account fills up too: the operator creates a third.
curl -s --data-urlencode 'account=@TOA#_support_b' 127.0.0.1:9494/subscribers
bin/send-callback --token local-demo-token --app 1400000001 --account '@TOA#_support_b'
kubectl wait oac/support --for=jsonpath='{.status.accounts[2].origin}'=ScaleOut
kubectl get oac

# 4. Room again on the first (unsubscribes): a recheck finds it, and it is active again.
curl -s --data-urlencode 'account=@TOA#_support_a' -d subscribers=1000 127.0.0.1:9494/subscribers
kubectl annotate oac support chat.oacapacity.io/requested-at="$(date +%s)" --overwrite
kubectl wait oac/support --for=jsonpath='{.status.activeAccount}'='@TOA#_support_a'

# 5. The app's own backend keeps its callbacks: the operator relays every other command
#    to spec.callbackForward (the sink plays the backend) and returns its answer.
bin/send-callback --token local-demo-token --app 1400000001 --command C2C.CallbackBeforeSendMsg --body '{"CallbackCommand":"C2C.CallbackBeforeSendMsg","From_Account":"alice","To_Account":"bob","MsgBody":[]}'
# the full callbacks were recorded, and relayed to it in the background too:
curl -s 127.0.0.1:9494/backend

# What the owners were told (the sink prints each message as it arrives, too):
curl -s 127.0.0.1:9494/messages
`
