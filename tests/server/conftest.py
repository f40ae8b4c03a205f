"""Every server a test starts is stopped when the test ends, whatever happened."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.helpers import Server


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Any]:
    started: list[Server] = []

    def start(*args: str, workdir: Path | None = None, wait: bool = True, **options: Any) -> Server:
        server = Server(workdir or tmp_path, None, *args, **options)
        started.append(server)
        return server.wait_listening() if wait else server

    yield start
    for server in started:
        if server.process.poll() is None:
            server.kill9()
