# Messages and state of the benchmark endpoint: a trivial counter that emits one output.
@0xc4d1a8e2f7b30915;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("idem::bench");

struct Counter {
  value @0 :UInt64;
}
struct Increment {
  counterId @0 :Text;
  seq @1 :UInt64;         # the sender's sequence number, echoed for latency measurement
}
struct Counted {
  counterId @0 :Text;
  value @1 :UInt64;
  seq @2 :UInt64;
}
