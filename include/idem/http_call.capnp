# Exactly-once HTTP calls from handlers (docs/http.md, "Calling a service from a handler"):
# a handler asks for a call with idem::call() (include/idem/http_call.h); the framework's
# `http-calls` endpoint runs the four-phase protocol (PUT, POST, DELETE) and hands the outcome
# back to the calling entity as an HttpCallResult.
@0xfbbe8a983bc907da;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("idem::wire");

using Envelope = import "envelope.capnp";

struct HttpCall {
  callId @0 :Data;       # set by idem::call(): the call's id C (16 bytes, time-ordered)
  replyTo @1 :Text;      # set by idem::call(): the calling endpoint
  entityKey @2 :Text;    # set by idem::call(): the calling entity's key
  tag @3 :Text;          # the caller's own label, handed back in the result
  service @4 :Text;      # a service name the runner maps to a base URL (--call-service NAME=URL)
  path @5 :Text;         # the request's path on the service, e.g. "/v1/provider/Charge"
  contentType @6 :Text;  # of body; empty: application/json
  body @7 :Data;         # the request (PUT's body)
}

struct HttpCallResult {
  callId @0 :Data;
  tag @1 :Text;
  entityKey @2 :Text;
  outcome @3 :Outcome;
  enum Outcome {
    response @0;         # the service ran the request: status, headers and body are its outcome
    refused @1;          # the service refused the request (4xx): it did not run it
    expired @2;          # given up: older than the runner's maxCallAge before it ran
  }
  status @4 :UInt16;     # response: the outcome's status (an idem service's Idem-Outcome-Status);
                         # refused: the HTTP status of the refusal
  contentType @5 :Text;
  body @6 :Data;         # response: the outcome's body; refused: the problem document
  headers @7 :List(Envelope.Header);  # response: the service's Idem-* headers
}

# Sent by the calling entity once it committed the result (idem::onCallResult does it): the
# service may forget the request now.
struct HttpCallDone {
  callId @0 :Data;
}
