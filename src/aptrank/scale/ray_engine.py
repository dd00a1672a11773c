"""The Ray engine: a job's batches as one Ray Data ``map_batches`` over an actor pool.

Every task is pickled into one row of its own block, so batches are dispatched one at a time
and each result streams back to the driver as soon as it is computed. An actor runs
``remote.setup()`` once (the model loads once per actor) and then ``remote.call`` per batch; it
returns the result with the time the call took and writes nothing. The driver writes.

This is the only module that imports Ray (the ``aptrank[scale]`` extra).
"""

from __future__ import annotations

import logging
import os
import pickle
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from aptrank.errors import AptrankError
from aptrank.scale.engine import EngineConfig, Remote, Tally, require_ray

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: environment passed to the workers when set here: what changes how models load and run, and no
#: paths (a node keeps its own APTRANK_CACHE and HF_HOME for its copies of the models)
WORKER_ENV = (
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "APTRANK_DEVICE",
    "TOKENIZERS_PARALLELISM",
    "TRANSFORMERS_VERBOSITY",
    "TQDM_DISABLE",
    "HF_HUB_DISABLE_PROGRESS_BARS",
)


def connect(config: EngineConfig) -> float:
    """Join the cluster at ``config.address``, or start Ray here; seconds it took (0 if up)."""
    require_ray()
    import ray

    if ray.is_initialized():
        return 0.0
    start = time.perf_counter()
    env = {k: os.environ[k] for k in WORKER_ENV if k in os.environ}
    local = not config.address
    ray.init(
        address=config.address or "local",
        num_cpus=config.cpus if local else None,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
        runtime_env={"env_vars": env} if env else None,
        # Ray runs its workers at niceness 15: they yield to the driver and Ray's daemons.
        # APTRANK_RAY_WORKER_NICENESS changes it for a Ray started here (a cluster keeps its
        # own); benchmarks/scale_niceness.py compares the two, inconclusively so far.
        _system_config=(
            {"worker_niceness": niceness}
            if local and (niceness := worker_niceness()) is not None
            else None
        ),
    )
    seconds = time.perf_counter() - start
    where = "a new local Ray" if local else f"the Ray cluster at {config.address}"
    logger.info("joined %s in %.1f s: %s", where, seconds, ray.cluster_resources())
    return seconds


def worker_niceness() -> int | None:
    """The niceness of the workers of a Ray started here: ``APTRANK_RAY_WORKER_NICENESS``
    (0-19), or None (unset: Ray's own default, 15)."""
    value = os.environ.get("APTRANK_RAY_WORKER_NICENESS")
    if value is None or not value.strip():
        return None
    try:
        niceness = int(value)
    except ValueError:
        niceness = -1
    if not 0 <= niceness <= 19:
        raise AptrankError(f"APTRANK_RAY_WORKER_NICENESS={value!r}: give an integer 0-19")
    return niceness


class _Worker:
    """One actor of the pool: builds the job's state once, then computes batch after batch.

    A failing setup or batch comes back as its exception (raised again on the driver, where the
    CLI turns it into one line) instead of killing the actor or failing the Ray job with a
    wrapped traceback."""

    def __init__(self, remote: Remote[Any, Any, Any]) -> None:
        os.environ["APTRANK_ENGINE"] = "local"  # a worker never starts a job of its own
        self._call = remote.call
        self._state: Any = None
        self._error: Exception | None = None
        try:
            self._state = remote.setup()
        except Exception as e:
            logger.exception("the worker's setup failed")
            self._error = _portable(e)
        self._ready = time.time()

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        out = []
        for blob in batch["task"]:
            start = time.perf_counter()
            result, error = None, self._error
            if error is None:
                try:
                    result = self._call(self._state, pickle.loads(blob))
                except Exception as e:
                    logger.exception("a batch failed")
                    error = _portable(e)
            seconds = time.perf_counter() - start
            out.append(pickle.dumps((result, error, seconds, self._ready), protocol=5))
        return {"index": batch["index"], "result": out}


class _NoBarsNotice(logging.Filter):
    """Drops Ray Data's notice that its progress bars are off (the CLI draws its own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Progress bars disabled")


def _portable(error: Exception) -> Exception:
    """``error`` if it survives pickling, else an :class:`AptrankError` with its message."""
    try:
        return pickle.loads(pickle.dumps(error))  # type: ignore[no-any-return]
    except Exception:
        return AptrankError(f"{type(error).__name__}: {error}")


def _actor_class(remote: Remote[Any, Any, Any]) -> type:
    """A worker class that holds ``remote`` itself: Ray ships it with the class, so no
    constructor argument waits in the object store."""

    class Worker(_Worker):
        def __init__(self) -> None:
            super().__init__(remote)

    return Worker


def pool_size(config: EngineConfig, tasks: int) -> int:
    """Actors for a job of ``tasks`` batches: as configured, else as many as the cluster's CPUs
    hold; never more than there are batches (each actor loads the model)."""
    import ray

    n = config.workers or int(ray.cluster_resources().get("CPU", 1) // config.worker_cpus)
    return max(1, min(n, tasks))


def _picklable(remote: Remote[Any, Any, Any], name: str) -> bool:
    from ray import cloudpickle

    try:
        cloudpickle.dumps(remote)
    except Exception as e:  # what fails to pickle raises anything from TypeError to RuntimeError
        logger.warning("%s runs on the driver: its worker cannot be sent to Ray (%s)", name, e)
        return False
    return True


def run_on_ray(
    tasks: Sequence[T],
    local: Callable[[T], R],
    remote: Remote[Any, T, R],
    name: str,
    config: EngineConfig,
    ordered: bool,
) -> Iterator[tuple[T, R]]:
    """``(task, result)`` pairs as the actor pool finishes them (see :func:`map_batches`)."""
    if not tasks:
        return
    if not _picklable(remote, name):
        from aptrank.scale.engine import _run_local

        yield from _run_local(tasks, local, name)
        return
    import ray.data

    start = time.perf_counter()
    init = connect(config)
    workers = pool_size(config, len(tasks))
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # no per-job execution reports
    notices = logging.getLogger("ray.data._internal.progress")
    if not any(isinstance(f, _NoBarsNotice) for f in notices.filters):
        notices.addFilter(_NoBarsNotice())
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.execution_options.preserve_order = ordered
    if hasattr(context, "max_consecutive_actor_init_deaths"):
        # Ray Data (2.60) cancels an actor still starting once every batch is in flight and
        # counts that as a death in initialisation, which fails the job at the default budget
        # of 0; a setup error comes back as a result instead, so only such deaths are left.
        context.max_consecutive_actor_init_deaths = 2 * workers + 2
    rows = [{"index": i, "task": pickle.dumps(t, protocol=5)} for i, t in enumerate(tasks)]
    submitted, submitted_at = time.time(), time.perf_counter()
    dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
        _actor_class(remote),
        batch_size=1,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=config.worker_cpus,
        num_gpus=config.worker_gpus or None,
    )
    tally = Tally(submitted_at)
    ready: list[float] = []
    results = dataset.iter_rows()
    try:
        for row in results:
            result, error, seconds, actor_ready = pickle.loads(row["result"])
            if error is not None:
                raise error
            handed = tally.arrived(seconds)
            ready.append(actor_ready)
            yield tasks[int(row["index"])], result
            tally.handled(handed)
    finally:
        startup = max(0.0, min(ready) - submitted) if ready else 0.0
        tally.record(name, "ray", workers, start, init_s=init, startup_s=startup)
