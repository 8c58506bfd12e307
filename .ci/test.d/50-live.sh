# The live suite (spec/live/run.sh, `make test-real`): lua-infisical and infisical-tokens
# against a real Infisical backend that the suite builds, starts (private PostgreSQL and
# Redis on 127.0.0.1, production mode), seeds and stops, with the fake server checked
# against it request by request. The backend's source comes from INFISICAL_BACKEND_SRC
# (an Infisical checkout's backend/ folder, or a .tar.gz of it); .ci/run sets it in CI,
# where a missing source is a failure. Without it, the suite does not run, and the last
# lines of the output say so (TEST_NOTES, printed by .ci/test before its total).
if [ -n "${INFISICAL_BACKEND_SRC:-}" ]; then
  run_suite live bash spec/live/run.sh
elif [ "${CI:-}" = true ]; then
  live_missing() {
    echo "not ok 1 - live suite: INFISICAL_BACKEND_SRC is not set (CI needs the backend source; see .ci/run)"
    return 1
  }
  run_suite live live_missing
else
  TEST_NOTES="${TEST_NOTES:-}
NOTE: the live suite (a real Infisical backend) did not run: INFISICAL_BACKEND_SRC is not set.
      Run it with: INFISICAL_BACKEND_SRC=/path/to/infisical/backend make test-real
      (an Infisical checkout's backend/ folder or a .tar.gz of it; needs node 20, npm,
      PostgreSQL 15 and redis-server; or set it for make test to include it)."
fi
