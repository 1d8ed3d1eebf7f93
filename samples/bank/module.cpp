// The bank sample as a handler module (libidem_bank_module.so), for `idem --handlers`.
#include <idem/module.h>

#include "samples/bank/bank.h"

IDEM_MODULE("bank", {bank::kAccounts, bank::registerAccounts},
            {bank::kTransfers, bank::registerTransfers},
            {bank::kNotifications, bank::registerNotifications})
