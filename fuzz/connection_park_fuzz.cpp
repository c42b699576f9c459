// libFuzzer target: the connection park's hand-over, driven on one io_context with real
// loopback TCP connections by a sequence of operations read from the input: connect, park_new
// or park_idle with a deadline (past, a few ms ahead, or far), bytes or a close (FIN) from the
// client, the session closing a socket it holds, time passing (the loop run for 0-7 ms),
// close_all, and a woken socket parked again from inside `wake`. Properties, checked after
// every operation and at the end:
//  - each parked socket comes back through `wake` exactly once or is closed exactly once, and
//    `closed` is called once per socket the park closed (its client sees the close);
//  - it comes back only when readable (bytes or the client's close), a new one with its
//    head deadline and a kept-alive one with none; it is never closed before its deadline;
//  - no byte is lost or reordered: the session reads exactly what the client sent;
//  - size() is the number parked; at the end every readable or expired socket has left.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "park_harness.hpp"

using ringproxy::fuzz::ParkHarness;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  ParkHarness h(in.ConsumeBool());  // whether `wake` parks a readable socket again at once
  for (int op = 0; op < 48 && in.remaining_bytes() > 0; ++op) {
    const std::uint8_t code = in.ConsumeIntegral<std::uint8_t>();
    const std::size_t k = in.ConsumeIntegral<std::uint8_t>();
    switch (code % 8) {
      case 0:
        h.connect(code & 0x80);
        break;
      case 1:
        h.park(k, true, in.ConsumeIntegral<std::uint8_t>());
        break;
      case 2:
        h.park(k, false, in.ConsumeIntegral<std::uint8_t>());
        break;
      case 3:
        h.send(k, 1 + in.ConsumeIntegralInRange<std::size_t>(0, 3000));
        break;
      case 4:
        h.client_close(k);
        break;
      case 5:
        h.run(code >> 5);
        break;
      case 6:
        h.close_all();
        break;
      case 7:
        h.session_close(k);
        break;
    }
    h.check_counts();
  }
  h.settle();
  return 0;
}
