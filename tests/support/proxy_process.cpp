#include "support/proxy_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

namespace ringproxy::test {

namespace {

using Clock = std::chrono::steady_clock;

int status_to_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// This process's environment with `extra` ("NAME=value") added, replacing same-named entries.
std::vector<std::string> environment_with(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry = *e;
    const auto named = [&](const std::string& x) {
      return entry.substr(0, entry.find('=') + 1) == x.substr(0, x.find('=') + 1);
    };
    if (std::none_of(extra.begin(), extra.end(), named)) env.emplace_back(entry);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

// fork + exec `argv` with stdout to `out_fd` and stderr to `err_fd`, stdin from /dev/null and
// no other descriptor inherited, in this environment plus `extra_env`. Returns the pid, or -1
// with errno set.
pid_t spawn(const std::vector<std::string>& args, int out_fd, int err_fd,
            const std::vector<std::string>& extra_env = {}) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const std::vector<std::string> env_strings = environment_with(extra_env);
  std::vector<char*> envp;
  for (const auto& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid != 0) {
    if (null_fd >= 0) ::close(null_fd);
    return pid;
  }
  // Child: only async-signal-safe calls from here on.
  // Die with the forking thread, so a crashed test leaves no proxy behind.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);
  if (null_fd >= 0) ::dup2(null_fd, 0);
  ::dup2(out_fd, 1);
  ::dup2(err_fd, 2);
  // Sockets of in-process origins must not leak into the proxy (a leaked listener would keep
  // accepting into its backlog after the origin stopped).
  if (::close_range(3, ~0U, 0) != 0) {
    for (int fd = 3; fd < 65536; ++fd) ::close(fd);
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::signal(sig, SIG_DFL);
  ::execvpe(argv[0], argv.data(), envp.data());
  const char* message = "exec failed: ";
  (void)!::write(2, message, std::strlen(message));
  (void)!::write(2, argv[0], std::strlen(argv[0]));
  (void)!::write(2, "\n", 1);
  ::_exit(127);
}

std::string temp_dir() {
  const char* dir = std::getenv("TMPDIR");
  return dir && *dir ? dir : "/tmp";
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  return static_cast<bool>(out);
}

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

// Drops a comment that starts outside a string.
std::string strip_comment(const std::string& line) {
  char quote = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quote) {
      if (c == '\\' && quote == '"')
        ++i;
      else if (c == quote)
        quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '#') {
      return line.substr(0, i);
    }
  }
  return line;
}

std::size_t count_strings(std::string_view value) {
  std::size_t count = 0;
  char quote = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (quote) {
      if (c == '\\' && quote == '"')
        ++i;
      else if (c == quote)
        quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
      // An empty string ("" = no listener) announces nothing.
      if (i + 1 < value.size() && value[i + 1] != c) ++count;
    }
  }
  return count;
}

// How many "listening on" lines the proxy should print for this config: a line-based look at
// server.listen and admin.listen, enough for the configs tests write.
struct ExpectedListeners {
  std::size_t proxy = 1;  // the default listen address when the config names none
  std::size_t tls = 0;    // tls.listen addresses (announced after server.listen's)
  bool admin = false;
};

