// The socket and timer types of a worker's connections.
#pragma once

#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>

namespace ringproxy {

// Bound to the worker's io_context executor itself rather than the type-erased
// any_io_executor: a smaller socket (40 bytes, not 88), smaller pending operations, and no
// indirect call per operation to reach the executor.
using WorkerSocket =
    boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;
using WorkerTimer =
    boost::asio::basic_waitable_timer<std::chrono::steady_clock,
                                      boost::asio::wait_traits<std::chrono::steady_clock>,
                                      boost::asio::io_context::executor_type>;

}  // namespace ringproxy
