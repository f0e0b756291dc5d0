"""The ``coalition`` command: run a local coalition and operate it.

    coalition up | down | status
    coalition demo [--exit]
    coalition partner add|list|show|fund|suspend|reactivate|rerate
    coalition settle | reconcile

Configured like every other process, from ``COALITION_*`` variables (gateway/settings.py);
pid files and logs live in ``COALITION_STATE_DIR`` (``.state``). Money is shown and typed in the
settlement token's units (cUSD), dates in the local time zone, named.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import redis
import typer
from rich.table import Table
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from web3 import HTTPProvider, Web3

from coalition import api, partner_commands
from coalition.api import ExitCode, console
from coalition.demo import DemoOptions, print_statement, run_demo
from coalition.formats import Token, money, net, when
from coalition.processes import LocalNetwork, NetworkError
from gateway.settings import GatewaySettings
from network.store import IndexerCheckpoint

app = typer.Typer(
    help="Run a local coalition loyalty network and operate it. Money is shown and typed in the settlement "
    "token's units (cUSD), dates in the local time zone. " + api.EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(partner_commands.app, name="partner")


def _network(settings: GatewaySettings, **kw: Any) -> LocalNetwork:
    try:
        return LocalNetwork(settings, **kw)
    except NetworkError as exc:
        api.fail(ExitCode.REFUSED, str(exc))


def _print_urls(net: LocalNetwork) -> None:
    console.print(f"gateway   {net.url}\nAPI docs  {net.url}/docs\ndashboard {net.url}/dashboard")
    console.print(f"chain     {net.settings.rpc_url} (chain id {net.settings.chain_id})\nredis     {net.redis_url}")


@app.command()
def up(
    workers: Annotated[int, typer.Option(min=1, max=8, help="Celery worker processes (each runs 2 threads)")] = 2,
) -> None:
    """Start anvil (deploying the contracts if needed), Redis, the workers, beat and the gateway."""
    net = _network(api.settings(), workers=workers)
    try:
        with console.status("starting…") as status:
            started = net.up(lambda name: status.update(f"starting {name}…"))
    except NetworkError as exc:
        api.fail(ExitCode.REFUSED, str(exc))
    console.print(f"started: {', '.join(started)}" if started else "already up")
    _print_urls(net)


@app.command()
def down() -> None:
    """Stop every process `up` or `demo` started (also after a crash: the pid files name them)."""
    stopped = _network(api.settings()).down(lambda name: console.print(f"stopping {name}"))
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


def _checkpoint(settings: GatewaySettings) -> str:
    """The indexer's checkpoint, read without creating or migrating the store."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).exists()):
        return f"store: none yet ({url.database})"
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            cp = session.get(IndexerCheckpoint, (settings.chain_id, "coalition"))
        return f"indexer checkpoint: block {cp.block_number if cp else 'none yet'}"
    except SQLAlchemyError as exc:
        return f"store: cannot be read ({type(exc).__name__})"
    finally:
        engine.dispose()


@app.command()
def status() -> None:
    """Processes, chain head, the indexer's checkpoint, the queues. Exits 3 when the network is
    not running (nothing, or only part of it); creates nothing."""
    settings = api.settings()
    net = _network(settings)
    running = net.running()
    if not running:
        api.fail(
            ExitCode.NOT_RUNNING,
            f"nothing runs: no process of this network is running (pid files in {net.run_dir}). "
            "Start it with `coalition up`.",
        )
    table = Table(title="processes")
    for column in ("name", "pid", "port", "log"):
        table.add_column(column)
    for item in running.values():
        table.add_row(item.name, str(item.pid), str(item.port or ""), str(item.log))
    console.print(table)
    try:
        head = Web3(HTTPProvider(settings.rpc_url, request_kwargs={"timeout": 2})).eth.block_number
        console.print(f"chain head: block {head:,}")
    except Exception as exc:
        console.print(f"chain: not answering ({type(exc).__name__})")
    console.print(_checkpoint(settings))
    try:
        client = redis.Redis.from_url(net.redis_url, socket_connect_timeout=1)
        console.print("queues: " + ", ".join(f"{q} {client.llen(q)}" for q in ("earn", "celery")))
    except redis.RedisError as exc:
        console.print(f"redis: not answering ({exc})")
    if not net.is_up():
        expected = ("anvil", "gateway", "beat") if settings.redis_url else ("anvil", "redis", "gateway", "beat")
        missing = [n for n in expected if n not in running]
        missing += [] if any(n.startswith("worker") for n in running) else ["workers"]
        api.fail(
            ExitCode.NOT_RUNNING,
            f"incomplete: not running: {', '.join(missing)}. `coalition up` starts what is missing.",
        )