ExpectedListeners expected_listeners(const std::string& toml) {
  ExpectedListeners expected;
  std::istringstream in(toml);
  std::string raw;
  std::string table;
  while (std::getline(in, raw)) {
    std::string line = trim(strip_comment(raw));
    if (line.empty()) continue;
    if (line.front() == '[') {
      auto name = line.substr(line.starts_with("[[") ? 2 : 1);
      table = trim(name.substr(0, name.find(']')));
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = trim(line.substr(0, eq));
    std::string value = trim(line.substr(eq + 1));
    std::string full = table.empty() ? key : table + "." + key;
    if (full == "server.listen" || full == "tls.listen") {
      std::size_t& n = full == "tls.listen" ? expected.tls : expected.proxy;
      if (value.starts_with("[")) {
        std::string array = value;
        while (array.find(']') == std::string::npos && std::getline(in, raw))
          array += " " + trim(strip_comment(raw));
        n = count_strings(array);
      } else {
        n = count_strings(value) > 0 ? 1 : n;
      }
    } else if (full == "admin.listen") {
      expected.admin = count_strings(value) > 0;
    }
  }
  return expected;
}

// The port in "... listening on HOST:PORT ...", 0 if the line has none.
std::uint16_t listening_port(std::string_view line) {
  static constexpr std::string_view kMarker = "listening on ";
  auto at = line.find(kMarker);
  if (at == std::string_view::npos) return 0;
  auto token = line.substr(at + kMarker.size());
  token = token.substr(0, token.find_first_of(" \t\r\n"));
  auto colon = token.rfind(':');
  if (colon == std::string_view::npos) return 0;
  unsigned long port = 0;
  std::size_t digits = 0;
  for (std::size_t i = colon + 1; i < token.size() && token[i] >= '0' && token[i] <= '9'; ++i) {
    port = port * 10 + static_cast<unsigned long>(token[i] - '0');
    if (++digits > 5) return 0;
  }
  return digits > 0 && port <= 65535 ? static_cast<std::uint16_t>(port) : 0;
}

long proc_status_kb(pid_t pid, std::string_view key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(key) && line.size() > key.size() && line[key.size()] == ':')
      return std::strtol(line.c_str() + key.size() + 1, nullptr, 10);
  }
  return -1;
}

}  // namespace

// The child's pid and pipes, the drain thread and the captured log.
struct ProxyProcess::Impl {
  pid_t pid_ = -1;
  std::string config_path_;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::thread drain_;

  mutable std::mutex mutex_;  // guards everything below
  mutable std::condition_variable changed_;
  std::string log_;
  std::string partial_[2];  // unfinished line per stream
  std::vector<std::uint16_t> ports_;
  std::uint16_t admin_port_ = 0;
  bool drained_ = false;
  bool stop_drain_ = false;
  std::optional<int> exit_code_;

