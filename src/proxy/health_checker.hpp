// Active health checks: one probe loop per checked backend for the whole process.
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <unordered_map>

#include "runtime/snapshot.hpp"

namespace ringproxy {

// Keeps one checker running per backend whose upstream has [upstream.health_check]; each
// publishes its verdict to BackendState::healthy (an atomic the workers read). Lives on one
// io_context (the server's control loop); sync() and stop_all() must run on that thread.
class HealthCheckers {
 public:
  explicit HealthCheckers(boost::asio::io_context& context) : context_(context) {}
  ~HealthCheckers();

  // Starts checkers for backends that need one now (checked at once), restarts those whose
  // settings changed, and stops those no longer checked (their backend counts as healthy).
  void sync(const Snapshot& snapshot);
  void stop_all();

  struct Checker;  // one backend's probe loop (health_checker.cpp)

 private:
  boost::asio::io_context& context_;
  std::unordered_map<std::string, std::shared_ptr<Checker>> checkers_;  // by identity
};

}  // namespace ringproxy