@app.command()
def demo(
    exit_: Annotated[bool, typer.Option("--exit", help="Stop after the statement (and stop what it started)")] = False,
    purchases: Annotated[int, typer.Option(min=3, max=100_000, help="purchases posted over the month")] = 300,
    customers: Annotated[
        int, typer.Option(min=2, max=10_000, help="customers: half self-custody wallets, half custodial")
    ] = 12,
    refunds: Annotated[int, typer.Option(min=0, help="purchases refunded (partly or fully)")] = 8,
    redemptions: Annotated[int, typer.Option(min=0, help="rewards redeemed, across partners")] = 30,
    workers: Annotated[int, typer.Option(min=1, max=8, help="Celery worker processes, if it starts them")] = 2,
) -> None:
    """A month of a living coalition: three partners, customers, purchases, refunds,
    redemptions across partners; the month settled and checked twice. Exits 1 if a check fails."""
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
        ok = run_demo(api.settings(), options, console)
    except NetworkError as exc:
        api.fail(ExitCode.REFUSED, str(exc))
    console.print(f"demo took {time.monotonic() - start:.0f} s")
    raise typer.Exit(ExitCode.OK if ok else ExitCode.REFUSED)


@app.command()
def settle(
    wait: Annotated[
        bool, typer.Option(help="wait until the period is settled on chain, and print its statement")
    ] = True,
) -> None:
    """Close the period now and settle it on chain. Exits 1 if there is nothing to settle or the
    settlement failed."""
    period = api.call("POST", "/v1/operator/settlements")
    while wait and period["status"] not in ("settled", "failed"):
        time.sleep(0.5)
        period = api.call("GET", f"/v1/operator/settlements/{period['period_id']}")
    console.print(
        f"period {period['period_id']} (blocks {period['from_block']:,}-{period['to_block']:,}): {period['status']}"
    )
    if period["status"] == "failed":
        api.fail(ExitCode.REFUSED, f"the settlement failed: {period.get('error')}")
    if period["status"] != "settled":
        console.print(f"settling on chain; follow it: {period['status_url']}")
        return
    statement = period["statement"]
    token = Token(statement["token"]["symbol"], int(statement["token"]["decimals"]))
    names = {p["id"]: p["name"] for p in api.call("GET", "/v1/operator/partners")}
    print_statement(console, period, names)
    operator_net = int(statement["operator_net"])
    console.print(
        f"operator net {net(operator_net, token)} "
        f"({'the operator receives it' if operator_net >= 0 else 'the operator pays it'}); "
        f"settled {when(period['settled_at']) if period.get('settled_at') else ''}; statement {period['statement_url']}"
    )


@app.command()
def reconcile() -> None:
    """Compare the store with the chain now and print the differences. Exits 1 if there are any."""
    report = api.call("POST", "/v1/operator/reconciliations")
    verdict = "[green]store and chain agree[/green]" if report["ok"] else "[bold red]DIFFERENCES[/bold red]"
    console.print(
        f"reconciliation #{report['id']} at block {report['block_number']:,} ({when(report['created_at'])}): "
        f"{verdict}; {report['customers_checked']:,} customers and {report['partners_checked']:,} partners "
        f"checked; {int(report['total_supply']):,} points in circulation"
    )
    if report["differences"]:
        token = api.settlement_token()
        table = Table(title="differences between the store and the chain")
        for column in ("what", "whose", "store", "chain"):
            table.add_column(column, justify="right" if column in ("store", "chain") else "left")
        for d in report["differences"]:
            in_money = d["kind"] in ("exposure", "pending-credit")
            store, chain = (
                money(int(d[k]), token) if in_money else f"{int(d[k]):,} points" for k in ("store", "chain")
            )
            whose = d.get("customer") or (f"partner #{d['partner_id']}" if "partner_id" in d else "everyone")
            table.add_row(d["kind"], whose, store, chain)
        console.print(table)
        raise typer.Exit(ExitCode.REFUSED)


def main() -> None:
    app()
