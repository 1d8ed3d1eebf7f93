// Handler modules: dlopen, the entry point, the compatibility checks (include/idem/module.h).
#include <capnp/common.h>
#include <dlfcn.h>

#include <string>

#include "idem/error.h"
#include "idem/module.h"
#include "tools/apps.h"
#include "tools/usage_error.h"

namespace idem::tools {

namespace {

void check(bool ok, const std::filesystem::path& path, const std::string& what,
           std::uint32_t module, std::uint32_t tool) {
  if (ok) return;
  fail(ErrorKind::kPermanent, path.string() + ": handler module built for " + what + " " +
                                  std::to_string(module) + ", this idem has " +
                                  std::to_string(tool) + "; rebuild it against this idem");
}

}  // namespace

App loadModuleApp(const std::filesystem::path& path) {
  // A path without a slash would make dlopen search the library path instead of opening it.
  const std::string file = path.has_parent_path() ? path.string() : "./" + path.string();
  void* raw = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (raw == nullptr) {
    const char* why = ::dlerror();
    fail(ErrorKind::kPermanent, "cannot load handler module " + path.string() + ": " +
                                    (why != nullptr ? why : "dlopen failed"));
  }
  std::shared_ptr<void> library(raw, [](void* handle) { ::dlclose(handle); });
  void* symbol = ::dlsym(raw, IDEM_MODULE_ENTRY_V1);
  if (symbol == nullptr) {
    fail(ErrorKind::kPermanent, path.string() + " is not an idem handler module: it has no " +
                                    IDEM_MODULE_ENTRY_V1 + " entry point (see IDEM_MODULE)");
  }
  const IdemModuleV1* module = reinterpret_cast<IdemModuleEntryV1>(symbol)();
  if (module == nullptr) fail(ErrorKind::kPermanent, path.string() + ": entry point returned null");
  check(module->abiVersion == IDEM_MODULE_ABI_VERSION, path, "module ABI", module->abiVersion,
        IDEM_MODULE_ABI_VERSION);
  check(module->cxxAbiVersion == __GXX_ABI_VERSION, path, "C++ ABI", module->cxxAbiVersion,
        __GXX_ABI_VERSION);
  check(module->capnpVersion == CAPNP_VERSION, path, "Cap'n Proto", module->capnpVersion,
        CAPNP_VERSION);
  check(module->handlersSize == sizeof(Handlers), path, "idem::Handlers of size",
        module->handlersSize, sizeof(Handlers));

  App app;
  app.name = module->name != nullptr ? module->name : path.stem().string();
  for (std::size_t i = 0; i < module->endpointCount; ++i) {
    const IdemModuleEndpointV1& endpoint = module->endpoints[i];
    if (endpoint.name == nullptr || endpoint.registerHandlers == nullptr) {
      fail(ErrorKind::kPermanent, path.string() + ": endpoint " + std::to_string(i) +
                                      " has no name or no registration function");
    }
    app.endpoints.push_back({endpoint.name, endpoint.registerHandlers});
  }
  app.module = std::move(library);
  return withCallsEndpoint(std::move(app));
}

App chooseApp(std::string_view appName, const std::string& modulePath) {
  if (appName.empty() == modulePath.empty()) {
    throw UsageError("give exactly one of --app NAME (built in) and --handlers MODULE.so");
  }
  return modulePath.empty() ? findApp(appName) : loadModuleApp(modulePath);
}

}  // namespace idem::tools
