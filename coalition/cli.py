"""The ``coalition`` command: run a local coalition and operate it.

    coalition up | down | status
    coalition demo [--exit]
    coalition partner add|list|suspend
    coalition settle | reconcile

Configured like every other process, from ``COALITION_*`` variables (gateway/settings.py);
pid files and logs live in ``COALITION_STATE_DIR`` (``.state``).
"""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import httpx
import redis
import typer
from rich.console import Console
from rich.table import Table
from web3 import HTTPProvider, Web3

from coalition.demo import DemoOptions, run_demo
from coalition.processes import LocalNetwork, NetworkError
from gateway.settings import GatewaySettings
from network.store import IndexerCheckpoint, open_store

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
partner_app = typer.Typer(help="Partners, over the operator API", no_args_is_help=True)
app.add_typer(partner_app, name="partner")
# Piped or logged (no terminal), rich would wrap to 80 columns and cut the statement's figures.
console = Console(width=None if sys.stdout.isatty() else 140)


def _settings() -> GatewaySettings:
    return GatewaySettings()


def _operator(method: str, path: str, **kw: Any) -> Any:
    settings = _settings()
    headers = {"Authorization": f"Bearer {settings.operator_token}"}
    try:
        r = httpx.request(method, settings.public_url.rstrip("/") + path, headers=headers, timeout=60, **kw)
    except httpx.TransportError as exc:
        console.print(f"[red]the gateway at {settings.public_url} does not answer ({exc}); run `coalition up`[/red]")
        raise typer.Exit(2) from exc
    if r.is_error:
        console.print(f"[red]{method} {path}: {r.status_code}[/red] {r.text}")
        raise typer.Exit(1)
    return r.json()


def _print_urls(net: LocalNetwork) -> None:
    console.print(f"gateway   {net.url}\nAPI docs  {net.url}/docs\ndashboard {net.url}/dashboard")
    console.print(f"chain     {net.settings.rpc_url} (chain id {net.settings.chain_id})\nredis     {net.redis_url}")


@app.command()
def up(workers: Annotated[int, typer.Option(min=1, max=8, help="Celery worker processes")] = 2) -> None:
    """Start anvil (deploying the contracts if needed), Redis, the workers, beat and the gateway."""
    net = LocalNetwork(_settings(), workers=workers)
    try:
        with console.status("starting…") as status:
            started = net.up(lambda name: status.update(f"starting {name}…"))
    except NetworkError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"started: {', '.join(started)}" if started else "already up")
    _print_urls(net)


@app.command()
def down() -> None:
    """Stop every process `up` or `demo` started (also after a crash: the pid files name them)."""
    stopped = LocalNetwork(_settings()).down(lambda name: console.print(f"stopping {name}"))
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@app.command()
def status() -> None:
    """Processes, chain head, the indexer's checkpoint, the queues."""
    settings = _settings()
    net = LocalNetwork(settings)
    table = Table(title="processes")
    for column in ("name", "pid", "port", "log"):
        table.add_column(column)
    for item in net.running().values():
        table.add_row(item.name, str(item.pid), str(item.port or ""), str(item.log))
    console.print(table)
    try:
        head = Web3(HTTPProvider(settings.rpc_url, request_kwargs={"timeout": 2})).eth.block_number
        console.print(f"chain head: block {head}")
    except Exception as exc:
        console.print(f"chain: not answering ({type(exc).__name__})")
    try:
        sessions = open_store(settings.database_url)
        with sessions() as session:
            cp = session.get(IndexerCheckpoint, (settings.chain_id, "coalition"))
        console.print(f"indexer checkpoint: block {cp.block_number if cp else 'none yet'}")
        sessions.kw["bind"].dispose()
    except Exception as exc:
        console.print(f"store: {type(exc).__name__}: {exc}")
    try:
        client = redis.Redis.from_url(net.redis_url, socket_connect_timeout=1)
        console.print("queues: " + ", ".join(f"{q} {client.llen(q)}" for q in ("earn", "celery")))
    except redis.RedisError as exc:
        console.print(f"redis: not answering ({exc})")


