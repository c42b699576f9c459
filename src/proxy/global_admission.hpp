// The part of a global rate limit's request filter that needs the worker: the Redis fetch the
// lease book asks for, and, for a client with no token leased here yet, the wait for it.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "net/worker.hpp"
#include "proxy/request_context.hpp"
#include "proxy/request_plan.hpp"

namespace ringproxy {

// Starts the fetch plan.global asks for (on the worker's link to the rule's Redis) and decides
// what it can without waiting. True when the plan is settled (allowed, or 429/503 planned);
// false when the request must co_await wait_for_global_lease. Worker thread only.
bool settle_global_now(Worker& worker, RequestPlan& plan, RequestContext& ctx);

// Waits for the client's fetch, at most redis_timeout in all, taking again as fetches end;
// past it (or with Redis unreachable) the local tier decides (on_redis_error = "allow"), or the
// request gets 503 ("deny"). Worker thread only; plan and ctx outlive the wait.
boost::asio::awaitable<void> wait_for_global_lease(Worker& worker, RequestPlan& plan,
                                                   RequestContext& ctx);

}  // namespace ringproxy
