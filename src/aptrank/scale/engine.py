"""Which engine runs the heavy batch loops, and the loop-facing call: :func:`map_batches`.

A heavy loop (corpus encoding, teacher labelling, synthetic-query generation) cuts its work into
batches and hands them to :func:`map_batches` together with two descriptions of one function:
``local``, called in this process (what the loop always did), and a :class:`Remote`, from which a
Ray actor rebuilds the same function (``setup`` once per actor: it loads the model; ``call`` per
batch). Results come back to the caller, which alone writes them (caches, the label store,
generation files), so both engines see the same batches, give the same outputs and resume each
other's work at batch granularity.

The engine is a per-process setting read from the environment, which the CLI's ``--engine`` and
``--ray-address`` set (:func:`use_engine`; :func:`engine` scopes it in a ``with`` block):

==========================  ==========================================================
``APTRANK_ENGINE``          ``local`` (default) or ``ray``
``APTRANK_RAY_ADDRESS``     a Ray cluster's address (``auto``, ``host:6379``,
                            ``ray://host:10001``); unset: start Ray on this machine
``APTRANK_RAY_CPUS``        CPUs of a Ray started on this machine (default: all)
``APTRANK_RAY_WORKERS``     actors per job (default: the cluster's CPUs / worker CPUs,
                            at most one per batch)
``APTRANK_RAY_WORKER_CPUS`` CPUs per actor (default 1; its torch threads)
``APTRANK_RAY_WORKER_GPUS`` GPUs per actor (default 0)
==========================  ==========================================================

Nothing here imports Ray: the local engine runs without the ``aptrank[scale]`` extra.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from typing import Any, Generic, TypeVar

from aptrank.errors import AptrankError, MissingDependencyError

logger = logging.getLogger(__name__)

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")

ENGINES = ("local", "ray")

#: EngineConfig field -> environment variable
_ENV = {
    "engine": "APTRANK_ENGINE",
    "address": "APTRANK_RAY_ADDRESS",
    "cpus": "APTRANK_RAY_CPUS",
    "workers": "APTRANK_RAY_WORKERS",
    "worker_cpus": "APTRANK_RAY_WORKER_CPUS",
    "worker_gpus": "APTRANK_RAY_WORKER_GPUS",
}


@dataclass(frozen=True)
class EngineConfig:
    """Where batches run (see the module doc for the environment variables behind each field)."""

    engine: str = "local"  #: local (this process) or ray
    address: str | None = None  #: a Ray cluster to join; None: start Ray on this machine
    cpus: int | None = None  #: CPUs of a Ray started here (None: all of them)
    workers: int | None = None  #: actors per job (None: as many as the cluster's CPUs allow)
    worker_cpus: float = 1.0  #: CPUs reserved per actor (its torch threads)
    worker_gpus: float = 0.0  #: GPUs reserved per actor

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise AptrankError(f"unknown engine {self.engine!r}: choose local or ray")
        if self.worker_cpus <= 0 or self.worker_gpus < 0 or (self.workers or 1) < 1:
            raise AptrankError("Ray workers need worker_cpus > 0, worker_gpus >= 0, workers >= 1")

    @classmethod
    def from_env(cls) -> EngineConfig:
        """The engine this process is set to use.

        >>> EngineConfig.from_env().engine in ENGINES
        True
        """
        values: dict[str, Any] = {}
        for name, var in _ENV.items():
            raw = os.environ.get(var, "").strip()
            if raw:
                try:
                    values[name] = _KINDS.get(name, str)(raw)
                except ValueError:
                    raise AptrankError(f"{var}={raw!r} is not a number") from None
        if "engine" in values:
            values["engine"] = values["engine"].lower()
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The environment variables that select this config (unset fields map to "")."""
        return {_ENV[k]: "" if v is None else str(v) for k, v in asdict(self).items()}


_KINDS: dict[str, Callable[[str], Any]] = {
    "cpus": int,
    "workers": int,
    "worker_cpus": float,
    "worker_gpus": float,
}


def current_engine() -> EngineConfig:
    """The engine :func:`map_batches` uses now."""
    return EngineConfig.from_env()


def require_ray() -> None:
    """Raise :class:`MissingDependencyError` (naming ``aptrank[scale]``) unless Ray Data imports."""
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError:
        raise MissingDependencyError("--engine ray", "ray[data]", "scale") from None


def _select(config: EngineConfig) -> EngineConfig:
    if config.address and config.engine != "ray":
        raise AptrankError("--ray-address needs --engine ray")
    if config.engine == "ray":
        require_ray()
    for var, value in config.to_env().items():
        if value:
            os.environ[var] = value
        else:
            os.environ.pop(var, None)
    return config


def use_engine(engine: str = "local", address: str | None = None) -> EngineConfig:
    """Select ``engine`` for this process (and the processes it starts); returns the config.

    Asking for ``ray`` checks that Ray is installed first, so the error comes before any work.
    The worker settings (``APTRANK_RAY_WORKERS`` ...) keep their environment values.
    """
    return _select(replace(current_engine(), engine=engine, address=address))


