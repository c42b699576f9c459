// Edge-triggered read readiness on asio's epoll reactor: a socket known drained waits for
// its next readiness event with no system call (docs/edge-reads.md says how and why).
// The one door to what asio keeps private (net/asio_reach.hpp); nothing else includes that.
//
// Thread-safety: call only on the thread that runs the socket's io_context (every socket
// belongs to one worker, whose one thread runs its reactor).
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/system/error_code.hpp>
#include <utility>

#include "net/asio_reach.hpp"
#include "net/worker_socket.hpp"

namespace ringproxy {

// Whether the fast path is compiled in: true with the asio that scripts/deps installs
// (Boost 1.81, asio 1.26, epoll); any other asio falls back to stock behaviour, and a unit
// test fails so that the fallback is never silent.
inline constexpr bool kEdgeReadsEnabled = RINGPROXY_EDGE_READS != 0;

#if RINGPROXY_EDGE_READS
// False when the last direct read found socket drained and no readiness event came since.
// A closed socket counts as readable: the next read then reports what is wrong.
inline bool may_be_readable(WorkerSocket& socket) {
  const bool* flag = readiness_detail::readable_flag(socket);
  return flag == nullptr || *flag;
}

// Records that socket is drained: its last read found nothing, or came back short and
// completed a message. Call it after that read with no co_await in between, so that no
// readiness event can have been spent since. (A read also stops short at a peer's FIN, whose
// event is then spent; after a whole message that is harmless: an idle client is parked,
// where the FIN is seen, and a pooled backend connection's next request meets its reset.)
inline void note_drained(WorkerSocket& socket) {
  if (bool* flag = readiness_detail::readable_flag(socket)) *flag = false;
}

// Waits until socket is readable: at once (posted) if it may be readable now, else on the
// next readiness event, with no system call. Completes with operation_aborted when the
// socket is cancelled or closed, as async_wait does.
template <class Token>
auto async_wait_readable(WorkerSocket& socket, Token&& token) {
  return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
      readiness_detail::InitiateWaitReadable{}, token, &socket);
}

#else

inline bool may_be_readable(WorkerSocket&) {
  return true;
}
inline void note_drained(WorkerSocket&) {}
template <class Token>
auto async_wait_readable(WorkerSocket& socket, Token&& token) {
  return socket.async_wait(WorkerSocket::wait_read, std::forward<Token>(token));
}

#endif

}  // namespace ringproxy
