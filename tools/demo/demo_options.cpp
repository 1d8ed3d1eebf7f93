// DemoOptions: DIR/demo.json := {"app":..,"transfers":..,"accounts":..,"orders":..,"seed":..,
//                               "transport":"" | "nats://...", "finished":bool}
// A demo.json without "transport" (written before NATS demos existed) ran on the embedded bus.
#include "tools/demo/demo_options.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "idem/error.h"

namespace idem::tools::demo {

namespace {

void takeSaved(const nlohmann::json& saved, const char* name, bool given, std::uint64_t& value) {
  if (!saved.contains(name)) return;
  const auto savedValue = saved.at(name).get<std::uint64_t>();
  if (given && savedValue != value) {
    fail(ErrorKind::kPermanent, std::string("--") + name + " " + std::to_string(value) +
                                    " conflicts with the demo already in this directory (" + name +
                                    " " + std::to_string(savedValue) +
                                    "); run without it to finish that demo, or use another --dir");
  }
  value = savedValue;
}

}  // namespace

bool reconcileWithSaved(DemoOptions& options, const GivenFlags& given) {
  const auto file = options.dir / "demo.json";
  bool existed = false;
  if (std::filesystem::exists(file)) {
    nlohmann::json saved;
    try {
      std::ifstream(file) >> saved;
    } catch (const nlohmann::json::exception& e) {
      fail(ErrorKind::kPermanent, file.string() + " is not a demo's parameters: " + e.what());
    }
    if (saved.value("finished", false)) {
      // Only a directory that holds a demo.json of ours is emptied.
      for (const auto& entry : std::filesystem::directory_iterator(options.dir)) {
        std::filesystem::remove_all(entry.path());
      }
      return reconcileWithSaved(options, given);
    }
    const std::string app = saved.value("app", "");
    if (app != options.app) {
      fail(ErrorKind::kPermanent, options.dir.string() + " holds a demo of app '" + app +
                                      "', not " + options.app + "; use another --dir");
    }
    takeSaved(saved, "transfers", given.transfers, options.transfers);
    takeSaved(saved, "accounts", given.accounts, options.accounts);
    takeSaved(saved, "orders", given.orders, options.orders);
    takeSaved(saved, "seed", given.seed, options.seed);
    const std::string transport = saved.value("transport", "");
    if (given.transport && transport != options.transport) {
      fail(ErrorKind::kPermanent,
           "--transport " + (options.transport.empty() ? "embedded" : options.transport) +
               " conflicts with the demo already in this directory (it runs on " +
               (transport.empty() ? "the embedded bus" : transport) +
               ", which holds its messages in flight); run without it to finish that demo, or "
               "use another --dir");
    }
    options.transport = transport;
    existed = true;
  }
  std::filesystem::create_directories(options.dir);
  const nlohmann::json json = {{"app", options.app},           {"transfers", options.transfers},
                               {"accounts", options.accounts}, {"orders", options.orders},
                               {"seed", options.seed},         {"transport", options.transport}};
  const auto tmp = file.string() + ".tmp";
  std::ofstream(tmp) << json.dump(2) << "\n";
  std::filesystem::rename(tmp, file);
  return existed;
}

void markFinished(const DemoOptions& options) {
  const auto file = options.dir / "demo.json";
  nlohmann::json json;
  std::ifstream(file) >> json;
  json["finished"] = true;
  const auto tmp = file.string() + ".tmp";
  std::ofstream(tmp) << json.dump(2) << "\n";
  std::filesystem::rename(tmp, file);
}

}  // namespace idem::tools::demo
