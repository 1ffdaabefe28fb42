"""Dask workers on a SLURM or PBS cluster, through dask-jobqueue (the optional extra ``cluster``).

``discsim cohort | sweep | sensitivity | calibrate ... --cluster slurm`` starts a Dask scheduler in the calling
process (on the login node), submits ``jobs`` batch jobs of ``cores`` single-threaded worker processes each, and
runs the same tasks on them as ``--scheduler`` does on an existing cluster; results come back to the calling
process, which writes every output file (the workers write nothing). See ``docs/cluster.md``::

    spec = ClusterSpec(system="slurm", queue="normal", cores=16, memory="16GiB", walltime="04:00:00", jobs=4)
    print(job_script(spec))                 # what would be submitted (needs no SLURM)
    with cluster_client(spec) as client:    # submits the jobs; cancels them on exit
        run_cohort(scenario, out, client=client)

Settings not given here (network interface, scratch directory, extra directives, ...) come from Dask's own
configuration (``~/.config/dask/jobqueue.yaml``), as dask-jobqueue documents.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = [
    "SYSTEMS",
    "MIN_MEMORY_PER_WORKER",
    "ClusterError",
    "ClusterSpec",
    "cluster_spec",
    "require_jobqueue",
    "job_cluster",
    "job_script",
    "cluster_client",
]

SYSTEMS = ("slurm", "pbs")

#: Memory a worker process needs at least: measured peak ~0.36 GiB for a 365-day patient of the shipped cohort
#: (benchmarks/cluster_planning.py, docs/cluster.md), ~0.56 GiB while numba compiles the kernels; 1 GiB leaves
#: room for larger fragments and Dask's own buffers.
MIN_MEMORY_PER_WORKER = 2**30
#: Default memory per worker (per core) when --cluster-memory is not given.
DEFAULT_MEMORY_PER_WORKER_GIB = 1.5

_NAME = re.compile(r"^[A-Za-z0-9_.@+-]+$")
_WALLTIME = re.compile(r"^(\d+):([0-5]\d):([0-5]\d)$")
#: Workers retire this long before the walltime, so that their tasks finish or move before the job is killed.
_LIFETIME_MARGIN_S = 300


class ClusterError(ValueError):
    """Unusable cluster settings, or dask-jobqueue missing; the message lists every problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


class ClusterSpec(BaseModel):
    """Where and how big the worker jobs are. ``cores`` single-threaded workers per job, ``memory`` per job."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    system: Literal["slurm", "pbs"] = Field(description="Batch system: slurm or pbs.")
    queue: str | None = Field(None, description="Partition (SLURM) or queue (PBS) [default: the site's default].")
    account: str | None = Field(None, description="Account / project charged for the jobs.")
    cores: int = Field(8, ge=1, le=1024, description="Cores per job; each runs one single-threaded worker.")
    memory: str | None = Field(
        None, description=f"Memory per job, e.g. 12GiB [default: {DEFAULT_MEMORY_PER_WORKER_GIB:g} GiB per core]."
    )
    walltime: str = Field("01:00:00", description="Walltime per job, HH:MM:SS (hours may exceed 24).")
    jobs: int = Field(1, ge=1, le=10_000, description="Number of jobs kept running.")

    @field_validator("queue", "account")
    @classmethod
    def _plain_name(cls, v: str | None) -> str | None:
        if v is not None and not _NAME.match(v):
            raise ValueError(f"{v!r} is not a plain name (letters, digits and _ . @ + - only)")
        return v

    @field_validator("walltime")
    @classmethod
    def _hh_mm_ss(cls, v: str) -> str:
        m = _WALLTIME.match(v)
        if not m:
            raise ValueError(f"{v!r} is not HH:MM:SS (e.g. 04:00:00; minutes and seconds below 60)")
        if walltime_seconds(v) < 60:
            raise ValueError(f"{v!r}: at least one minute")
        return v

    @field_validator("memory")
    @classmethod
    def _bytes(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from dask.utils import parse_bytes

        try:
            n = parse_bytes(v)
        except (ValueError, TypeError):
            raise ValueError(f"{v!r} is not an amount of memory (e.g. 16GiB, 16GB, 16000MB)") from None
        if n <= 0:
            raise ValueError(f"{v!r} must be positive")
        return v

    @model_validator(mode="after")
    def _enough_per_worker(self) -> ClusterSpec:
        per_worker = self.memory_bytes / self.cores
        if per_worker < MIN_MEMORY_PER_WORKER:
            raise ValueError(
                f"memory {self.memory_text} for {self.cores} cores is {per_worker / 2**30:.2f} GiB per worker; a "
                f"worker needs at least {MIN_MEMORY_PER_WORKER / 2**30:g} GiB (docs/cluster.md): give more memory "
                "or fewer cores"
            )
        return self

    @property
    def memory_bytes(self) -> int:
        from dask.utils import parse_bytes

        if self.memory is None:
            return int(DEFAULT_MEMORY_PER_WORKER_GIB * 2**30 * self.cores)
        return int(parse_bytes(self.memory))

    @property
    def memory_text(self) -> str:
        """Memory per job as given, or the default, in GiB."""
        return self.memory if self.memory is not None else f"{DEFAULT_MEMORY_PER_WORKER_GIB * self.cores:g}GiB"

    @property
    def workers(self) -> int:
        return self.cores * self.jobs


def walltime_seconds(text: str) -> int:
    h, m, s = (int(x) for x in text.split(":"))
    return 3600 * h + 60 * m + s


#: CLI option of each field, for messages.
OPTION = {
    "system": "--cluster",
    "queue": "--cluster-queue",
    "account": "--cluster-account",
    "cores": "--cluster-cores",
    "memory": "--cluster-memory",
    "walltime": "--cluster-walltime",
    "jobs": "--cluster-jobs",
}


def cluster_spec(system: str, **options: Any) -> ClusterSpec:
    """Validate the settings (``None`` values keep the defaults); :class:`ClusterError` lists every problem."""
    given = {k: v for k, v in options.items() if v is not None}
    try:
        return ClusterSpec(system=system, **given)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            field = str(e["loc"][0]) if e["loc"] else ""
            where = OPTION.get(field, field) if field else f"{OPTION['memory']} / {OPTION['cores']}"
            message = e["msg"].removeprefix("Value error, ")
            ctx = e.get("ctx") or {}
            if e["type"] == "literal_error":
                message = f"expected one of {', '.join(SYSTEMS)}, got {e['input']!r}"
            elif e["type"] == "greater_than_equal":
                message = f"must be ≥ {ctx['ge']}, got {e['input']!r}"
            elif e["type"] == "less_than_equal":
                message = f"must be ≤ {ctx['le']}, got {e['input']!r}"
            problems.append(f"{where}: {message}")
        raise ClusterError(problems) from None


def require_jobqueue() -> Any:
    """The ``dask_jobqueue`` module, or :class:`ClusterError` saying how to install it."""
    try:
        import dask_jobqueue
    except ImportError:
        raise ClusterError(
            ["--cluster needs dask-jobqueue, which is not installed: pip install 'discsim[cluster]'"]
        ) from None
    return dask_jobqueue


def _prologue(system: str) -> list[str]:
    """Lines run in the job before the workers start, after the site's own (``job-script-prologue``)."""
    import dask

    site = list(dask.config.get(f"jobqueue.{system}.job-script-prologue", None) or [])
    here = str(Path(__file__).resolve().parents[2])  # the folder holding the `sim` package
    return [
        *site,
        "export NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1",
        # workers import the same sim as this process (from a checkout or an installed package)
        f'export PYTHONPATH={shlex.quote(here)}"${{PYTHONPATH:+:$PYTHONPATH}}"',
    ]


