// ringproxy-origin: the test origin as a process, for the demo and the benchmarks.
//
//   ringproxy-origin --listen 127.0.0.1:9001 --name a [--threads N]
//   ringproxy-origin --listen 127.0.0.1:9001=a --listen 127.0.0.1:9002=b [--threads N]
//
// Prints "origin NAME listening on HOST:PORT" per origin, runs until SIGINT/SIGTERM, exits 0.

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <pthread.h>

#include "support/origin_server.hpp"

namespace {

struct ListenSpec {
  std::string host;
  std::uint16_t port = 0;
  std::string name;
};

void usage(std::ostream& out) {
  out << "usage: ringproxy-origin --listen HOST:PORT[=NAME] [--name NAME] [--listen ...] "
         "[--threads N]\n"
         "  --name applies to the --listen before it (or the next one when none precedes it).\n";
}

bool parse_listen(std::string arg, ListenSpec& spec) {
  if (auto eq = arg.find('='); eq != std::string::npos) {
    spec.name = arg.substr(eq + 1);
    arg.resize(eq);
  }
  auto colon = arg.rfind(':');
  if (colon == std::string::npos || colon + 1 == arg.size()) return false;
  spec.host = arg.substr(0, colon);
  if (spec.host.size() >= 2 && spec.host.front() == '[' && spec.host.back() == ']')
    spec.host = spec.host.substr(1, spec.host.size() - 2);
  if (spec.host.empty()) return false;
  char* end = nullptr;
  unsigned long port = std::strtoul(arg.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port > 65535) return false;
  spec.port = static_cast<std::uint16_t>(port);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<ListenSpec> specs;
  std::string pending_name;
  int threads = 1;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "ringproxy-origin: " << arg << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--listen") {
      ListenSpec spec;
      std::string text = value();
      if (!parse_listen(text, spec)) {
        std::cerr << "ringproxy-origin: bad --listen \"" << text << "\" (want HOST:PORT[=NAME])\n";
        return 2;
      }
      if (spec.name.empty() && !pending_name.empty()) spec.name = std::move(pending_name);
      pending_name.clear();
      specs.push_back(std::move(spec));
    } else if (arg == "--name") {
      std::string name = value();
      if (!specs.empty() && specs.back().name.empty())
        specs.back().name = std::move(name);
      else
        pending_name = std::move(name);
    } else if (arg == "--threads") {
      threads = std::atoi(value().c_str());
      if (threads < 1) {
        std::cerr << "ringproxy-origin: --threads must be at least 1\n";
        return 2;
      }
    } else if (arg == "--help" || arg == "-h") {
      usage(std::cout);
      return 0;
    } else {
      std::cerr << "ringproxy-origin: unknown argument \"" << arg << "\"\n";
      usage(std::cerr);
      return 2;
    }
  }
  if (specs.empty()) {
    usage(std::cerr);
    return 2;
  }
  for (std::size_t i = 0; i < specs.size(); ++i)
    if (specs[i].name.empty())
      specs[i].name = specs.size() == 1 ? "origin" : "origin" + std::to_string(i + 1);

  // Block the stop signals before any thread starts, so that only sigwait sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  std::vector<std::unique_ptr<ringproxy::test::OriginServer>> origins;
  try {
    for (const auto& spec : specs) {
      ringproxy::test::OriginServer::Options options;
      options.name = spec.name;
      options.host = spec.host;
      options.port = spec.port;
      options.threads = threads;
      options.record_requests = false;
      origins.push_back(std::make_unique<ringproxy::test::OriginServer>(options));
      std::cout << "origin " << spec.name << " listening on " << origins.back()->address()
                << std::endl;
    }
  } catch (const std::exception& e) {
    std::cerr << "ringproxy-origin: cannot listen: " << e.what() << "\n";
    return 1;
  }

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  for (auto& origin : origins) origin->stop();
  return 0;
}
