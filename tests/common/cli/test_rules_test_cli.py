"""`cep rules test` and `cep rules apply --test` as an operator runs them: offline, no gateway and no token."""

from __future__ import annotations

from pathlib import Path

from tests.common.cli.cep_process import ROOT, cep, cep_in_process

FILES = Path(__file__).parent / "rule_test_files"
EXAMPLE_TESTS = ROOT / "examples" / "rulepack.tests.yaml"
UNREACHABLE = {"CEP_URL": "http://127.0.0.1:9", "CEP_TOKEN": "cep_unused"}  # any request would be exit 3


def test_the_example_tests_pass_offline() -> None:
    result = cep({}, "rules", "test", str(EXAMPLE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASS  ") == 3 and result.stdout.rstrip().endswith("3 passed, 0 failed")
    assert result.stderr == ""


def test_a_failing_case_prints_its_truth_table_and_exits_1() -> None:
    result = cep({}, "rules", "test", str(FILES / "failing.tests.yaml"))
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert "FAIL  a warning pages" in out and "PASS  a critical error pages" in out
    assert "expected: an event of critical_error {group key 'service=api'} open at +10s" in out
    assert "truth table of critical_error" in out
    assert "severity == 'critical'" in out and 'false ("warning")' in out
    assert "Traceback" not in result.stderr and out.rstrip().endswith("1 passed, 1 failed")


def test_a_malformed_file_names_its_fields_and_exits_2() -> None:
    result = cep({}, "rules", "test", str(FILES / "malformed.tests.yaml"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "tests.0.input_series.0.values: cannot read the value 'then'" in result.stderr
    assert "tests.0.expect.0.rule: no rule named 'critical_cpus'" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_apply_with_failing_tests_sends_nothing() -> None:
    """In this process (the subprocess runs above prove the command itself): a request would be exit 3."""
    pack = str(ROOT / "examples" / "rulepack.yaml")
    failing = cep_in_process(
        UNREACHABLE, "rules", "apply", "-f", pack, "--yes", "--test", str(FILES / "failing.tests.yaml")
    )
    assert failing.returncode == 1, failing.stderr
    assert "not applied: the rule tests failed" in failing.stderr and "cannot reach" not in failing.stderr
    passing = cep_in_process(UNREACHABLE, "rules", "apply", "-f", pack, "--yes", "--test", str(EXAMPLE_TESTS))
    assert passing.returncode == 3, passing.stderr  # the tests passed, so it went on to the (unreachable) gateway
    assert "3 passed, 0 failed" in passing.stdout
    malformed = cep_in_process(UNREACHABLE, "rules", "apply", "-f", pack, "--test", str(FILES / "malformed.tests.yaml"))
    assert malformed.returncode == 2 and "tests.0.expect.0.rule" in malformed.stderr


def test_a_file_that_is_missing_or_not_yaml_is_a_usage_error(tmp_path: Path) -> None:
    missing = cep_in_process({}, "rules", "test", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr and "nope.yaml" in missing.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("tests: [name: {", encoding="utf-8")
    not_yaml = cep_in_process({}, "rules", "test", str(broken))
    assert not_yaml.returncode == 2 and "is not valid YAML" in not_yaml.stderr
    empty = tmp_path / "empty.yaml"
    empty.write_text("rules: []\n", encoding="utf-8")
    no_tests = cep_in_process({}, "rules", "test", str(empty))
    assert no_tests.returncode == 2 and "tests:" in no_tests.stderr, no_tests.stderr
