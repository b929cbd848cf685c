"""The OpenAPI document, fuzzed against a live server with schemathesis: for a bounded number of generated requests
per operation, no answer is a 5xx and every answer matches what the document says (status and body schema).

The cases are drawn with Hypothesis from each operation's strategy (schemathesis' pytest plugin doesn't run under
pytest 9 yet); every operation is tried, and the failures of all of them are reported together."""
import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from serve_support import FIXTURES, prepare, settings, zip_folder
from server_fixture import running_server

EXAMPLES = 15  # generated requests per operation and mode (45 operations, 2 modes): a bounded run, about a minute
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    "A server holding a deployment with every scalar type (echoed back), and a token."
    tmp = tmp_path_factory.mktemp("fuzz")
    token = prepare(tmp / "data", zip_folder(FIXTURES / "typed", tmp / "typed.zip"), "typed")
    with running_server(settings(tmp / "data", workers=2, worker_log=tmp / "workers.log")) as url:
        yield url, token


def _fuzz(operation, mode: GenerationMode, url: str, token: str):
    @hypothesis.settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(hypothesis.HealthCheck), phases=[hypothesis.Phase.generate])
    @hypothesis.given(case=operation.as_strategy(mode))
    def run(case):
        case.call_and_validate(base_url=url, headers={"Authorization": f"Token {token}"}, timeout=60, checks=CHECKS)
    run()


def test_no_5xx_and_answers_match_the_document(fuzzed):
    url, token = fuzzed
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40 and any("/deployments/typed/requests" in op.path for op in operations)
    failures = []
    for op in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):  # what the document allows, and what not
            try:
                _fuzz(op, mode, url, token)
            except hypothesis.errors.Unsatisfiable:  # no parameters, no body: nothing to get wrong
                assert mode is GenerationMode.NEGATIVE
            except Exception as e:  # one operation's failure must not hide another's
                failures.append(f"{op.method.upper()} {op.path} ({mode}): {type(e).__name__}: {str(e)[:600]}")
    assert not failures, "\n\n".join(failures)
