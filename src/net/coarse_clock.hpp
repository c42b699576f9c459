// A cheaper read of steady_clock for deadlines and ages on the request path.
#pragma once

#include <time.h>

#include <chrono>

namespace ringproxy {

// steady_clock's time as of the kernel's last tick (CLOCK_MONOTONIC_COARSE: the same clock as
// steady_clock, behind it by one tick at most, a few milliseconds), read from the vDSO without
// the TSC: several times cheaper than steady_clock::now(). For deadlines (checked every 20 ms
// anyway, see Worker::kDeadlineTick), ages and breaker times; durations that are reported use
// steady_clock::now(). Any thread.
inline std::chrono::steady_clock::time_point coarse_now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

}  // namespace ringproxy
