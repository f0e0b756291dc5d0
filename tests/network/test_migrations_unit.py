"""The models and the migrations agree (what ``alembic check`` checks, and a little more).

An empty SQLite store is migrated to head by the real migrations, then Alembic's autogenerate
compares it with the metadata of ``network.store.Base`` (every table the code maps): no table,
column, index, constraint, type or server default may differ. A model changed without its
migration, or a migration that leaves the schema other than the models say, fails here.
"""

from __future__ import annotations

from pathlib import Path
from pprint import pformat
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from network.store import Base, head_revision, make_engine, migrate
from network.store.engine import current_revision


def _differences(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_a_store_migrated_to_head_is_what_the_models_say(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    migrate(url)
    engine = make_engine(url)
    try:
        assert current_revision(engine) == head_revision()
        tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()
    assert tables == set(Base.metadata.tables), "every mapped table is made by the migrations, and no other"
    differences = _differences(url)
    assert differences == [], pformat(differences)


def test_the_comparison_sees_a_store_that_lags_the_models(tmp_path: Path) -> None:
    """The check can fail: a store one migration behind head differs from the models."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    migrate(url, "head-1")
    assert _differences(url) != []
