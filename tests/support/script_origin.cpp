#include "support/script_origin.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

namespace ringproxy::test {

ScriptOrigin::ScriptOrigin(std::vector<std::string> argv, std::chrono::milliseconds timeout) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return;
  pid_ = ::fork();
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(pipe_fds[1], 1);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  out_ = pipe_fds[0];
  if (pid_ < 0) return;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (port_ == 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{out_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[256];
    const ssize_t n = ::read(out_, buf, sizeof(buf));
    if (n <= 0) break;
    output_.append(buf, static_cast<std::size_t>(n));
    const auto at = output_.find("port ");
    if (at != std::string::npos && output_.find('\n', at) != std::string::npos) {
      port_ = static_cast<std::uint16_t>(std::atoi(output_.c_str() + at + 5));
    }
  }
}

ScriptOrigin::~ScriptOrigin() {
  kill();
  if (out_ >= 0) ::close(out_);
}

void ScriptOrigin::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

}  // namespace ringproxy::test
