"""FileResponse and forms on a real App: the app completes FileResponse with the request."""

from __future__ import annotations

import pathlib
from typing import Any

from pyre import framework
from pyre.framework import App, Request
from pyre.framework.datastructures import UploadFile
from pyre.framework.responses import FileResponse
from pyre.framework.testing import AsyncTestClient

CONTENT = b"0123456789" * 100


class Files(framework.Blueprint):
    def __init__(self, directory: pathlib.Path) -> None:
        self.directory = directory

    @framework.endpoint("/file", methods=["GET"])
    async def file(self) -> FileResponse:
        return FileResponse(self.directory / "data.txt")

    @framework.endpoint("/upload", methods=["POST"])
    async def upload(self, request: Request) -> dict[str, object]:
        form = await request.body.form()
        upload = form["doc"]
        assert isinstance(upload, UploadFile)
        return {
            "title": form["title"],
            "filename": upload.filename,
            "content": (await upload.read()).decode(),
        }


def make_app(directory: pathlib.Path) -> App[Any]:
    (directory / "data.txt").write_bytes(CONTENT)
    app = App()
    app.add_blueprint(Files(directory))
    return app


async def test_file_response_conditionals_and_ranges_through_the_app(tmp_path: pathlib.Path) -> None:
    async with AsyncTestClient(make_app(tmp_path)) as client:
        full = await client.get("/file")
        assert (full.status_code, full.content) == (200, CONTENT)
        etag = full.headers["etag"]
        cached = await client.get("/file", headers={"If-None-Match": etag})
        assert (cached.status_code, cached.content) == (304, b"")
        part = await client.get("/file", headers={"Range": "bytes=10-19"})
        assert (part.status_code, part.content) == (206, CONTENT[10:20])
        assert part.headers["content-range"] == "bytes 10-19/1000"
        head = await client.head("/file")
        assert head.headers["etag"] == etag


async def test_multipart_upload_through_the_app(tmp_path: pathlib.Path) -> None:
    async with AsyncTestClient(make_app(tmp_path)) as client:
        response = await client.post(
            "/upload",
            data={"title": "Report"},
            files={"doc": ("report.txt", b"hello\r\nworld", "text/plain")},
        )
    assert response.status_code == 200
    assert response.json() == {"title": "Report", "filename": "report.txt", "content": "hello\r\nworld"}


async def test_form_errors_become_client_errors(tmp_path: pathlib.Path) -> None:
    async with AsyncTestClient(make_app(tmp_path)) as client:
        wrong_type = await client.post("/upload", json={"title": "x"})
        broken = await client.post(
            "/upload",
            content=b"--b\r\nnope\r\n\r\n",
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        )
    assert wrong_type.status_code == 415
    assert broken.status_code == 400
