// The orders sample as a handler module (libidem_orders_module.so), for `idem --handlers`.
#include <idem/module.h>

#include "samples/orders/orders.h"

IDEM_MODULE("orders", {orders::kOrders, orders::registerOrders},
            {orders::kInventory, orders::registerInventory},
            {orders::kPayments, orders::registerPayments},
            {orders::kShipping, orders::registerShipping})
