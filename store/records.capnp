# Records of the version store that are not plain integers, stored in canonical form so that
# damaged bytes are detected by the reader (kj::Exception) instead of being trusted.
# Key layout and the rest of the format: docs/storage-format.md and store/version_store.cpp.
@0xf3cb74e366548637;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("idem::store::records");

# The value of one `history` entry: what produced version v of an entity.
struct HistoryRecord {
  handlerId @0 :Text;        # registered handler that produced the version
  handlerVersion @1 :UInt32; # its version
  outputCount @2 :UInt32;    # number of outputs it emitted
  recordedAtNs @3 :Int64;    # this endpoint's clock (ns since the Unix epoch) at first processing
  outputDigest @4 :Data;     # 32 bytes: digest of the outputs (framework defines the hash)
  stateChanged @5 :Bool;     # false: state v equals state v-1
  input @6 :Data;            # the canonical input envelope; word-aligned inside the record
}
