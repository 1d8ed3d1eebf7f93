# The envelope every idem message travels in, stored and sent in canonical form.
# Grammar and field meanings: docs/storage-format.md, "Envelope".
@0x9e58b83214caf067;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("idem::wire");

struct Header {
  name @0 :Text;
  value @1 :Text;
}

struct Envelope {
  id @0 :Data;               # 16 bytes; the logical message's identity (copies share it)
  messageType @1 :UInt64;    # Cap'n Proto type id of the payload struct
  destination @2 :Text;      # endpoint it is sent to; empty when published to subscribers
  source @3 :Text;           # endpoint that emitted it; empty for messages entering at the edge
  entityKey @4 :Text;        # optional routing hint (partitioning); receivers derive their own key
  causationId @5 :Data;      # id of the input whose handling emitted this message
  correlationId @6 :Data;    # id of the conversation's first message
  recordedAt @7 :Int64;      # nanoseconds since the Unix epoch, at the producer
  headers @8 :List(Header);
  payload @9 :Data;          # canonical Cap'n Proto message of the payload struct:
                             # one segment without a segment table
  deliverAt @10 :Int64;      # nanoseconds since the Unix epoch before which it is not delivered;
                             # 0 = at once (timeouts and deadlines are delayed messages)
}
