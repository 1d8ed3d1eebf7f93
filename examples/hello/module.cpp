// libhello_module.so: the greeter and the guestbook as a handler module, so that the stock tool
// serves them (`idem run --handlers libhello_module.so --endpoint greeter --endpoint guestbook`)
// instead of main.cpp.
#include <idem/module.h>

#include "hello.h"

IDEM_MODULE("hello", {hello::kGreeter, hello::registerGreeter},
            {hello::kGuestbook, hello::registerGuestbook})
