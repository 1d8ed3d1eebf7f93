// Apps: the applications the stock `idem` binary knows, by name, each a set of endpoints and the
// function that registers each endpoint's handlers. main() wires them; nothing is global.
#pragma once

#include <capnp/schema.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "idem/handlers.h"

namespace idem::tools {

struct AppEndpoint {
  std::string name;
  std::function<void(Handlers&)> registerHandlers;
};

// An application: built in, or loaded from a handler module. Handlers made by an App run code
// of its module: they must not outlive the App (copies share the module, unloaded with the last).
struct App {
  std::string name;
  std::vector<AppEndpoint> endpoints;
  std::shared_ptr<void> module{};  // the dlopen() handle of a loaded module; null when built in

  // The handlers of `endpoint`. Throws idem::Error (permanent) naming the known endpoints when
  // the app has no such endpoint.
  Handlers handlers(std::string_view endpoint) const;
  // Every message schema some endpoint of the app handles, and which endpoint handles it.
  struct MessageType {
    capnp::StructSchema schema;
    std::string endpoint;
  };
  std::vector<MessageType> messageTypes() const;
  // The message type named `name` (short name like "StartTransfer", or the full display name).
  // Throws idem::Error (permanent) listing the known names when there is none.
  MessageType messageType(std::string_view name) const;
  // The schema of `typeId`, if some endpoint handles it.
  std::optional<MessageType> findMessageType(std::uint64_t typeId) const;
  // This app with only the endpoints named in `names`, in that order (all of them when `names`
  // is empty); it shares the module. Throws as handlers() for a name the app has not.
  App only(const std::vector<std::string>& names) const;
};

// `app` with the calls endpoint (idem::kCallsEndpoint, calls/caller_handlers.h) added when one
// of its endpoints handles HttpCallResult (asks for calls with idem::call()) and it has none.
App withCallsEndpoint(App app);

// The apps compiled into this binary: "bank", "orders" and "provider" (the card processor the
// orders sample calls).
const std::vector<App>& builtInApps();
// Throws idem::Error (permanent) naming the known apps when there is no app `name`.
const App& findApp(std::string_view name);

// Loads the handler module at `path` (include/idem/module.h) with dlopen. Throws idem::Error
// (permanent) naming the file when it cannot be loaded, has no idem_module_v1 entry point, or
// was built for another module ABI, compiler ABI, Cap'n Proto version or idem header version.
App loadModuleApp(const std::filesystem::path& path);

// The app `appName` (built in) or, when `modulePath` is not empty, the module there.
// Throws UsageError (tools/usage_error.h) when neither or both are given, and as
// findApp/loadModuleApp.
App chooseApp(std::string_view appName, const std::string& modulePath);

}  // namespace idem::tools
