"""Settings by concern (chain, workers, API), each read in one place, and one override that every
reader honours: the getters, what is made from settings (the chain handle, Redis, the store's
sessions), the enqueue module. One rule for the Redis URL; the address book's folder from the
settings, not from os.environ. And the enqueue module names only tasks that exist."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway import connections, enqueue
from gateway.settings import GatewaySettings, WorkerSettings, get_settings, get_worker_settings, redis_url
from network.settings import ChainSettings, PerSettings, get_chain_settings, override_settings
from tests.stores import migrated_store

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh() -> Iterator[None]:
    """Every concern read again from the environment before and after the test."""
    get_settings.cache_clear()
    connections.redis_client.cache_clear()
    yield
    get_settings.cache_clear()
    connections.redis_client.cache_clear()


def test_unit_an_override_is_what_every_getter_and_everything_made_from_settings_sees(
    tmp_path: Path, fresh: None
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    migrated_store(url).kw["bind"].dispose()
    made: list[ChainSettings] = []
    chain_like = PerSettings(get_chain_settings, lambda s: made.append(s) or len(made))
    before = chain_like()
    mine = GatewaySettings(mode="local", database_url=url, redis_url="redis://127.0.0.1:1/3")
    with override_settings(mine):
        assert get_settings() is mine and get_worker_settings() is mine and get_chain_settings() is mine
        assert chain_like() == before + 1 and made[-1] is mine  # made again, from the override
        assert chain_like() == before + 1  # once per settings object
        assert str(connections.get_sessions().kw["bind"].url) == url
        assert connections.redis_client().connection_pool.connection_kwargs["port"] == 1
    assert get_chain_settings() is not mine and get_settings() is not mine
    assert chain_like() == before + 2 and made[-1] is get_chain_settings()  # the environment's again


def test_unit_a_narrower_override_leaves_the_wider_concerns_to_the_environment(fresh: None) -> None:
    workers = WorkerSettings(mode="local", redis_port=6401)
    with override_settings(workers):
        assert get_worker_settings() is workers and get_chain_settings() is workers
        assert get_settings() is not workers and isinstance(get_settings(), GatewaySettings)
        assert connections.redis_client().connection_pool.connection_kwargs["port"] == 6401


def test_unit_each_concern_is_read_once_until_the_environment_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh: None
) -> None:
    assert get_settings() is get_settings() and get_worker_settings() is get_worker_settings()
    assert get_chain_settings() is get_chain_settings()
    monkeypatch.setenv("COALITION_DEPLOYMENTS_DIR", str(tmp_path / "books"))
    assert get_chain_settings().deployments_dir != tmp_path / "books"  # cached: not read again
    get_chain_settings.cache_clear()  # every concern
    assert get_chain_settings().deployments_dir == tmp_path / "books"
    assert get_settings().deployments_dir == tmp_path / "books"


def test_unit_the_redis_url_has_one_rule() -> None:
    assert redis_url(WorkerSettings(mode="local", redis_port=6400)) == "redis://127.0.0.1:6400/0"
    assert redis_url(WorkerSettings(mode="local", redis_url="redis://r:1/2")) == "redis://r:1/2"
    rpc = {"mode": "rpc", "chain_id": 5, "secrets_key": "s" * 40}
    assert redis_url(WorkerSettings(**rpc)) is None
    assert redis_url(WorkerSettings(**rpc, redis_url="redis://r:1/2")) == "redis://r:1/2"


def test_unit_the_workers_settings_do_not_need_the_apis_secrets() -> None:
    rpc = {"mode": "rpc", "chain_id": 5, "secrets_key": "s" * 40}
    WorkerSettings(**rpc)  # no operator token, no public URL
    with pytest.raises(ValueError, match="COALITION_OPERATOR_TOKEN"):
        GatewaySettings(**rpc, public_url="https://gw.example.com")


def test_unit_the_enqueue_module_names_only_registered_tasks() -> None:
    from gateway.tasks.app import EARN_QUEUE, celery_app

    celery_app.loader.import_default_modules()
    names = [
        enqueue.DRAIN_PARTNER,
        enqueue.DELIVER_WEBHOOK,
        enqueue.PUBLISH_WEBHOOKS,
        enqueue.SETTLE_PERIOD,
        enqueue.PROCESS_REDEMPTION,
    ]
    assert [n for n in names if n not in celery_app.tasks] == []
    assert celery_app.conf.task_routes[enqueue.DRAIN_PARTNER]["queue"] == EARN_QUEUE


def test_unit_the_enqueue_module_sends_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.tasks.app import celery_app

    sent: list[tuple[str, tuple[object, ...], dict[str, object]]] = []
    monkeypatch.setattr(celery_app, "send_task", lambda name, args, **options: sent.append((name, args, options)))
    enqueue.deliver_webhooks([7, 8])
    enqueue.deliver_webhook(9, countdown=30)
    assert enqueue.settle_period(3) is True
    assert enqueue.process_redemption(4) is True
    assert sent == [
        (enqueue.DELIVER_WEBHOOK, (7,), {"countdown": None}),
        (enqueue.DELIVER_WEBHOOK, (8,), {"countdown": None}),
        (enqueue.DELIVER_WEBHOOK, (9,), {"countdown": 30}),
        (enqueue.SETTLE_PERIOD, (3,), {}),
        (enqueue.PROCESS_REDEMPTION, (4,), {"retry": True, "retry_policy": enqueue.REDEMPTION_RETRY}),
    ]


def test_unit_no_service_or_route_imports_a_task_module() -> None:
    """Services and routes enqueue through gateway/enqueue.py only (imports inside functions too)."""
    found = []
    for path in [*ROOT.glob("gateway/services/*.py"), *ROOT.glob("gateway/routes/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            found += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.startswith("gateway.tasks")]
    assert found == []
