// Handler modules: an application's handlers in a shared library, so that the stock `idem` tool
// (inspect, audit, replay) can run them. A module exports one C entry point, idem_module_v1(),
// returning a description of its endpoints; the tool dlopen()s it and calls each registration.
//
//   // my_app_module.cpp, built as a SHARED library linked with idem_handlers
//   #include <idem/module.h>
//   IDEM_MODULE("my-app", {"accounts", registerAccounts}, {"transfers", registerTransfers})
//
// Compatibility: a module passes C++ objects (idem::Handlers) to the tool, so it must be built
// against the same idem headers, compiler ABI and Cap'n Proto version as the tool; the tool
// checks the fields of IdemModuleV1 below and refuses a module that differs.
#pragma once

#include <capnp/common.h>

#include <cstddef>
#include <cstdint>
#include <iterator>

#include "idem/handlers.h"

// Bumped whenever IdemModuleV1, IdemModuleEndpointV1 or what they point to change layout.
#define IDEM_MODULE_ABI_VERSION 1u

extern "C" {

// One endpoint of the module: its name and the function that registers its handlers into the
// Handlers the tool created for it (named after the endpoint). The function may throw
// idem::Error; it runs each time the tool needs the endpoint's handlers.
struct IdemModuleEndpointV1 {
  const char* name;
  void (*registerHandlers)(idem::Handlers& handlers);
};

// What idem_module_v1() returns. Everything it points to is static data of the module, valid as
// long as the module is loaded.
struct IdemModuleV1 {
  std::uint32_t abiVersion;     // IDEM_MODULE_ABI_VERSION
  std::uint32_t cxxAbiVersion;  // __GXX_ABI_VERSION of the module's compiler
  std::uint32_t capnpVersion;   // CAPNP_VERSION the module was compiled against
  std::uint32_t handlersSize;   // sizeof(idem::Handlers), a cheap check that headers agree
  const char* name;             // the application's name, e.g. "bank"
  std::size_t endpointCount;
  const IdemModuleEndpointV1* endpoints;
};

// The entry point's type and symbol name.
using IdemModuleEntryV1 = const IdemModuleV1* (*)();
#define IDEM_MODULE_ENTRY_V1 "idem_module_v1"

}  // extern "C"

// Defines the module's entry point: IDEM_MODULE(name, {endpoint, register}, ...). Use once per
// shared library, at namespace scope.
#define IDEM_MODULE(moduleName, ...)                                                       \
  extern "C" __attribute__((visibility("default"))) const IdemModuleV1* idem_module_v1() { \
    static const IdemModuleEndpointV1 kEndpoints[] = {__VA_ARGS__};                        \
    static const IdemModuleV1 kModule = {IDEM_MODULE_ABI_VERSION,                          \
                                         __GXX_ABI_VERSION,                                \
                                         CAPNP_VERSION,                                    \
                                         sizeof(idem::Handlers),                           \
                                         moduleName,                                       \
                                         std::size(kEndpoints),                            \
                                         kEndpoints};                                      \
    return &kModule;                                                                       \
  }
