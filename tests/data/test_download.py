"""Downloading public BEIR datasets, against a local HTTP server serving tiny zips."""

from __future__ import annotations

import functools
import http.server
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from aptrank.data import download_beir, load_dataset
from aptrank.data.download import beir_url
from aptrank.errors import DataError

from .beir_fixtures import write_beir


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A server on 127.0.0.1 for the folder it yields, set as ``$APTRANK_BEIR_URL``."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("APTRANK_BEIR_URL", f"http://127.0.0.1:{httpd.server_address[1]}/beir/")
    yield root / "beir"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _zip_folder(folder: Path, archive: Path, prefix: str) -> None:
    """Zip ``folder``'s files under ``prefix`` (``"scifact/"`` as in the BEIR zips, or ``""``)."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, prefix + path.relative_to(folder).as_posix())


def test_beir_url_defaults_to_the_ukp_server(monkeypatch: pytest.MonkeyPatch) -> None:
    assert beir_url("scifact") == (
        "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/scifact.zip"
    )
    monkeypatch.setenv("APTRANK_BEIR_URL", "http://mirror/x/")
    assert beir_url("fiqa") == "http://mirror/x/fiqa.zip"


def test_a_public_name_is_downloaded_once_into_the_cache(
    tmp_path: Path, server: Path, isolated_paths: Path
) -> None:
    _zip_folder(write_beir(tmp_path / "src"), server / "scifact.zip", "scifact/")
    ds = load_dataset("scifact")
    target = isolated_paths / "datasets" / "scifact"
    assert (ds.name, ds.path) == ("scifact", str(target))
    assert ds.qrels == {"q1": {"d1": 1, "d2": 0}, "q2": {"d3": 2}}
    assert sorted(p.name for p in target.parent.iterdir()) == ["scifact"]  # no temporary left
    (server / "scifact.zip").unlink()  # now found in the cache, not downloaded again
    assert load_dataset("scifact").corpus == ds.corpus


def test_a_zip_with_files_at_its_root(tmp_path: Path, server: Path) -> None:
    _zip_folder(write_beir(tmp_path / "src"), server / "fiqa.zip", "")
    folder = download_beir("fiqa", tmp_path / "dest")
    assert folder == tmp_path / "dest" / "fiqa"
    assert sorted(p.name for p in folder.iterdir()) == ["corpus.jsonl", "qrels", "queries.jsonl"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "could not download http://127.0.0.1:"),
        (b"<html>not a zip</html>", "the downloaded file is not a zip archive"),
        ("empty-zip", "the archive holds no BEIR folder"),
    ],
)
def test_download_failures_leave_nothing_behind(
    tmp_path: Path, server: Path, content: bytes | str | None, expected: str
) -> None:
    if content == "empty-zip":
        server.mkdir()
        zipfile.ZipFile(server / "nq.zip", "w").writestr("nq/README", "no data")
    elif isinstance(content, bytes):
        server.mkdir()
        (server / "nq.zip").write_bytes(content)
    with pytest.raises(DataError, match=expected):
        download_beir("nq", tmp_path / "dest")
    assert list((tmp_path / "dest").iterdir()) == []


def test_a_missing_file_is_an_http_error(server: Path) -> None:
    with pytest.raises(
        DataError, match=r"could not download http://127\.0\.0\.1:\d+/beir/nq\.zip: HTTP 404"
    ):
        load_dataset("nq")


def test_offline_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("APTRANK_BEIR_URL", f"http://127.0.0.1:{port}")
    with pytest.raises(DataError) as err:
        load_dataset("arguana")
    assert str(err.value).startswith(f"could not download http://127.0.0.1:{port}/arguana.zip: ")
    assert "offline?" in str(err.value)


def test_only_known_names_are_downloaded(tmp_path: Path) -> None:
    with pytest.raises(
        DataError, match="'cqadupstack' is not a public BEIR dataset; known: arguana"
    ):
        download_beir("cqadupstack", tmp_path)
