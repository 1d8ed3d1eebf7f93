# Structs with every kind of list idem::append and idem::removeIf support, for tests/lists_test.cpp.
@0x80a3d8cdf9756ca5;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("idem::test");

struct Item {
  name @0 :Text;
  count @1 :UInt32;
}

struct Lists {
  items @0 :List(Item);
  numbers @1 :List(UInt32);
  names @2 :List(Text);
}
