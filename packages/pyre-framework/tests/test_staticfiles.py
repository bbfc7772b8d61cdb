"""StaticFiles: served through a framework route and as a pyre-spec app, and no way out of its directory."""

from __future__ import annotations

import gzip
import os
import pathlib
from typing import Any

import pytest

from pyre.framework import App
from pyre.framework.staticfiles import StaticFiles
from pyre.framework.testing import TestClient
from pyre.spec.testing import Driver

NOT_FOUND = b'{"detail":"Not Found"}'

# Each is the part of a target after the prefix; none may reach anything outside public/.
TRAVERSALS = [
    "../secret.txt",
    "..%2fsecret.txt",
    "..%2Fsecret.txt",
    "%2e%2e/secret.txt",
    "%2E%2E%2Fsecret.txt",
    ".%2e/secret.txt",
    "sub/../../secret.txt",
    "sub%2F..%2F..%2Fsecret.txt",
    "..%5Csecret.txt",
    "sub%5C..%5C..%5Csecret.txt",
    "hello.txt%00",
    "hello.txt%00.png",
    "%00",
    "%C0%AE%C0%AE/secret.txt",
    "%C0%AE%C0%AE%C0%AFsecret.txt",
    "%E0%80%AE%E0%80%AE/secret.txt",
    "/etc/passwd",
    "%2Fetc%2Fpasswd",
    "%2F..%2Fsecret.txt",
    "sub//index.html",
    "link-out.txt",
    "dir-out/key.txt",
    "sub/index-out/",
    ".",
    "..",
    "%2e",
    "%2e%2e",
]


@pytest.fixture
def tree(tmp_path: pathlib.Path) -> pathlib.Path:
    """``public/`` to serve, with secrets next to it and symlinks leading to them."""
    public = tmp_path / "public"
    (public / "sub" / "index-out").mkdir(parents=True)
    (public / "hello.txt").write_text("hello")
    (public / "style.css").write_text("p {}")
    (public / "index.html").write_text("<p>home</p>")
    (public / "sub" / "index.html").write_text("<p>sub</p>")
    (public / "a\\b.txt").write_text("backslash")  # a plain name on POSIX, refused all the same
    (tmp_path / "secret.txt").write_text("secret")
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "key.txt").write_text("key")
    (public / "link-in.txt").symlink_to("hello.txt")
    (public / "link-out.txt").symlink_to(tmp_path / "secret.txt")
    (public / "dir-out").symlink_to(tmp_path / "private")
    (public / "sub" / "index-out" / "index.html").symlink_to(tmp_path / "secret.txt")
    os.mkfifo(public / "fifo")
    return public


def framework_client(files: StaticFiles, pattern: str = "/static/{path:path}") -> TestClient:
    app = App()
    app.add_endpoint(pattern, files.endpoint, name="static")
    app.add_endpoint("/static/", files.index, name="static-index")
    return TestClient(app)


async def _through_spec_app(files: StaticFiles, rest: str) -> tuple[int, bytes]:
    async with Driver(files) as driver:
        response = await driver.request("GET", b"/" + rest.encode())
    return response.status, response.body


@pytest.mark.parametrize("rest", TRAVERSALS)
@pytest.mark.parametrize("follow_symlink", [False, True])
async def test_no_traversal_through_the_spec_app(tree: pathlib.Path, rest: str, follow_symlink: bool) -> None:
    files = StaticFiles(tree, html=True, follow_symlink=follow_symlink)
    if follow_symlink and rest.startswith(("link-out", "dir-out", "sub/index-out")):
        return  # served on purpose: see test_follow_symlink_serves_what_links_lead_to
    status, body = await _through_spec_app(files, rest)
    assert (status, body) == (404, NOT_FOUND)


@pytest.mark.parametrize("rest", TRAVERSALS)
@pytest.mark.parametrize("pattern", ["/static/{path:path}", "/static/{path:path(unsafe=True)}"])
def test_no_traversal_through_a_framework_route(tree: pathlib.Path, rest: str, pattern: str) -> None:
    # With unsafe=True the router lets dot segments, backslashes and NUL through: StaticFiles still refuses.
    client = framework_client(StaticFiles(tree, html=True), pattern)
    response = client.get(f"/static/{rest}")
    assert response.status_code == 404
    assert b"secret" not in response.content
    assert b"key" not in response.content


async def test_raw_targets_that_are_not_a_path_under_the_directory(tree: pathlib.Path) -> None:
    files = StaticFiles(tree)
    async with Driver(files) as driver:
        for target in [b"//etc/passwd", b"/\xff", b"/hello.txt\xff", b"*", b"/%C0%AE%C0%AE%C0%AFsecret.txt"]:
            response = await driver.request("GET", target)
            assert (response.status, response.body) == (404, NOT_FOUND), target


