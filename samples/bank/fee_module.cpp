// The bank with a changed fee rule (libidem_bank_fee_module.so): each credit keeps a fee of 1,
// registered as bank.credit v2. Not a product: what `idem replay --what-if` is demonstrated with.
#include <idem/module.h>

#include "samples/bank/bank.h"

namespace {
void registerAccountsWithFee(idem::Handlers& handlers) {
  bank::registerAccountsWith(handlers, bank::AccountRules{.creditFee = 1});
}
}  // namespace

IDEM_MODULE("bank-fee", {bank::kAccounts, registerAccountsWithFee},
            {bank::kTransfers, bank::registerTransfers},
            {bank::kNotifications, bank::registerNotifications})
