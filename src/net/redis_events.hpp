// hiredis's async API driven by a worker's io_context: hiredis says when it wants to read or
// write its socket (ev.addRead/delRead/addWrite/delWrite/cleanup); each wish becomes an
// async_wait on a posix::stream_descriptor over that socket, and readiness calls
// redisAsyncHandleRead/Write. No thread, no blocking call.
#pragma once

#include <hiredis/async.h>

#include <boost/asio/io_context.hpp>

namespace ringproxy {

// Attaches ac (just made by redisAsyncConnect*, no events attached yet) to the executor's
// loop; false when its socket cannot be registered (the caller frees ac then). The attachment
// ends by itself when hiredis frees ac (its cleanup hook). Worker thread only: ac must be used
// from the executor's thread alone.
bool attach_redis_events(redisAsyncContext* ac, boost::asio::io_context::executor_type executor);

}  // namespace ringproxy
