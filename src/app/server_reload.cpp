// The reload transaction: prepare everything the new config needs without installing anything,
// then commit in a step that cannot fail. A failed reload changes nothing.
#include "app/server.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <utility>

#include "admin/admin_server.hpp"
#include "app/systemd_notify.hpp"
#include "config/config_loader.hpp"
#include "log/log.hpp"
#include "net/worker.hpp"
#include "proxy/health_checker.hpp"

namespace ringproxy {

namespace asio = boost::asio;

namespace {

// Keys a running process cannot change yet: an error each, rather than ignoring the change.
void check_restart_keys(const std::string& path, const Config& next, const Config& current,
                        std::vector<ConfigError>* errors) {
  auto needs_restart = [&](bool changed, const char* key) {
    if (changed) {
      errors->push_back(
          {path, 0, std::string(key) + " changed: this takes a restart in this version"});
    }
  };
  needs_restart(next.server.workers != current.server.workers, "server.workers");
}

bool listed(const std::vector<HostPort>& list, const HostPort& address) {
  return std::find(list.begin(), list.end(), address) != list.end();
}

}  // namespace

// What a reload made and has not installed yet. Dropped uncommitted, it undoes itself: its
// sockets and its file close. Owned by the reloading thread, under reload_mutex_.
struct Server::PreparedReload {
  std::shared_ptr<const Snapshot> snapshot;   // the next generation, not yet published
  std::optional<AccessLogTarget> access_log;  // opened when the path changed
  // Listen addresses the new config adds: one bound acceptor per worker, not accepting yet.
  std::vector<std::pair<HostPort, Acceptors>> added;
  std::vector<HostPort> removed;  // listen addresses the new config drops
  bool admin_moved = false;
  std::unique_ptr<AdminServer> admin;  // when moved: bound, not accepting; null for none
};

ReloadResult Server::reload() {
  if (draining()) return ReloadResult::refused_while_draining();
  std::lock_guard reload_lock(reload_mutex_);
  SystemdNotifier::process().reloading();
  ReloadResult result;
  if (std::optional<PreparedReload> prepared = prepare_reload(&result.errors)) {
    result.generation = commit_reload(std::move(*prepared));
    SystemdNotifier::process().ready(result.generation);
    console_.record_reload({std::chrono::system_clock::now(), true, result.generation, ""});
    return result;
  }
  reloads_failed_.fetch_add(1, std::memory_order_relaxed);
  console_.record_reload({std::chrono::system_clock::now(), false, generation(),
                          result.errors.empty() ? "" : result.errors.front().to_string()});
  for (const auto& e : result.errors) log::error("reload failed: " + e.to_string());
  SystemdNotifier::process().reload_refused(generation());
  return result;
}

std::optional<Server::PreparedReload> Server::prepare_reload(std::vector<ConfigError>* errors) {
  ConfigLoadResult loaded = load_config_file(config_path_);
  *errors = std::move(loaded.errors);
  if (!errors->empty()) return std::nullopt;
  // Nothing but a reload publishes, and reloads are serialized: this stays the one in force.
  const std::shared_ptr<const Snapshot> current = snapshot();
  const Config& current_cfg = current->config();
  check_restart_keys(config_path_, *loaded.config, current_cfg, errors);
  if (!errors->empty()) return std::nullopt;
  SnapshotBuild built =
      Snapshot::build(std::move(*loaded.config), generation() + 1, *registry_, current.get());
  *errors = std::move(built.errors);
  if (!errors->empty()) return std::nullopt;

  PreparedReload prepared;
  prepared.snapshot = std::move(built.snapshot);
  // Sockets before the file: a reload refused by a bind creates no access log file.
  if (!bind_added_listeners(current_cfg, prepared, errors) ||
      !bind_moved_admin(current_cfg, prepared, errors) ||
      !open_access_log(current_cfg, prepared, errors)) {
    return std::nullopt;  // prepared is dropped: what it bound or opened is closed
  }
  return prepared;
}

// Listeners: the added addresses are bound now (a failure refuses the reload), the removed
// ones are closed at commit; kept ones are not touched, nor are their connections.
bool Server::bind_added_listeners(const Config& current, PreparedReload& prepared,
                                  std::vector<ConfigError>* errors) {
  const auto& old_listen = current.server.listen;
  const auto& new_listen = prepared.snapshot->config().server.listen;
  for (const HostPort& a : new_listen) {
    if (listed(old_listen, a)) continue;
    std::string error;
    Acceptors acceptors = bind_address(a, &error);
    if (acceptors.empty()) {
      errors->push_back({config_path_, 0, "server.listen: " + error});
      return false;
    }
    prepared.added.emplace_back(a, std::move(acceptors));
  }
  for (const HostPort& a : old_listen) {
    if (!listed(new_listen, a)) prepared.removed.push_back(a);
  }
  return true;
}

// The admin listener, when it moved: bound (not yet accepting) before anything is installed.
bool Server::bind_moved_admin(const Config& current, PreparedReload& prepared,
                              std::vector<ConfigError>* errors) {
  const auto& admin_listen = prepared.snapshot->config().admin.listen;
  prepared.admin_moved = admin_listen != current.admin.listen;
  if (!prepared.admin_moved || !admin_listen) return true;
  auto admin = std::make_unique<AdminServer>(*this, *workers_.front());
  std::string error;
  if (!admin->bind(*admin_listen, &error)) {
    errors->push_back({config_path_, 0, "admin.listen: " + error});
    return false;
  }
  prepared.admin = std::move(admin);
  return true;
}

// The access log, when its target changed: opened now, written to only after the commit.
bool Server::open_access_log(const Config& current, PreparedReload& prepared,
                             std::vector<ConfigError>* errors) {
  const std::string& target = prepared.snapshot->config().log.access_log;
  if (target == current.log.access_log) return true;
  std::string error;
  prepared.access_log = AccessLogTarget::open(target, &error);
  if (!prepared.access_log) {
    errors->push_back({config_path_, 0, error});
    return false;
  }
  return true;
}

std::uint64_t Server::commit_reload(PreparedReload&& prepared) {
  if (prepared.access_log) access_log_sink_.install(std::move(*prepared.access_log));
  if (prepared.admin_moved) swap_admin(std::move(prepared.admin));
  swap_listeners(prepared);
  // Settle the shared backend state, then publish.
  const std::shared_ptr<const Snapshot>& next = prepared.snapshot;
  next->apply_backend_settings();
  snapshots_.publish(next);
  connections_.set_max(next->config().server.max_connections);
  log::set_level(next->config().log.level);
  const std::uint64_t generation = next->generation();
  reloads_ok_.fetch_add(1, std::memory_order_relaxed);
  log::info("reloaded " + config_path_ + ": generation " + std::to_string(generation));
  // Health checkers live on the control loop: start/stop them there.
  asio::post(control_, [this] {
    if (health_) health_->sync(*snapshot());
  });
  return generation;
}

void Server::swap_listeners(PreparedReload& prepared) {
  for (auto& [address, acceptors] : prepared.added) {
    announce_listener(address, acceptors);
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      workers_[i]->start_listener(address, std::move(acceptors[i]));
    }
  }
  for (const HostPort& a : prepared.removed) {
    for (auto& w : workers_) w->stop_listener(a);
    log::info("stopped listening on " + a.to_string());
  }
}

void Server::swap_admin(std::unique_ptr<AdminServer> next) {
  if (admin_) {
    admin_->close();
    retired_admins_.push_back(std::move(admin_));
  }
  admin_ = std::move(next);
  if (admin_) admin_->start();
}

}  // namespace ringproxy
