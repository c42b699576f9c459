// A cheaper read of steady_clock for deadlines and ages on the request path.
#pragma once

#include <time.h>

#include <chrono>

namespace ringproxy {

// steady_clock's time as of the kernel's last timekeeping update (CLOCK_MONOTONIC_COARSE: the
// same clock as steady_clock, never ahead of it and usually a tick behind, though a tickless
// kernel may let it fall further), read from the vDSO without the TSC: several times cheaper
// than steady_clock::now(). For ages, rates and breaker times, and for checks that may err
// late; a deadline is armed from steady_clock::now() (the worker's tick checks it against
// that), so that no timeout ends early. Durations that are reported use steady_clock::now().
// Any thread.
inline std::chrono::steady_clock::time_point coarse_now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

}  // namespace ringproxy
