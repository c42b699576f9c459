// What ringproxy reaches of asio's private state, in one place: the epoll reactor's
// per-socket "may be readable" flag and reactor pointer, and the socket's implementation,
// named by the explicit-instantiation rule (legal C++), for asio 1.26.0 on epoll only.
// Include only from net/read_readiness.hpp (scripts/check_layout.py holds to it).
#pragma once

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/detail/reactive_wait_op.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/version.hpp>

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
#endif

}  // namespace ringproxy
