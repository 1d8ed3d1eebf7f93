// Apps: the samples, wired for the idem tool.
#include "tools/apps.h"

#include "calls/caller_handlers.h"
#include "idem/error.h"
#include "idem/http_call.h"
#include "samples/bank/bank.h"
#include "samples/orders/orders.h"
#include "samples/provider/provider.h"

namespace idem::tools {

Handlers App::handlers(std::string_view endpoint) const {
  for (const AppEndpoint& e : endpoints) {
    if (e.name == endpoint) {
      Handlers h(e.name);
      e.registerHandlers(h);
      return h;
    }
  }
  std::string known;
  for (const AppEndpoint& e : endpoints) known += (known.empty() ? "" : ", ") + e.name;
  fail(ErrorKind::kPermanent,
       "app " + name + " has no endpoint '" + std::string(endpoint) + "' (it has " + known + ")");
}

std::vector<App::MessageType> App::messageTypes() const {
  std::vector<MessageType> types;
  for (const AppEndpoint& e : endpoints) {
    Handlers h = handlers(e.name);
    for (const auto& handler : h.all()) types.push_back({handler->messageSchema, e.name});
  }
  return types;
}

App::MessageType App::messageType(std::string_view wanted) const {
  std::string known;
  for (const MessageType& t : messageTypes()) {
    std::string_view shortName = t.schema.getShortDisplayName().cStr();
    std::string_view fullName = t.schema.getProto().getDisplayName().cStr();
    if (shortName == wanted || fullName == wanted) return t;
    known += (known.empty() ? "" : ", ") + std::string(shortName);
  }
  fail(ErrorKind::kPermanent, "app " + name + " handles no message type '" + std::string(wanted) +
                                  "' (known: " + known + ")");
}

std::optional<App::MessageType> App::findMessageType(std::uint64_t typeId) const {
  for (const MessageType& t : messageTypes()) {
    if (t.schema.getProto().getId() == typeId) return t;
  }
  return std::nullopt;
}

App App::only(const std::vector<std::string>& names) const {
  if (names.empty()) return *this;
  App out{name, {}, module};
  for (const std::string& wanted : names) {
    (void)handlers(wanted);  // throws, naming the endpoints there are
    for (const AppEndpoint& e : endpoints) {
      if (e.name == wanted) out.endpoints.push_back(e);
    }
  }
  return out;
}

App withCallsEndpoint(App app) {
  bool calls = false;
  for (const AppEndpoint& e : app.endpoints) {
    if (e.name == kCallsEndpoint) return app;
    calls = calls || app.handlers(e.name).findByMessageType(
                         capnp::typeId<wire::HttpCallResult>()) != nullptr;
  }
  if (calls) app.endpoints.push_back({std::string(kCallsEndpoint), calls::registerCallerHandlers});
  return app;
}

const std::vector<App>& builtInApps() {
  static const std::vector<App> kApps = [] {
    std::vector<App> apps = {
        {"bank",
         {{bank::kAccounts, bank::registerAccounts},
          {bank::kTransfers, bank::registerTransfers},
          {bank::kNotifications, bank::registerNotifications}},
         nullptr},
        {"orders",
         {{orders::kOrders, orders::registerOrders},
          {orders::kInventory, orders::registerInventory},
          {orders::kPayments, orders::registerPayments},
          {orders::kShipping, orders::registerShipping}},
         nullptr},
        {"provider", {{provider::kProvider, provider::registerProvider}}, nullptr},
    };
    for (App& app : apps) app = withCallsEndpoint(std::move(app));
    return apps;
  }();
  return kApps;
}

const App& findApp(std::string_view name) {
  std::string known;
  for (const App& app : builtInApps()) {
    if (app.name == name) return app;
    known += (known.empty() ? "" : ", ") + app.name;
  }
  fail(ErrorKind::kPermanent, "no app '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace idem::tools