  ~Impl() {
    if (pid_ > 0 && !exit_code_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
    {
      std::lock_guard lock(mutex_);
      stop_drain_ = true;
    }
    if (drain_.joinable()) drain_.join();
    if (out_fd_ >= 0) ::close(out_fd_);
    if (err_fd_ >= 0) ::close(err_fd_);
    if (!config_path_.empty()) ::unlink(config_path_.c_str());
  }

  // Appends complete lines (held under mutex_) and picks up the ports they announce.
  void add_line_locked(std::string_view line) {
    log_.append(line);
    log_.push_back('\n');
    if (auto port = listening_port(line)) {
      if (line.find("admin") != std::string_view::npos) {
        if (admin_port_ == 0) admin_port_ = port;
      } else if (std::find(ports_.begin(), ports_.end(), port) == ports_.end()) {
        ports_.push_back(port);
      }
    }
  }

  void add_bytes(int stream, const char* data, std::size_t size) {
    std::lock_guard lock(mutex_);
    auto& partial = partial_[stream];
    partial.append(data, size);
    std::size_t start = 0;
    for (auto nl = partial.find('\n'); nl != std::string::npos; nl = partial.find('\n', start)) {
      add_line_locked(std::string_view(partial).substr(start, nl - start));
      start = nl + 1;
    }
    partial.erase(0, start);
    changed_.notify_all();
  }

  void drain() {
    pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
    char buffer[16384];
    int open_count = 2;
    while (open_count > 0) {
      {
        std::lock_guard lock(mutex_);
        if (stop_drain_) break;
      }
      int ready = ::poll(fds, 2, 100);
      if (ready < 0 && errno != EINTR) break;
      for (int i = 0; i < 2; ++i) {
        if (fds[i].fd < 0 || fds[i].revents == 0) continue;
        ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
        if (n > 0) {
          add_bytes(i, buffer, static_cast<std::size_t>(n));
        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
          fds[i].fd = -1;
          --open_count;
        }
      }
    }
    std::lock_guard lock(mutex_);
    for (auto& partial : partial_) {
      if (!partial.empty()) add_line_locked(partial);
      partial.clear();
    }
    drained_ = true;
    changed_.notify_all();
  }

  // Reaps the child if it has exited (or waits for it with `block`).
  std::optional<int> reap(bool block) {
    {
      std::lock_guard lock(mutex_);
      if (exit_code_) return exit_code_;
    }
    if (pid_ <= 0) return std::nullopt;
    int status = 0;
    pid_t r;
    do {
      r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r != pid_) return std::nullopt;
    std::lock_guard lock(mutex_);
    exit_code_ = status_to_code(status);
    changed_.notify_all();
    return exit_code_;
  }
};

ProxyProcess::ProxyProcess(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ProxyProcess::~ProxyProcess() = default;

std::unique_ptr<ProxyProcess> ProxyProcess::start(const std::string& binary,
                                                  const std::string& toml_text,
                                                  std::vector<std::string> extra_args,
                                                  const std::vector<std::string>& extra_env) {
  auto fail = [](const std::string& why, const std::string& output) {
    std::cerr << "ProxyProcess::start: " << why << "\n";
    if (!output.empty())
      std::cerr << "---- proxy output ----\n" << output << "----------------------\n";
    return std::unique_ptr<ProxyProcess>();
  };

  auto impl = std::make_unique<Impl>();
  std::string path = temp_dir() + "/ringproxy-test-XXXXXX.toml";
  int fd = ::mkstemps(path.data(), 5);
  if (fd < 0) return fail("cannot create a temp config: " + std::string(std::strerror(errno)), "");
  ::close(fd);
  impl->config_path_ = path;
  if (!write_file(path, toml_text)) return fail("cannot write " + path, "");

  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return fail("pipe failed", "");
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return fail("pipe failed", "");
  }
  std::vector<std::string> args{binary, "--config", path};
  for (auto& a : extra_args) args.push_back(std::move(a));
  impl->pid_ = spawn(args, out_pipe[1], err_pipe[1], extra_env);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  impl->out_fd_ = out_pipe[0];
  impl->err_fd_ = err_pipe[0];
  if (impl->pid_ < 0) return fail("fork failed: " + std::string(std::strerror(errno)), "");
  impl->drain_ = std::thread([p = impl.get()] { p->drain(); });

  auto expected = expected_listeners(toml_text);
  auto deadline = Clock::now() + std::chrono::seconds(10);
  auto& state = *impl;
  for (;;) {
    {
      std::unique_lock lock(state.mutex_);
      auto ready = [&] {
        return state.ports_.size() >= expected.proxy + expected.tls &&
               (!expected.admin || state.admin_port_ != 0);
      };
      state.changed_.wait_until(
          lock, std::min(deadline, Clock::now() + std::chrono::milliseconds(50)), ready);
      if (ready()) break;
    }
    if (auto code = state.reap(false)) {
      // Let the drain thread collect the last words before reporting.
      std::unique_lock lock(state.mutex_);
      state.changed_.wait_for(lock, std::chrono::seconds(2), [&] { return state.drained_; });
      return fail("ringproxy exited with code " + std::to_string(*code) + " before listening",
                  state.log_);
    }
    if (Clock::now() >= deadline) {
      std::string log;
      {
        std::lock_guard lock(state.mutex_);
        log = state.log_;
      }
      return fail("no \"listening on\" line for every listener within 10 s (expected " +
                      std::to_string(expected.proxy) + " proxy" +
                      (expected.admin ? " + admin" : "") + ")",
                  log);
    }
  }
  return std::unique_ptr<ProxyProcess>(new ProxyProcess(std::move(impl)));
}

ProxyProcess::RunResult ProxyProcess::run(const std::string& binary,
                                          const std::vector<std::string>& args,
                                          std::chrono::milliseconds timeout) {
  RunResult result;
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    result.output = "pipe failed";
    return result;
  }
  std::vector<std::string> argv{binary};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_t pid = spawn(argv, pipe_fds[1], pipe_fds[1]);
  ::close(pipe_fds[1]);
  if (pid < 0) {
    ::close(pipe_fds[0]);
    result.output = "fork failed";
    return result;
  }
  auto deadline = Clock::now() + timeout;
  bool timed_out = false;
  char buffer[16384];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd fd{pipe_fds[0], POLLIN, 0};
    int ready = ::poll(&fd, 1, static_cast<int>(std::min<long long>(left.count(), 100)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    ssize_t n = ::read(pipe_fds[0], buffer, sizeof buffer);
    if (n > 0) {
      result.output.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;  // EOF: the child (and anything it spawned) closed the pipe
    }
  }
  ::close(pipe_fds[0]);
  int status = 0;
  if (timed_out) ::kill(pid, SIGKILL);
  // After EOF the child is exiting; a bounded wait covers one that closed its output early.
  for (;;) {
    pid_t r = ::waitpid(pid, &status, timed_out ? 0 : WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) break;
    if (r == 0) {
      if (Clock::now() >= deadline) {
        ::kill(pid, SIGKILL);
        timed_out = true;
        continue;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  result.exit_code = timed_out ? -1 : status_to_code(status);
  return result;
}

std::uint16_t ProxyProcess::port(std::size_t i) const {
  std::lock_guard lock(impl_->mutex_);
  return i < impl_->ports_.size() ? impl_->ports_[i] : 0;
}

std::size_t ProxyProcess::port_count() const {
  std::lock_guard lock(impl_->mutex_);
  return impl_->ports_.size();
}

std::uint16_t ProxyProcess::admin_port() const {
  std::lock_guard lock(impl_->mutex_);
  return impl_->admin_port_;
}

pid_t ProxyProcess::pid() const {
  return impl_->pid_;
}

const std::string& ProxyProcess::config_path() const {
  return impl_->config_path_;
}

bool ProxyProcess::write_config(const std::string& toml_text) {
  // Write beside and rename, so the proxy never reads a half-written file.
  std::string tmp = impl_->config_path_ + ".new";
  if (!write_file(tmp, toml_text)) return false;
  return std::rename(tmp.c_str(), impl_->config_path_.c_str()) == 0;
}

void ProxyProcess::signal(int sig) {
  if (!impl_->reap(false) && impl_->pid_ > 0) ::kill(impl_->pid_, sig);
}

std::optional<int> ProxyProcess::wait_exit(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (auto code = impl_->reap(false)) return code;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

bool ProxyProcess::wait_output_end(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mutex_);
  return impl_->changed_.wait_for(lock, timeout, [&] { return impl_->drained_; });
}

bool ProxyProcess::running() {
  return !impl_->reap(false);
}

std::string ProxyProcess::log() const {
  std::lock_guard lock(impl_->mutex_);
  std::string out = impl_->log_;
  for (const auto& partial : impl_->partial_) out += partial;
  return out;
}

bool ProxyProcess::wait_for_log(std::string_view needle, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mutex_);
  auto found = [&] {
    if (impl_->log_.find(needle) != std::string::npos) return true;
    for (const auto& partial : impl_->partial_)
      if (partial.find(needle) != std::string::npos) return true;
    return false;
  };
  return impl_->changed_.wait_for(lock, timeout, found);
}

std::size_t ProxyProcess::log_count(std::string_view needle) const {
  if (needle.empty()) return 0;
  std::string text = log();
  std::size_t count = 0;
  for (auto at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + needle.size()))
    ++count;
  return count;
}

long ProxyProcess::rss_kb() const {
  return proc_status_kb(impl_->pid_, "VmRSS");
}

long ProxyProcess::peak_rss_kb() const {
  return proc_status_kb(impl_->pid_, "VmHWM");
}

int ProxyProcess::open_fds() const {
  std::error_code ec;
  int count = 0;
  std::filesystem::directory_iterator it("/proc/" + std::to_string(impl_->pid_) + "/fd", ec);
  if (ec) return -1;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) return -1;
    ++count;
  }
  return count;
}

}  // namespace ringproxy::test