@contextmanager
def engine(engine: str = "local", address: str | None = None, **settings: Any) -> Iterator[None]:
    """Run the block on ``engine`` (``settings``: other :class:`EngineConfig` fields), then
    restore the previous setting."""
    saved = {var: os.environ.get(var) for var in _ENV.values()}
    try:
        _select(replace(current_engine(), engine=engine, address=address, **settings))
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def _given(value: S) -> S:
    return value


def constant(value: S) -> Callable[[], S]:
    """A picklable ``setup`` that hands every actor a copy of ``value`` (an object whose model
    loads lazily, such as a teacher)."""
    return partial(_given, value)


@dataclass(frozen=True)
class Remote(Generic[S, T, R]):
    """How a Ray actor rebuilds a loop's function: ``call(setup(), task)``.

    Both must pickle (module-level functions, ``functools.partial``, plain objects); ``setup``
    runs once per actor, so the model loads once per actor, not once per batch.
    """

    setup: Callable[[], S]
    call: Callable[[S, T], R]


@dataclass(frozen=True)
class JobStats:
    """What one :func:`map_batches` call cost (kept in :func:`job_history`)."""

    name: str
    engine: str
    batches: int
    workers: int
    wall_s: float  #: first batch handed over to last result handled, start-up included
    compute_s: float  #: time spent inside ``call``/``local``, summed over batches
    driver_s: float  #: time the caller spent on results (writing them), summed
    init_s: float = 0.0  #: starting or joining Ray (0 when it was already up)
    startup_s: float = 0.0  #: job submitted -> first actor ready (process, imports, model)
    #: each batch's compute time, in the order the results arrived
    batch_s: tuple[float, ...] = field(default=(), repr=False)
    #: when each result reached the caller, in seconds since the batches were submitted
    arrival_s: tuple[float, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        rounded = {k: [round(s, 4) for s in getattr(self, k)] for k in ("batch_s", "arrival_s")}
        return {**asdict(self), **rounded}


_HISTORY: deque[JobStats] = deque(maxlen=256)


def job_history() -> list[JobStats]:
    """The jobs this process ran, oldest first (the last 256)."""
    return list(_HISTORY)


def record(stats: JobStats) -> None:
    _HISTORY.append(stats)
    logger.info(
        "%s on %s: %d batches, %d worker(s), %.1f s (compute %.1f s)",
        stats.name,
        stats.engine,
        stats.batches,
        stats.workers,
        stats.wall_s,
        stats.compute_s,
    )


class Tally:
    """The bookkeeping both engines share: each batch's compute time, when its result reached
    the caller, and the time the caller spent on it; :meth:`record` turns it into a
    :class:`JobStats` (nothing is recorded for a job that finished no batch)."""

    def __init__(self, start: float) -> None:
        self.start = start  #: ``time.perf_counter()`` when the batches were handed over
        self.times: list[float] = []
        self.arrivals: list[float] = []
        self.driver = 0.0

    def arrived(self, seconds: float) -> float:
        """A result arrived that took ``seconds`` to compute; returns the arrival time."""
        handed = time.perf_counter()
        self.times.append(seconds)
        self.arrivals.append(handed - self.start)
        return handed

    def handled(self, handed: float) -> None:
        """The caller is done with the result that arrived at ``handed``."""
        self.driver += time.perf_counter() - handed

    def record(self, name: str, engine: str, workers: int, began: float, **extra: float) -> None:
        if not self.times:
            return
        record(
            JobStats(
                name=name,
                engine=engine,
                batches=len(self.times),
                workers=workers,
                wall_s=time.perf_counter() - began,
                compute_s=sum(self.times),
                driver_s=self.driver,
                batch_s=(*self.times,),
                arrival_s=(*self.arrivals,),
                **extra,
            )
        )


def _run_local(tasks: Iterable[T], local: Callable[[T], R], name: str) -> Iterator[tuple[T, R]]:
    start = time.perf_counter()
    tally = Tally(start)
    try:
        for task in tasks:
            began = time.perf_counter()
            result = local(task)
            handed = tally.arrived(time.perf_counter() - began)
            yield task, result
            tally.handled(handed)
    finally:
        tally.record(name, "local", 1, start)


def map_batches(
    tasks: Iterable[T],
    local: Callable[[T], R],
    remote: Remote[Any, T, R],
    name: str = "batches",
    ordered: bool = False,
) -> Iterator[tuple[T, R]]:
    """``(task, result)`` for every task, on the current engine.

    Locally, ``local(task)`` runs task by task as the caller consumes (``tasks`` may be a lazy
    iterator, and nothing is loaded before the first task). On Ray, ``tasks`` is read whole,
    then each task runs on an actor built from ``remote``; results arrive as they finish
    (``ordered=True``: in task order). Whatever the engine, the caller alone writes results,
    one at a time, so stopping it (an exception, a kill) loses no result it has written.
    """
    config = current_engine()
    if config.engine == "local":
        return _run_local(tasks, local, name)
    from aptrank.scale.ray_engine import run_on_ray

    return run_on_ray(list(tasks), local, remote, name, config, ordered)
