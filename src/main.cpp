// ringproxy: command line and wiring.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "admin/explain_json.hpp"
#include "app/server.hpp"
#include "app/systemd_notify.hpp"
#include "config/config_loader.hpp"
#include "log/log.hpp"
#include "net/tls_context.hpp"
#include "net/tls_memory.hpp"
#include "runtime/snapshot.hpp"

namespace {

void usage(std::FILE* out) {
  std::fputs(
      "usage: ringproxy [--config FILE] [--check]\n"
      "       ringproxy --check --explain KEY [--upstream NAME] [--config FILE]\n"
      "       ringproxy --version\n"
      "  --config FILE    the TOML config (default conf/ringproxy.toml)\n"
      "  --check          validate FILE, print \"FILE: ok\" or every error, and exit\n"
      "  --explain KEY    validate FILE and print, as GET /explain would (one JSON line per\n"
      "                   upstream), where KEY goes with every backend healthy, and exit\n"
      "  --upstream NAME  with --explain: only that upstream\n",
      out);
}

// --explain: the walk of key in each upstream (or the one named) of a freshly built snapshot,
// where every backend is healthy and every breaker closed. Returns the exit code.
int explain(const ringproxy::Snapshot& snapshot, const std::string& key,
            const std::string& upstream) {
  bool found = false;
  for (const auto& up : snapshot.upstreams()) {
    if (!upstream.empty() && up.config->name != upstream) continue;
    found = true;
    std::printf("%s\n", ringproxy::explain_json(up, key, std::chrono::steady_clock::now()).c_str());
  }
  if (!found) {
    std::fprintf(stderr, "ringproxy: no upstream \"%s\" in %s\n", upstream.c_str(),
                 snapshot.config().path.c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // First, before anything makes OpenSSL allocate (docs/tls.md).
  const bool tls_memory = ringproxy::install_tls_memory();
  std::string config_path = "conf/ringproxy.toml";
  bool check = false;
  std::optional<std::string> explain_key;
  std::string explain_upstream;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--version" || arg == "-V") {
      std::printf("ringproxy %s\n", RINGPROXY_VERSION);
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      usage(stdout);
      return 0;
    } else if (arg == "--check" || arg == "-t") {
      check = true;
    } else if (arg == "--explain" && i + 1 < argc) {
      explain_key = argv[++i];
    } else if (arg == "--upstream" && i + 1 < argc) {
      explain_upstream = argv[++i];
    } else if ((arg == "--config" || arg == "-c") && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg.starts_with("--config=")) {
      config_path = std::string(arg.substr(9));
    } else {
      std::fprintf(stderr, "ringproxy: unknown argument \"%s\"\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }

  if (!explain_upstream.empty() && !explain_key) {
    std::fputs("ringproxy: --upstream goes with --explain\n", stderr);
    return 2;
  }
  // --check and start-up share one path: load, validate, build the snapshot.
  ringproxy::ConfigLoadResult loaded = ringproxy::load_config_file(config_path);
  auto registry = std::make_shared<ringproxy::BackendRegistry>();
  std::vector<ringproxy::ConfigError> errors = std::move(loaded.errors);
  ringproxy::SnapshotBuild built;
  std::shared_ptr<const ringproxy::TlsContexts> tls;
  if (errors.empty()) {
    built = ringproxy::Snapshot::build(std::move(*loaded.config), 1, *registry);
    errors = std::move(built.errors);
  }
  if (errors.empty()) {
    // Certificates and keys are read and checked here, for --check as for a start.
    tls = ringproxy::build_tls_contexts(built.snapshot->config(), &errors);
  }
  if (!errors.empty()) {
    for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    return 1;
  }
#ifdef RINGPROXY_INJECT_LEAK
  // A test-only fault, never set by the normal build: a leak the sanitizer stage must catch
  // (tests/sanitizer_fault.sh).
  volatile char* leaked = new char[64];
  leaked[0] = 1;
#endif
  if (explain_key) return explain(*built.snapshot, *explain_key, explain_upstream);
  if (check) {
    std::printf("%s: ok\n", config_path.c_str());
    return 0;
  }
  ringproxy::log::set_level(built.snapshot->config().log.level);
  if (!tls_memory) ringproxy::log::debug("OpenSSL allocates with malloc (sanitizer build)");
  ringproxy::SystemdNotifier::set_process_error_log(
      [](std::string_view m) { ringproxy::log::debug(m); });
  ringproxy::Server server(config_path, built.snapshot, registry, std::move(tls));
  return server.run();
}
