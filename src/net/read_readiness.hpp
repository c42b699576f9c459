// Edge-triggered read readiness on top of asio's epoll reactor, as nginx and HAProxy keep it:
// a socket whose last read came back short (or found nothing) is known to be drained, and is
// not read again until the kernel reports new bytes. Waiting for it then costs no system call.
//
// Asio registers every socket with EPOLLET and already keeps a "may be readable" flag per
// socket (try_speculative_), set on every readiness event; but it clears the flag only on end
// of stream. So after any read asio either tries a recv that finds nothing (async_read_some)
// or re-arms the socket with an epoll_ctl (async_wait): one wasted system call per wait.
// Here the flag is cleared where ringproxy reads directly (read_now) and learns the socket is
// drained, and a wait on a drained socket joins asio's queue without either call.
//
// This reaches members asio keeps to itself (Boost 1.81, asio 1.26.0, the version the stack
// pins): the epoll reactor's per-socket flag and reactor pointer, and the socket's
// implementation, by the explicit-instantiation rule that permits naming them. With any other
// asio version or reactor it compiles to the stock behaviour: the flag is never cleared and
// waits use async_wait.
//
// Thread-safety: call only on the thread that runs the socket's io_context. Every socket
// belongs to one worker, whose one thread is the only one that runs its reactor, starts its
// operations and reads it; so the flag, which asio guards with a per-socket mutex for
// io_contexts run by several threads, is read and written here without it.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/detail/reactive_wait_op.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/version.hpp>
#include <boost/system/error_code.hpp>

#include <utility>

#include "net/worker_socket.hpp"

#if BOOST_ASIO_VERSION == 102600 && defined(BOOST_ASIO_HAS_EPOLL) && \
    !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#define RINGPROXY_EDGE_READS 1
#else
#define RINGPROXY_EDGE_READS 0
#endif

namespace ringproxy {

#if RINGPROXY_EDGE_READS
namespace readiness_detail {

using Reactor = boost::asio::detail::epoll_reactor;
using DescriptorState = Reactor::descriptor_state;
using SocketImpl = boost::asio::detail::io_object_impl<
    boost::asio::detail::reactive_socket_service<boost::asio::ip::tcp>,
    boost::asio::io_context::executor_type>;
using SocketBase =
    boost::asio::basic_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;

// Each tag names one private member; the explicit instantiation below hands out its pointer.
struct SpeculativeTag {
  using type = bool (DescriptorState::*)[Reactor::max_ops];
  friend type member(SpeculativeTag);
};
struct ReactorTag {
  using type = Reactor* DescriptorState::*;
  friend type member(ReactorTag);
};
struct SocketImplTag {
  using type = SocketImpl SocketBase::*;
  friend type member(SocketImplTag);
};

// Defines member(Tag) to return the pointer M (explicit instantiation may name private members).
template <class Tag, typename Tag::type M>
struct Expose {
  friend typename Tag::type member(Tag) { return M; }
};
template struct Expose<SpeculativeTag, &DescriptorState::try_speculative_>;
template struct Expose<ReactorTag, &DescriptorState::reactor_>;
template struct Expose<SocketImplTag, &SocketBase::impl_>;

inline auto& implementation(WorkerSocket& socket) {
  return (static_cast<SocketBase&>(socket).*member(SocketImplTag{})).get_implementation();
}

// The socket's "may be readable" flag in asio's reactor; nullptr when the socket has no
// reactor registration (closed).
inline bool* readable_flag(WorkerSocket& socket) {
  DescriptorState* state = implementation(socket).reactor_data_;
  if (state == nullptr) return nullptr;
  return &(state->*member(SpeculativeTag{}))[Reactor::read_op];
}

// Starts a wait on the reactor's read queue that is allowed to skip the epoll_ctl (the socket
// stays registered for EPOLLIN, edge-triggered): it completes on the next readiness event.
struct InitiateWaitReadable {
  template <class Handler>
  void operator()(Handler&& handler, WorkerSocket* socket) const {
    boost::asio::detail::non_const_lvalue<Handler> h(handler);
    using Op = boost::asio::detail::reactive_wait_op<std::decay_t<Handler>,
                                                     boost::asio::io_context::executor_type>;
    if (boost::asio::get_associated_cancellation_slot(h.value).is_connected()) {
      // Per-operation cancellation is asio's own business: take its path.
      socket->async_wait(WorkerSocket::wait_read, std::move(h.value));
      return;
    }
    auto& impl = implementation(*socket);
    if (impl.reactor_data_ == nullptr) {
      // Not open: asio's own path reports it.
      socket->async_wait(WorkerSocket::wait_read, std::move(h.value));
      return;
    }
    Reactor& reactor = *(impl.reactor_data_->*member(ReactorTag{}));
    const bool is_continuation = boost_asio_handler_cont_helpers::is_continuation(h.value);
    typename Op::ptr p = {boost::asio::detail::addressof(h.value), Op::ptr::allocate(h.value), 0};
    p.p = new (p.v) Op(boost::system::error_code(), h.value, socket->get_executor());
    reactor.start_op(Reactor::read_op, impl.socket_, impl.reactor_data_, p.p, is_continuation,
                     /*allow_speculative=*/true);
    p.v = p.p = 0;
  }
};

}  // namespace readiness_detail

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
