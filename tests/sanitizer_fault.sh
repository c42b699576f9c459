#!/usr/bin/env bash
# Proves that the integration suite fails when the proxy leaks: runs two ordinary tests against
# ringproxy-fault-leak (the proxy with a deliberate one-line leak, built only under the
# sanitizers) and passes only when they fail on LeakSanitizer's report and the exit code.
#   tests/sanitizer_fault.sh INTEGRATION_TESTS FAULTY_RINGPROXY
set -u
tests=$1 faulty=$2
out=$(RINGPROXY_TEST_BINARY=$faulty "$tests" \
  --gtest_filter='RelayTest.GetIsRelayedWithMethodTargetAndOriginBody:RoutingTest.FirstMatchingRouteWins' 2>&1)
status=$?
fail() { echo "sanitizer_fault: $*"; echo "$out" | tail -40; exit 1; }
[ $status -ne 0 ] || fail "the suite passed against a leaking proxy"
grep -q 'ERROR: LeakSanitizer' <<<"$out" || fail "no LeakSanitizer report was shown"
grep -q 'did not exit 0 after SIGTERM' <<<"$out" || fail "the exit code was not checked"
for t in RelayTest.GetIsRelayedWithMethodTargetAndOriginBody RoutingTest.FirstMatchingRouteWins; do
  grep -q "^\[  FAILED  \] $t" <<<"$out" || fail "$t did not fail"
done
echo "sanitizer_fault: the suite failed on the leaking proxy, as it must"
