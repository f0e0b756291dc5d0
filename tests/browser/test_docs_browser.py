"""The API reference works without internet, and a partner's developer can use it as it is: on
the real stack (tests/e2e/stack.py), Debian's chromium with every request to another host
refused (tests/browser/docs_browse.py) renders every operation in /docs and in /redoc, and
"Try it out" on POST /v1/purchases, with the partner key given to "Authorize" and the example
body unchanged, answers 202. Screenshots in reports/screenshots/.

Ports: 8860-8869.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from network.deployments import PROJECT_ROOT
from tests.browser.chromium import BROWSER_PYTHON, CHROMIUM, NEEDS_CHROMIUM, SHOTS
from tests.e2e.stack import start_stack

pytestmark = NEEDS_CHROMIUM


def test_docs_render_every_operation_offline_and_the_example_purchase_is_accepted(tmp_path: Path) -> None:
    with start_stack(tmp_path, ports=range(8860, 8870), workers=0, beat=False) as stack:
        partner = stack.onboard("Docs reader")
        spec = stack.http.get("/openapi.json").json()
        operations = sum(len(item) for item in spec["paths"].values())
        # Swagger UI shows an operation once under each of its tags
        listed = sum(len(set(op.get("tags") or ["default"])) for item in spec["paths"].values() for op in item.values())
        run = subprocess.run(
            [str(BROWSER_PYTHON), str(PROJECT_ROOT / "tests/browser/docs_browse.py"), "--url", stack.url,
             "--partner-key", partner.api_key, "--shots", str(SHOTS), "--chromium", CHROMIUM],
            capture_output=True, text=True, timeout=150, cwd=PROJECT_ROOT,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-4000:]
        seen = json.loads(run.stdout)
        purchase_id = seen["example_body"]["purchase_id"]
        stored = stack.http.get(f"/v1/purchases/{purchase_id}", headers=partner.headers)

    assert seen["refused"] == [], "the pages asked another host for something"
    # the one thing the pages would fetch from outside, ReDoc's vendor badge, is refused by the page's CSP
    assert [e for e in seen["console_errors"] if "cdn.redoc.ly/redoc/logo-mini.svg" not in e] == []
    assert "/docs/assets/swagger-ui-5.35.0/swagger-ui-bundle.js" in seen["loaded"]
    assert "/docs/assets/redoc-2.5.4/redoc.standalone.js" in seen["loaded"]
    assert seen["swagger_operations"] == listed + len(spec["webhooks"])
    assert seen["swagger_webhooks"] >= 1
    assert seen["swagger_locked_operations"] == sum(
        len(set(op.get("tags") or ["default"]))
        for item in spec["paths"].values()
        for op in item.values()
        if op.get("security")
    )
    assert seen["redoc_menu_items"] >= operations
    assert seen["example_body"] == spec["components"]["schemas"]["PurchaseCreate"]["examples"][0]
    assert seen["try_it_out_status"] == "202", seen["try_it_out_body"]
    assert stored.status_code == 200 and stored.json()["purchase_id"] == purchase_id
    assert seen["problem_heading"] == "The request is not valid" and "errors" in seen["problem_fix"]
