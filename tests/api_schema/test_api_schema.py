"""The API against its own OpenAPI description: Schemathesis generates requests from /api/v1/openapi.json for
every operation (examples, coverage, fuzzing and stateful phases, every check) and sends them, with a real API
token, to a real gunicorn server on 127.0.0.1. Any 5xx, any answer the description does not list (status,
content type, body schema), any valid request refused or invalid one accepted fails the test.

The run (tests/api_schema/run.py) starts in the background as soon as the tests are collected and this test,
placed last, waits for it. SCHEMA_RUN_SEED=N repeats a run (the default is fixed, so CI runs the same cases every
time); a failure prints Schemathesis's report, with a `curl` line per finding.
"""

import pytest

from tests.api_schema.run import PHASES, SEED, SchemaRun

OPERATIONS = {
    ("POST", "/predictions"),
    ("GET", "/predictions"),
    ("GET", "/predictions/{id}"),
    ("DELETE", "/predictions/{id}"),
    ("POST", "/predictions/{id}/feedback"),
    ("DELETE", "/predictions/{id}/feedback"),
}
CASES_PER_OPERATION = 1000

pytestmark = pytest.mark.slow


def test_every_api_operation_keeps_to_its_description(request):
    run = request.config.schema_run or SchemaRun().start()  # started by tests/conftest.py, or now
    outcome = run.result()
    run.stop()
    assert not outcome.error, f"{outcome.error}\nserver log:\n{outcome.server_log}"
    assert outcome.returncode == 0, f"seed {SEED}:\n{outcome.output[-12000:]}"
    assert outcome.server_survived, f"the server died during the run:\n{outcome.server_log}"
    print(f"{PHASES}: " + next(line for line in outcome.output.splitlines() if "generated" in line).strip())
    print(
        f"schema run, seed {SEED}, {outcome.seconds:.0f} s: "
        + ", ".join(f"{method} {path}: {outcome.counts[method, path]}" for method, path in sorted(OPERATIONS))
    )
    assert all(outcome.counts[operation] >= CASES_PER_OPERATION for operation in OPERATIONS), outcome.counts
