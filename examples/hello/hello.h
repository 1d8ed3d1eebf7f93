// hello: two endpoints, each with one handler. The greeter counts each visitor's visits and
// sends a Greeted to the guestbook, which writes the greeting on the visitor's page.
#pragma once

#include <idem/handlers.h>

#include "hello.capnp.h"

namespace hello {

inline constexpr const char* kGreeter = "greeter";
inline constexpr const char* kGuestbook = "guestbook";

void registerGreeter(idem::Handlers& handlers);    // "visitor" entities, keyed by name
void registerGuestbook(idem::Handlers& handlers);  // "page" entities, keyed by name

}  // namespace hello
