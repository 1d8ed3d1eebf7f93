# The hello example's messages and states: a greeter that counts each visitor's visits, and a
# guestbook that writes every greeting down.
@0xa1dbf06610d5d232;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("hello");

# The greeter's entities, one per name.
struct Visitor {
  visits @0 :UInt32;
}
struct Greet {
  name @0 :Text;
}

# Sent by the greeter to the guestbook.
struct Greeted {
  name @0 :Text;
  visit @1 :UInt32;
  greeting @2 :Text;
}

# The guestbook's entities, one page per name.
struct Page {
  lines @0 :List(Text);
}
