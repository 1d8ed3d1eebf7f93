// The guestbook: Greeted -> one more line on the visitor's page.
#include <idem/context.h>
#include <idem/lists.h>

#include <string>

#include "hello.h"

namespace hello {

namespace {
constexpr auto kLines = idem::listField(&Page::Builder::disownLines, &Page::Builder::adoptLines);

void sign(Page::Builder page, Greeted::Reader m, idem::Context&) {
  idem::append(page, kLines, m.getGreeting());
}
}  // namespace

void registerGuestbook(idem::Handlers& handlers) {
  handlers.entity<Page>("page").on<Greeted>(
      {"hello.sign", 1}, [](Greeted::Reader m) { return std::string(m.getName()); }, sign);
}

}  // namespace hello
