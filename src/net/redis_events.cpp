// hiredis on asio (see redis_events.hpp).
#include "net/redis_events.hpp"

#include <boost/asio/posix/basic_stream_descriptor.hpp>
#include <memory>

namespace ringproxy {

namespace asio = boost::asio;

namespace {

using Descriptor = asio::posix::basic_stream_descriptor<asio::io_context::executor_type>;

// One context's event state. Owned by itself (self) while hiredis holds it, and by each
// pending wait's handler; ac is null once hiredis has freed the context. Worker thread only.
struct Events : std::enable_shared_from_this<Events> {
  Events(redisAsyncContext* context, asio::io_context::executor_type executor)
      : ac(context), descriptor(executor) {}

  redisAsyncContext* ac;
  Descriptor descriptor;
  std::shared_ptr<Events> self;
  bool want_read = false;
  bool want_write = false;
  bool reading = false;  // a read wait is pending
  bool writing = false;  // a write wait is pending

  // A wait per direction at most; a wish withdrawn while its wait is pending is ignored when
  // the wait ends. async_wait re-arms the socket's epoll entry, so readiness that came before
  // the wait is seen (level-triggered in effect).
  void arm(bool write) {
    bool& pending = write ? writing : reading;
    if (ac == nullptr || !(write ? want_write : want_read) || pending) return;
    pending = true;
    descriptor.async_wait(write ? Descriptor::wait_write : Descriptor::wait_read,
                          [events = shared_from_this(), write](boost::system::error_code ec) {
                            (write ? events->writing : events->reading) = false;
                            if (ec || events->ac == nullptr) return;
                            if (!(write ? events->want_write : events->want_read)) return;
                            // May free the context (and so clear ac) through cleanup().
                            if (write) {
                              redisAsyncHandleWrite(events->ac);
                            } else {
                              redisAsyncHandleRead(events->ac);
                            }
                            events->arm(write);
                          });
  }

  static Events& of(void* data) { return *static_cast<Events*>(data); }
  static void add_read(void* data) {
    of(data).want_read = true;
    of(data).arm(false);
  }
  static void del_read(void* data) { of(data).want_read = false; }
  static void add_write(void* data) {
    of(data).want_write = true;
    of(data).arm(true);
  }
  static void del_write(void* data) { of(data).want_write = false; }
  // hiredis frees the context (and then closes the socket itself): let go of the socket
  // without closing it; pending waits end with operation_aborted and find ac null.
  static void cleanup(void* data) {
    Events& events = of(data);
    events.ac = nullptr;
    events.want_read = events.want_write = false;
    boost::system::error_code ignored;
    events.descriptor.cancel(ignored);
    (void)events.descriptor.release();
    const std::shared_ptr<Events> last = std::move(events.self);  // may be the last owner
  }
};

}  // namespace

bool attach_redis_events(redisAsyncContext* ac, asio::io_context::executor_type executor) {
  if (ac == nullptr || ac->ev.data != nullptr || ac->c.fd < 0) return false;
  auto events = std::make_shared<Events>(ac, executor);
  boost::system::error_code ec;
  events->descriptor.assign(ac->c.fd, ec);
  if (ec) return false;
  events->self = events;
  ac->ev.data = events.get();
  ac->ev.addRead = &Events::add_read;
  ac->ev.delRead = &Events::del_read;
  ac->ev.addWrite = &Events::add_write;
  ac->ev.delWrite = &Events::del_write;
  ac->ev.cleanup = &Events::cleanup;
  return true;
}

}  // namespace ringproxy
