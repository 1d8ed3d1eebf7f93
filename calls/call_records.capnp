# The records of the calls endpoint (docs/http.md, "Calling a service from a handler"): each
# call is an entity "call" keyed by the hex of its id, stepping through the four-phase
# protocol; each step's HTTP exchange is asked of the runner as an output, after the step's
# version is durable, and its answer comes back as an input.
@0xdcc36090437c99f5;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("idem::calls::records");

using Call = import "/idem/http_call.capnp";
using Envelope = import "/idem/envelope.capnp";

struct CallState {
  stage @0 :Stage;
  enum Stage {
    new @0;         # the initial state
    putting @1;     # PUT asked of the runner
    posting @2;     # PUT answered; POST asked
    delivering @3;  # the result sent to the calling entity; waiting for its HttpCallDone
    deleting @4;    # DELETE asked
    done @5;        # DELETE answered: the service holds nothing of the call any more
  }
  request @1 :Call.HttpCall;
  outcome @2 :Call.HttpCallResult.Outcome;  # from delivering on: what the entity was told
  status @3 :UInt16;
}

enum Step {
  put @0;
  post @1;
  delete @2;
}

# An HTTP exchange the runner makes (queue http-calls-out).
struct CallExchange {
  step @0 :Step;
  request @1 :Call.HttpCall;
}

# The runner's answer to a CallExchange, once final (transient failures are retried by the
# runner and never answered).
struct CallExchangeResult {
  callId @0 :Data;
  step @1 :Step;
  outcome @2 :Call.HttpCallResult.Outcome;
  status @3 :UInt16;
  contentType @4 :Text;
  body @5 :Data;
  headers @6 :List(Envelope.Header);
}