def test_a_backslash_is_refused_even_where_it_names_a_file(tree: pathlib.Path) -> None:
    client = framework_client(StaticFiles(tree), "/static/{path:path(unsafe=True)}")
    assert client.get("/static/a%5Cb.txt").status_code == 404


def test_serves_a_file_with_validators_and_ranges(tree: pathlib.Path) -> None:
    client = framework_client(StaticFiles(tree))
    response = client.get("/static/hello.txt")
    assert response.status_code == 200
    assert response.content == b"hello"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers.get("last-modified")
    etag = response.headers["etag"]
    assert client.get("/static/hello.txt", headers={"if-none-match": etag}).status_code == 304
    partial = client.get("/static/hello.txt", headers={"range": "bytes=1-3"})
    assert (partial.status_code, partial.content) == (206, b"ell")
    assert partial.headers["content-range"] == "bytes 1-3/5"
    head = client.head("/static/style.css")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-type"].startswith("text/css")


async def test_the_spec_app_serves_a_file_with_validators_and_ranges(tree: pathlib.Path) -> None:
    async with Driver(StaticFiles(tree)) as driver:
        response = await driver.request("GET", b"/hello.txt")
        assert (response.status, response.body) == (200, b"hello")
        etag = response.headers["etag"]
        again = await driver.request("GET", b"/hello.txt", headers=[(b"if-none-match", etag.encode())])
        assert again.status == 304
        partial = await driver.request("GET", b"/hello.txt", headers=[(b"range", b"bytes=-2")])
        assert (partial.status, partial.body) == (206, b"lo")


def test_percent_encoded_names_are_decoded(tree: pathlib.Path) -> None:
    (tree / "café menu.txt").write_text("menu")
    client = framework_client(StaticFiles(tree))
    assert client.get("/static/caf%C3%A9%20menu.txt").content == b"menu"


def test_a_symlink_inside_the_directory_is_served(tree: pathlib.Path) -> None:
    assert framework_client(StaticFiles(tree)).get("/static/link-in.txt").content == b"hello"


async def test_follow_symlink_serves_what_links_lead_to(tree: pathlib.Path) -> None:
    files = StaticFiles(tree, html=True, follow_symlink=True)
    assert await _through_spec_app(files, "link-out.txt") == (200, b"secret")
    assert await _through_spec_app(files, "dir-out/key.txt") == (200, b"key")
    assert await _through_spec_app(files, "../secret.txt") == (404, NOT_FOUND)


def test_missing_files_and_directories_without_html_are_404(tree: pathlib.Path) -> None:
    client = framework_client(StaticFiles(tree))
    for rest in ["missing.txt", "sub", "sub/", "hello.txt/", "hello.txt/x", "fifo"]:
        assert client.get(f"/static/{rest}").status_code == 404, rest
    assert client.get("/static/").status_code == 404


def test_html_serves_index_html_and_redirects_to_the_slash(tree: pathlib.Path) -> None:
    client = framework_client(StaticFiles(tree, html=True))
    home = client.get("/static/")
    assert (home.status_code, home.content) == (200, b"<p>home</p>")
    assert home.headers["content-type"] == "text/html; charset=utf-8"
    assert client.get("/static/sub/").content == b"<p>sub</p>"
    redirect = client.get("/static/sub")
    assert redirect.status_code == 307
    assert redirect.headers["location"] == "sub/"  # relative: /static/sub -> /static/sub/


async def test_the_spec_app_serves_its_root_index(tree: pathlib.Path) -> None:
    assert await _through_spec_app(StaticFiles(tree, html=True), "") == (200, b"<p>home</p>")
    assert await _through_spec_app(StaticFiles(tree), "") == (404, NOT_FOUND)


async def test_only_get_and_head(tree: pathlib.Path) -> None:
    async with Driver(StaticFiles(tree)) as driver:
        for method in ["POST", "PUT", "DELETE", "OPTIONS"]:
            response = await driver.request(method, b"/hello.txt")
            assert response.status == 405, method
            assert response.headers["allow"] == "GET, HEAD"
        head = await driver.request("HEAD", b"/hello.txt")
        assert head.status == 200
    refused = framework_client(StaticFiles(tree)).post("/static/hello.txt")
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, HEAD, OPTIONS"


def test_a_route_that_lets_other_methods_through_still_gets_405(tree: pathlib.Path) -> None:
    files = StaticFiles(tree)
    app = App()
    app.add_endpoint("/static/{path:path}", files.endpoint, methods=["GET", "POST"])
    response = TestClient(app).post("/static/hello.txt")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