@app.command()
def demo(
    exit_: Annotated[bool, typer.Option("--exit", help="Stop after the statement (and stop what it started)")] = False,
    purchases: Annotated[int, typer.Option(min=3, max=100_000)] = 300,
    customers: Annotated[int, typer.Option(min=2, max=10_000, help="half self-custody, half custodial")] = 12,
    refunds: Annotated[int, typer.Option(min=0)] = 8,
    redemptions: Annotated[int, typer.Option(min=0)] = 30,
    workers: Annotated[int, typer.Option(min=1, max=8)] = 2,
) -> None:
    """A month of a living coalition: three partners, customers, purchases, refunds,
    redemptions across partners; the month settled and checked twice."""
    options = DemoOptions(
        purchases=purchases,
        self_custody=customers - customers // 2,
        custodial=customers // 2,
        refunds=refunds,
        redemptions=redemptions,
        workers=workers,
        exit_after=exit_,
    )
    start = time.monotonic()
    try:
        ok = run_demo(_settings(), options, console)
    except NetworkError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"demo took {time.monotonic() - start:.0f} s")
    raise typer.Exit(0 if ok else 1)


@partner_app.command("add")
def partner_add(
    name: str,
    treasury: str,
    points_per_unit: Annotated[str, typer.Option()] = "1",
    currency: Annotated[str, typer.Option()] = "EUR",
    issue_price: Annotated[int, typer.Option(help="cUSD base units per point issued")] = 10_000,
    reimbursement_rate: Annotated[int, typer.Option(help="cUSD base units per point redeemed")] = 8_000,
    issuance_limit: Annotated[int, typer.Option()] = 10**15,
    deposit: Annotated[int, typer.Option(help="local chains: test funds deposited, cUSD base units")] = 0,
) -> None:
    """Onboard a partner; prints its API key (shown once)."""
    body = {
        "name": name,
        "treasury": treasury,
        "currency": currency,
        "points_per_unit": points_per_unit,
        "issue_price": issue_price,
        "reimbursement_rate": reimbursement_rate,
        "issuance_limit": issuance_limit,
        "deposit": deposit,
    }
    created = _operator("POST", "/v1/operator/partners", json=body)
    console.print(f"partner #{created['id']} {created['name']}; minter {created['minter']}")
    console.print(f"API key (shown once): [bold]{created['api_key']}[/bold]")


@partner_app.command("list")
def partner_list() -> None:
    """Partners and their status."""
    rows = _operator("GET", "/v1/operator/partners")
    table = Table(title="partners")
    columns = ("id", "name", "status", "points_per_unit", "issue_price", "reimbursement_rate")
    for column in columns:
        table.add_column(column)
    for p in rows:
        table.add_row(*(str(p.get(c, "")) for c in columns))
    console.print(table)


@partner_app.command("suspend")
def partner_suspend(partner_id: int) -> None:
    """Suspend a partner (on chain first): it can no longer issue points."""
    p = _operator("POST", f"/v1/operator/partners/{partner_id}/suspend")
    console.print(f"partner #{p['id']} {p['name']}: {p.get('status', 'suspended')}")


@app.command()
def settle(wait: Annotated[bool, typer.Option(help="wait until settled")] = True) -> None:
    """Close the period now and settle it on chain."""
    period = _operator("POST", "/v1/operator/settlements")
    while wait and period["status"] not in ("settled", "failed"):
        time.sleep(0.5)
        period = _operator("GET", f"/v1/operator/settlements/{period['period_id']}")
    console.print(
        f"period {period['period_id']} (blocks {period['from_block']}-{period['to_block']}): {period['status']}"
    )
    if period["status"] == "settled":
        console.print(f"operator net {period.get('operator_net')}; statement {period['statement_url']}")


@app.command()
def reconcile() -> None:
    """Compare the store with the chain now and print the differences."""
    report = _operator("POST", "/v1/operator/reconciliations")
    console.print_json(data=report)


def main() -> None:
    app()
