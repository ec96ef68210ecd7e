"""Without ../shared (the Venice OpenAPI spec) the tests that need it skip, naming the file; under CI they fail."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NEEDS_SPEC = "tests/integration/test_fake_venice.py::test_unknown_model_type_is_a_validation_error"
# Uses the default fake Venice, which validates when the spec exists and otherwise does not.
USES_FAKE = (
    "tests/integration/test_chat_service.py::test_requests_carry_the_installed_version_in_the_user_agent"
)


def _pytest(tmp_path: Path, *, ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["VENICE_OPENAPI_SPEC"] = str(tmp_path / "shared" / "venice" / "openapi.yaml")
    if ci:
        env["CI"] = "true"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rsfE", NEEDS_SPEC, USES_FAKE]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_without_the_spec_tests_skip_and_say_which_file_is_missing(tmp_path: Path) -> None:
    result = _pytest(tmp_path, ci=False)
    assert result.returncode == 0, result.stdout + result.stderr
    missing = tmp_path / "shared" / "venice" / "openapi.yaml"
    assert f"Venice OpenAPI spec not found at {missing}" in result.stdout
    assert "1 passed, 1 skipped" in result.stdout
    assert "Venice OpenAPI spec MISSING: tests that need it are skipped" in result.stdout


def test_under_ci_a_missing_spec_fails_loudly_naming_the_file(tmp_path: Path) -> None:
    result = _pytest(tmp_path, ci=True)
    assert result.returncode == 1, result.stdout + result.stderr
    missing = tmp_path / "shared" / "venice" / "openapi.yaml"
    assert f"ERROR {NEEDS_SPEC} - Failed: Venice OpenAPI spec not found at {missing}" in result.stdout
    assert (
        f"ERROR {USES_FAKE} - tests.fakes.openapi.SpecNotFoundError: Venice OpenAPI spec not found at {missing}"
        in result.stdout
    )
    assert "skipped" not in result.stdout and "2 errors" in result.stdout
    assert "Venice OpenAPI spec MISSING: tests that need it fail (CI is set)" in result.stdout