def test_loops_long_names_and_no_segments_are_404(tree: pathlib.Path) -> None:
    (tree / "loop1").symlink_to("loop2")
    (tree / "loop2").symlink_to("loop1")
    files = StaticFiles(tree)
    client = framework_client(files)
    for rest in ["loop1", "a" * 5000, f"{'a' * 300}/b"]:
        assert client.get(f"/static/{rest}").status_code == 404
    assert files.response_for([]) is None


def test_the_directory_must_exist(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError):
        StaticFiles(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        StaticFiles(tmp_path / "file")


def test_a_symlinked_directory_is_served_from_where_it_leads(
    tmp_path: pathlib.Path, tree: pathlib.Path
) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(tree)
    client = framework_client(StaticFiles(alias))
    assert client.get("/static/hello.txt").content == b"hello"
    assert client.get("/static/link-out.txt").status_code == 404


# -- html=True's 404.html ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rest", ["missing.txt", "sub/missing/", "../secret.txt", "%2e%2e/secret.txt", "fifo"]
)
async def test_html_answers_what_is_not_found_with_404_html(tree: pathlib.Path, rest: str) -> None:
    (tree / "404.html").write_text("<p>lost</p>")
    files = StaticFiles(tree, html=True)
    async with Driver(files) as driver:
        response = await driver.request("GET", b"/" + rest.encode())
    assert (response.status, response.body) == (404, b"<p>lost</p>")
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    if "2e" in rest or ".." in rest:
        return  # through a route, the router refuses dot segments before StaticFiles sees them
    through_route = framework_client(files).get(f"/static/{rest}")
    assert (through_route.status_code, through_route.content) == (404, b"<p>lost</p>")


async def test_404_html_is_a_404_even_when_asked_with_validators_and_ranges(tree: pathlib.Path) -> None:
    (tree / "404.html").write_text("<p>lost</p>")
    async with Driver(StaticFiles(tree, html=True)) as driver:
        for field in [(b"range", b"bytes=0-1"), (b"if-none-match", b"*")]:
            response = await driver.request("GET", b"/missing", headers=[field])
            assert (response.status, response.body) == (404, b"<p>lost</p>"), field


async def test_404_html_only_with_html_and_never_from_outside(
    tmp_path: pathlib.Path, tree: pathlib.Path
) -> None:
    (tree / "404.html").write_text("<p>lost</p>")
    assert await _through_spec_app(StaticFiles(tree), "missing") == (404, NOT_FOUND)
    (tree / "404.html").unlink()
    (tree / "404.html").symlink_to(tmp_path / "secret.txt")
    assert await _through_spec_app(StaticFiles(tree, html=True), "missing") == (404, NOT_FOUND)


# -- precompressed siblings -----------------------------------------------------------------------------


@pytest.fixture
def compressed(tree: pathlib.Path, tmp_path: pathlib.Path) -> pathlib.Path:
    """``app.css`` with ``.br`` and ``.gz`` siblings, ``only.js`` with ``.gz``, and a ``.br`` leading out."""
    (tree / "app.css").write_bytes(b"body { color: red }")
    (tree / "app.css.br").write_bytes(b"BROTLI-BYTES")
    (tree / "app.css.gz").write_bytes(gzip.compress(b"body { color: red }", mtime=0))
    (tree / "only.js").write_bytes(b"let x = 1")
    (tree / "only.js.gz").write_bytes(gzip.compress(b"let x = 1", mtime=0))
    (tree / "out.txt").write_bytes(b"plain")
    (tree / "out.txt.br").symlink_to(tmp_path / "secret.txt")
    (tree / "dir.txt").write_bytes(b"plain")
    (tree / "dir.txt.gz").mkdir()
    return tree


async def _get(files: StaticFiles, path: bytes, *fields: tuple[bytes, bytes]) -> Any:
    async with Driver(files) as driver:
        return await driver.request("GET", path, headers=list(fields))


@pytest.mark.parametrize(
    ("accept", "encoding", "body_start"),
    [
        (b"br, gzip", "br", b"BROTLI"),
        (b"gzip, br", "br", b"BROTLI"),  # Brotli is preferred when both are taken
        (b"gzip", "gzip", b"\x1f\x8b"),
        (b"br;q=0, gzip", "gzip", b"\x1f\x8b"),
        (b"*", "br", b"BROTLI"),
        (b"identity", None, b"body"),
        (b"br;q=0, gzip;q=0", None, b"body"),
    ],
)
async def test_a_precompressed_sibling_is_served_when_accepted(
    compressed: pathlib.Path, accept: bytes, encoding: str | None, body_start: bytes
) -> None:
    response = await _get(StaticFiles(compressed), b"/app.css", (b"accept-encoding", accept))
    assert response.status == 200
    assert response.body.startswith(body_start)
    assert response.headers.get("content-encoding") == encoding
    assert response.headers["vary"] == "accept-encoding"
    assert response.headers["content-type"] == "text/css; charset=utf-8"


