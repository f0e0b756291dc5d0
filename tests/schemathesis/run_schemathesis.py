"""Runs schemathesis (from its own virtualenv, .venv-schemathesis) against a running gateway's
own OpenAPI schema, and says whether it found a 5xx or a response that breaks the schema.

Two runs, because the API has two kinds of credentials: every operation with a partner's API
key, except the operator's, and the operator's (``/v1/operator/...``) with the operator token.
Customer-token routes (``/v1/me``) are exercised with the partner key, i.e. their 401 path.
Checks: not_a_server_error, response_schema_conformance, content_type_conformance,
status_code_conformance (every status answered is documented). Bounded: a few examples per
operation, and a timeout per run.

    python -m tests.schemathesis.run_schemathesis http://127.0.0.1:8000 --partner-key ck_... --operator-token ...
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ST = ROOT / ".venv-schemathesis" / "bin" / "st"
CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance"
OPERATOR_PATHS = "^/v1/operator/"


@dataclass(frozen=True)
class RunResult:
    name: str
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run(
    name: str,
    url: str,
    token: str,
    *,
    include_path_regex: str | None = None,
    exclude_path_regex: str | None = None,
    max_examples: int = 8,
    timeout_s: float = 80,
    seed: int = 4361,
) -> RunResult:
    """One schemathesis run; a timeout counts as a failure (the run must stay bounded)."""
    args = [
        str(ST), "run", f"{url}/openapi.json",
        "--header", f"Authorization: Bearer {token}",
        "--checks", CHECKS,
        "--max-examples", str(max_examples),
        "--phases", "examples,coverage,fuzzing",
        "--seed", str(seed),
        "--workers", "1",  # CPython 3.11 ast.parse is not thread-safe (hypothesis calls it)
        "--request-timeout", "20",
        "--no-color",
        "--suppress-health-check", "all",
        "--generation-database", "none",
    ]  # fmt: skip
    if include_path_regex:
        args += ["--include-path-regex", include_path_regex]
    if exclude_path_regex:
        args += ["--exclude-path-regex", exclude_path_regex]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, cwd=ROOT)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return RunResult(name, -1, f"timed out after {timeout_s} s\n{out}")
    return RunResult(name, done.returncode, done.stdout + done.stderr)


def run_all(url: str, partner_key: str, operator_token: str, **options: object) -> list[RunResult]:
    return [
        run("partner", url, partner_key, exclude_path_regex=OPERATOR_PATHS, **options),  # type: ignore[arg-type]
        run("operator", url, operator_token, include_path_regex=OPERATOR_PATHS, **options),  # type: ignore[arg-type]
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--partner-key", required=True)
    parser.add_argument("--operator-token", required=True)
    parser.add_argument("--max-examples", type=int, default=8)
    options = parser.parse_args()
    results = run_all(options.url, options.partner_key, options.operator_token, max_examples=options.max_examples)
    for result in results:
        print(f"== {result.name}: exit {result.returncode}\n{result.output}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
