"""docs/framework/settings.md's pattern runs as written: its app module and its test (pydantic-settings)."""

from __future__ import annotations

import pathlib
import re
import sys
from types import ModuleType
from typing import Any

import pydantic
import pytest

from pyre.framework.testing import TestClient

PAGE = pathlib.Path(__file__).resolve().parents[3] / "docs" / "framework" / "settings.md"


def _blocks() -> list[str]:
    if not PAGE.exists():
        pytest.skip("docs/framework is not part of this checkout")
    return re.findall(r"```py\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)


@pytest.fixture
def settings_app(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The page's first block, importable as ``settings_app``, run from an empty directory."""
    (tmp_path / "settings_app.py").write_text(_blocks()[0])
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    for name in ("TODO_SECRET_KEYS", "TODO_DEBUG", "TODO_DATABASE_URL", "TODO_PAGE_SIZE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "settings_app", raising=False)
    import settings_app

    return settings_app


def test_the_pages_own_test_passes(settings_app: ModuleType) -> None:
    namespace: dict[str, Any] = {}
    exec(_blocks()[1], namespace)
    namespace["test_info"]()


def test_settings_come_from_the_environment(
    settings_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TODO_SECRET_KEYS", '["new", "old"]')
    monkeypatch.setenv("TODO_PAGE_SIZE", "20")
    with TestClient(settings_app.create_app()) as client:
        assert client.get("/info").json() == {"debug": False, "page_size": 20}
    settings = settings_app.Settings()
    assert "new" not in repr(settings)  # SecretStr hides the keys
    assert [key.get_secret_value() for key in settings.secret_keys] == ["new", "old"]


def test_a_dotenv_file_is_read(settings_app: ModuleType, tmp_path: pathlib.Path) -> None:
    (tmp_path / ".env").write_text('TODO_SECRET_KEYS=["from-dotenv"]\nTODO_DEBUG=true\n')
    assert settings_app.Settings().debug is True


def test_a_missing_or_invalid_variable_fails_at_startup(
    settings_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(pydantic.ValidationError, match="secret_keys"):
        settings_app.create_app()
    monkeypatch.setenv("TODO_SECRET_KEYS", '["k"]')
    monkeypatch.setenv("TODO_PAGE_SIZE", "many")
    with pytest.raises(pydantic.ValidationError, match="page_size"):
        settings_app.create_app()