async def test_without_accept_encoding_the_file_itself_still_says_it_varies(compressed: pathlib.Path) -> None:
    response = await _get(StaticFiles(compressed), b"/app.css")
    assert (response.status, response.body) == (200, b"body { color: red }")
    assert "content-encoding" not in response.headers
    assert response.headers["vary"] == "accept-encoding"
    plain = await _get(StaticFiles(compressed), b"/hello.txt", (b"accept-encoding", b"br, gzip"))
    assert "vary" not in plain.headers  # no sibling: nothing varies
    assert "content-encoding" not in plain.headers


async def test_each_encoding_has_its_own_etag_and_ranges_count_its_bytes(compressed: pathlib.Path) -> None:
    files = StaticFiles(compressed)
    etags = {
        accept: (await _get(files, b"/app.css", (b"accept-encoding", accept))).headers["etag"]
        for accept in (b"br", b"gzip", b"identity")
    }
    assert len(set(etags.values())) == 3
    partial = await _get(files, b"/app.css", (b"accept-encoding", b"br"), (b"range", b"bytes=0-5"))
    assert (partial.status, partial.body) == (206, b"BROTLI")
    assert partial.headers["content-range"] == "bytes 0-5/12"
    assert partial.headers["content-encoding"] == "br"
    # The br ETag does not validate the gzip bytes.
    again = await _get(
        files, b"/app.css", (b"accept-encoding", b"gzip"), (b"if-none-match", etags[b"br"].encode())
    )
    assert again.status == 200
    same = await _get(
        files, b"/app.css", (b"accept-encoding", b"br"), (b"if-none-match", etags[b"br"].encode())
    )
    assert same.status == 304


async def test_siblings_that_lead_out_or_are_not_files_are_ignored(compressed: pathlib.Path) -> None:
    files = StaticFiles(compressed)
    out = await _get(files, b"/out.txt", (b"accept-encoding", b"br"))
    assert (out.status, out.body) == (200, b"plain")
    assert "content-encoding" not in out.headers
    directory = await _get(files, b"/dir.txt", (b"accept-encoding", b"gzip"))
    assert (directory.status, directory.body) == (200, b"plain")
    assert "content-encoding" not in directory.headers


def test_precompressed_through_a_framework_route_and_for_index_html(compressed: pathlib.Path) -> None:
    (compressed / "index.html.gz").write_bytes(gzip.compress(b"<p>home</p>", mtime=0))
    client = framework_client(StaticFiles(compressed, html=True))
    js = client.get("/static/only.js", headers={"accept-encoding": "gzip"})
    assert (js.headers["content-encoding"], gzip.decompress(js.content)) == ("gzip", b"let x = 1")
    assert js.headers["content-type"].startswith("text/javascript")
    home = client.get("/static/", headers={"accept-encoding": "gzip"})
    assert gzip.decompress(home.content) == b"<p>home</p>"
    assert home.headers["content-type"] == "text/html; charset=utf-8"


async def test_a_compressed_file_asked_by_its_own_name_is_labelled_as_what_it_is(
    compressed: pathlib.Path,
) -> None:
    # Not text/css: the bytes are gzip data, sent without a Content-Encoding.
    response = await _get(StaticFiles(compressed), b"/app.css.gz", (b"accept-encoding", b"gzip"))
    assert response.status == 200
    assert response.headers["content-type"] == "application/gzip"
    assert "content-encoding" not in response.headers
    brotli = await _get(StaticFiles(compressed), b"/app.css.br")
    assert brotli.headers["content-type"] == "application/octet-stream"


def test_mounted_precompressed_files_404_html_and_traversals(compressed: pathlib.Path) -> None:
    (compressed / "404.html").write_text("<p>lost</p>")
    app = App()
    app.mount("/static", StaticFiles(compressed, html=True))
    client = TestClient(app)
    css = client.get("/static/app.css", headers={"accept-encoding": "gzip"})
    assert (css.status_code, css.headers["content-encoding"]) == (200, "gzip")
    assert gzip.decompress(css.content) == b"body { color: red }"
    assert css.headers["vary"] == "accept-encoding"
    assert client.get("/static/").content == b"<p>home</p>"
    for rest in ["missing.css", *TRAVERSALS]:
        response = client.get(f"/static/{rest}")
        assert response.status_code == 404, rest
        assert b"secret" not in response.content
        assert b"key" not in response.content