def _worker_args(spec: ClusterSpec) -> list[str]:
    import dask

    site = list(dask.config.get(f"jobqueue.{spec.system}.worker-extra-args", None) or [])
    wall = walltime_seconds(spec.walltime)
    if wall >= 4 * _LIFETIME_MARGIN_S:  # retire before the batch system kills the job; a new job replaces it
        lifetime = wall - _LIFETIME_MARGIN_S
        site += ["--lifetime", f"{lifetime}s", "--lifetime-stagger", f"{min(_LIFETIME_MARGIN_S // 2, 120)}s"]
    return site


def job_cluster(spec: ClusterSpec, **overrides: Any) -> Any:
    """A dask-jobqueue ``SLURMCluster`` or ``PBSCluster`` for ``spec`` (its scheduler runs in this process).

    No job is submitted until the cluster is scaled (:func:`cluster_client` does it).
    """
    jq = require_jobqueue()
    cls = {"slurm": jq.SLURMCluster, "pbs": jq.PBSCluster}[spec.system]
    kwargs: dict[str, Any] = {
        "cores": spec.cores,
        "processes": spec.cores,  # one single-threaded worker per core: parallelism from tasks, not threads
        "memory": spec.memory_text,
        "walltime": spec.walltime,
        "job_name": "discsim",
        "python": sys.executable,
        "job_script_prologue": _prologue(spec.system),
        "worker_extra_args": _worker_args(spec),
    }
    if spec.queue is not None:
        kwargs["queue"] = spec.queue
    if spec.account is not None:
        kwargs["account"] = spec.account
    kwargs.update(overrides)
    return cls(**kwargs)


def job_script(spec: ClusterSpec) -> str:
    """The batch script one job of ``spec`` would run (with this process's scheduler address)."""
    cluster = job_cluster(spec, scheduler_options={"dashboard_address": None})
    try:
        return cluster.job_script()
    finally:
        cluster.close()


@contextlib.contextmanager
def cluster_client(spec: ClusterSpec, log: Callable[[str], None] | None = None) -> Iterator[Any]:
    """A Dask client whose workers are ``spec.jobs`` batch jobs; the jobs are cancelled when the block ends.

    The cluster adapts to exactly ``spec.jobs`` jobs: a job that ends (walltime, preemption) is replaced, and
    workers retire shortly before their walltime so their tasks move rather than fail.
    """
    from distributed import Client

    cluster = job_cluster(spec)
    try:
        if log is not None:
            log(
                f"{spec.system} cluster: {spec.jobs} job(s) × {spec.cores} workers, {spec.memory_text} and "
                f"{spec.walltime} each; scheduler {cluster.scheduler_address}; job script:\n{cluster.job_script()}"
            )
        cluster.adapt(minimum=spec.workers, maximum=spec.workers)
        with Client(cluster) as client:
            yield client
    finally:
        with contextlib.suppress(Exception):
            cluster.close()
