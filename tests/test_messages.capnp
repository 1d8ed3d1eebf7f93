# Messages and states of the small endpoints the core tests run.
@0xf009bed843f73225;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("idem::test");

# Shooting gallery: the "alternative worlds" scenario. A duplicate Fire must re-emit the Hit
# the first copy produced, never a Missed computed against the moved target.
struct Target {
  position @0 :Int32;
  shots @1 :UInt32;
  hits @2 :UInt32;
}
struct PlaceTarget {
  targetId @0 :Text;
  position @1 :Int32;
}
struct Fire {
  targetId @0 :Text;
  position @1 :Int32;
}
struct Hit {
  targetId @0 :Text;
  shot @1 :UInt32;
}
struct Missed {
  targetId @0 :Text;
  shot @1 :UInt32;
}

# Counters: several outputs, no-ops, outputs that depend on state, a chain of endpoints.
struct Counter {
  value @0 :UInt64;
  history @1 :List(UInt64);
}
struct Increment {
  counterId @0 :Text;
  by @1 :UInt32;
  outputs @2 :UInt32;     # how many Counted messages to emit
  forward @3 :Text;       # when set, each Counted is sent to this endpoint, else published
}
struct Counted {
  counterId @0 :Text;
  value @1 :UInt64;
  index @2 :UInt32;
  token @3 :Data;         # ctx.newId()
  dice @4 :UInt64;        # ctx.random()
  at @5 :Int64;           # ctx.now()
}
struct Ping {
  counterId @0 :Text;     # a no-op: no state change, nothing emitted
}
struct Flaky {
  counterId @0 :Text;
  failures @1 :UInt32;    # the handler throws this many times in total, then succeeds
  permanent @2 :Bool;     # throw a permanent idem::Error instead
}

# The middle hop of a chain A -> B -> C: B relays each Counted it applies as a Relayed.
struct Relay {
  total @0 :UInt64;
}
struct Relayed {
  counterId @0 :Text;
  value @1 :UInt64;
}

# A "payer" entity that calls a service once per StartCall (tests/http_call_test.cpp).
struct Payer {
  results @0 :UInt32;      # HttpCallResults received
  lastOutcome @1 :UInt16;  # the last result's outcome (HttpCallResult.Outcome)
  lastStatus @2 :UInt16;
  lastBody @3 :Text;
}
struct StartCall {
  payerId @0 :Text;
  amount @1 :UInt32;
}
# Emitted by a payer for each result it applied, to the test's observer queue.
struct CallSeen {
  payerId @0 :Text;
  status @1 :UInt16;
  body @2 :Text;
}
