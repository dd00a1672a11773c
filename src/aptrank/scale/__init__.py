"""Scale-out: the heavy batch loops (corpus encoding, teacher labelling, synthetic-query
generation) on the local engine or as Ray Data jobs, with the same outputs.

``import aptrank.scale`` is light: Ray is imported only when a job runs on the ``ray`` engine
(the ``aptrank[scale]`` extra). See :mod:`aptrank.scale.engine`.
"""

from aptrank.scale.engine import (
    ENGINES,
    EngineConfig,
    JobStats,
    Remote,
    constant,
    current_engine,
    engine,
    job_history,
    map_batches,
    require_ray,
    use_engine,
)

__all__ = [
    "ENGINES",
    "EngineConfig",
    "JobStats",
    "Remote",
    "constant",
    "current_engine",
    "engine",
    "job_history",
    "map_batches",
    "require_ray",
    "use_engine",
]
