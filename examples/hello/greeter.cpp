// The greeter: Greet -> the visitor's next visit, and a Greeted for the guestbook.
#include <idem/context.h>

#include <string>

#include "hello.h"

namespace hello {

namespace {
void greet(Visitor::Builder visitor, Greet::Reader m, idem::Context& ctx) {
  visitor.setVisits(visitor.getVisits() + 1);
  const std::string name = m.getName();
  Greeted::Builder greeted = ctx.send<Greeted>(kGuestbook);
  greeted.setName(name);
  greeted.setVisit(visitor.getVisits());
  greeted.setGreeting(visitor.getVisits() == 1 ? "Hello, " + name + "!"
                                               : "Welcome back, " + name + ".");
}
}  // namespace

void registerGreeter(idem::Handlers& handlers) {
  handlers.entity<Visitor>("visitor").on<Greet>(
      {"hello.greet", 1}, [](Greet::Reader m) { return std::string(m.getName()); }, greet);
}

}  // namespace hello
