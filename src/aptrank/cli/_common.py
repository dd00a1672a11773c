"""What every command shares: the console, logging, progress bars and the error boundary."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

console = Console(stderr=True)
out = Console()

#: --engine and --ray-address, on every command that encodes a corpus, labels or generates
ENGINE_OPTION = typer.Option(
    "local",
    "--engine",
    envvar="APTRANK_ENGINE",
    help="Where corpus encoding, teacher labelling and query generation run: local (this "
    "process) or ray (Ray Data actors; needs aptrank[scale]). Same outputs, same caches.",
)
RAY_ADDRESS_OPTION = typer.Option(
    None,
    "--ray-address",
    envvar="APTRANK_RAY_ADDRESS",
    help="With --engine ray: the cluster to join (auto, host:6379); default: start Ray here.",
)


def set_engine(engine: str, ray_address: str | None) -> None:
    """Select the engine of :mod:`aptrank.scale` for this command (fails first if Ray is
    missing, in one line naming the install)."""
    from aptrank.scale import use_engine

    use_engine(engine.lower(), ray_address)


def quiet_libraries() -> None:
    """Silence the model libraries' own progress bars and load reports (ours replace them)."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TQDM_DISABLE", "1")


def setup_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_time=False, show_path=verbose)],
        force=True,
    )
    for noisy in ("transformers", "sentence_transformers", "httpx", "bm25s"):
        logging.getLogger(noisy).setLevel(logging.ERROR if not verbose else logging.WARNING)


def default_out(kind: str, dataset: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{kind}-{Path(dataset).name or 'dataset'}-{stamp}"


@contextmanager
def progress_bars(enabled: bool = True) -> Iterator[Callable[[str], Callable[[int, int], None]]]:
    """A progress factory: each description gets a bar (created on first update) with ETA."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled or not console.is_terminal,
        transient=False,
    )

    def factory(description: str) -> Callable[[int, int], None]:
        task: list[Any] = []
        printed = [-1]

        def update(done: int, total: int) -> None:
            if not task:
                task.append(progress.add_task(description, total=total))
            progress.update(task[0], completed=done, total=total)
            if enabled and not console.is_terminal:  # a log file: a line every 10 %
                tenth = 10 * done // max(total, 1)
                if tenth > printed[0]:
                    printed[0] = tenth
                    say(f"{description}: {done}/{total}")

        return update

    with progress:
        yield factory


def say(message: str) -> None:
    """A status line on stderr, printed as is (pipeline strings hold brackets rich would eat)."""
    console.print(message, markup=False, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> None:
    """Print one line and exit: the CLI's answer to bad input."""
    from rich.markup import escape

    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)
