// Apps: the applications the stock `idem` binary knows, by name, each a set of endpoints and the
// function that registers each endpoint's handlers. main() wires them; nothing is global.
#pragma once

#include <capnp/schema.h>

#include <functional>
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

struct App {
  std::string name;
  std::vector<AppEndpoint> endpoints;

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
};

// The apps compiled into this binary: "bank" and "orders".
const std::vector<App>& builtInApps();
// Throws idem::Error (permanent) naming the known apps when there is no app `name`.
const App& findApp(std::string_view name);

}  // namespace idem::tools
