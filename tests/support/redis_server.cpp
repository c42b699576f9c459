// A redis-server child process for tests (see redis_server.hpp).
#include "support/redis_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <thread>

namespace ringproxy::test {

namespace {

// A free TCP port on 127.0.0.1: bound at port 0 to learn it, then closed for redis to take.
std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// Reads one RESP reply from fd into out (as described for command()); false on error/timeout.
bool read_reply(int fd, std::string& buffer, std::string& out);

bool fill(int fd, std::string& buffer, std::size_t need) {
  while (buffer.size() < need) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) return false;
    char chunk[4096];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
  return true;
}

bool read_line(int fd, std::string& buffer, std::string& line) {
  for (;;) {
    const auto end = buffer.find("\r\n");
    if (end != std::string::npos) {
      line = buffer.substr(0, end);
      buffer.erase(0, end + 2);
      return true;
    }
    if (!fill(fd, buffer, buffer.size() + 1)) return false;
  }
}

bool read_reply(int fd, std::string& buffer, std::string& out) {
  std::string line;
  if (!read_line(fd, buffer, line) || line.empty()) return false;
  const char type = line[0];
  const std::string rest = line.substr(1);
  if (type == '+' || type == '-' || type == ':') {
    out = rest;
    return true;
  }
  const long long n = std::atoll(rest.c_str());
  if (type == '$') {
    if (n < 0) return true;
    const auto size = static_cast<std::size_t>(n);
    if (!fill(fd, buffer, size + 2)) return false;
    out = buffer.substr(0, size);
    buffer.erase(0, size + 2);
    return true;
  }
  if (type == '*') {
    for (long long i = 0; i < n; ++i) {
      std::string element;
      if (!read_reply(fd, buffer, element)) return false;
      out += (i > 0 ? "\n" : "") + element;
    }
    return true;
  }
  return false;
}

}  // namespace

std::unique_ptr<RedisServer> RedisServer::start() {
  if (::access(kBinary, X_OK) != 0) {
    std::cerr << "RedisServer: " << kBinary << " is missing (scripts/deps installs it)\n";
    return nullptr;
  }
  std::unique_ptr<RedisServer> server(new RedisServer());
  for (int attempt = 0; attempt < 3; ++attempt) {  // another process may take the port first
    server->port_ = free_port();
    if (server->launch()) return server;
    server->kill();
  }
  std::cerr << "RedisServer: redis-server did not answer PING\n";
  return nullptr;
}

RedisServer::~RedisServer() {
  kill();
}

bool RedisServer::launch() {
  const std::string port = std::to_string(port_);
  const pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    const char* argv[] = {
        kBinary,        "--port", port.c_str(), "--bind",  "127.0.0.1", "--save", "",
        "--appendonly", "no",     "--loglevel", "warning", "--logfile", "",       nullptr};
    ::execv(kBinary, const_cast<char* const*>(argv));
    ::_exit(127);
  }
  pid_ = pid;
  return wait_ready(std::chrono::seconds(5));
}

void RedisServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

bool RedisServer::restart() {
  kill();
  return launch();
}

bool RedisServer::wait_ready(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (command({"PING"}) == "PONG") return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) return false;  // it exited (port taken?)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

std::string RedisServer::command(const std::vector<std::string>& args, std::string* error) const {
  auto fail = [&](const char* why) {
    if (error) *error = why;
    return std::string();
  };
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port_);
  std::string request = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args) request += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  std::string buffer, out;
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
                      static_cast<ssize_t>(request.size()) &&
                  read_reply(fd, buffer, out);
  ::close(fd);
  return ok ? out : fail("no reply");
}

long long RedisServer::calls(const std::string& command_name) const {
  const std::string info = command({"INFO", "commandstats"});
  const std::string key = "cmdstat_" + command_name + ":calls=";
  const auto at = info.find(key);
  return at == std::string::npos ? 0 : std::atoll(info.c_str() + at + key.size());
}

}  // namespace ringproxy::test
