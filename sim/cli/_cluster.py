"""The ``--cluster slurm|pbs`` options shared by the commands that take ``--scheduler`` (docs/cluster.md)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from ._common import err_console, fail, styled

ClusterOpt = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help="Run on batch jobs of a SLURM or PBS cluster (slurm or pbs; dask-jobqueue, extra [cluster]); "
        "the --cluster-* options size the jobs.",
        show_default=False,
    ),
]
ClusterQueueOpt = Annotated[
    str | None, typer.Option("--cluster-queue", help="Partition / queue [default: the site's].", show_default=False)
]
ClusterAccountOpt = Annotated[
    str | None, typer.Option("--cluster-account", help="Account / project charged.", show_default=False)
]
ClusterCoresOpt = Annotated[
    int | None,
    typer.Option("--cluster-cores", help="Cores per job, one worker each [default: 8].", show_default=False),
]
ClusterMemoryOpt = Annotated[
    str | None,
    typer.Option(
        "--cluster-memory", help="Memory per job, e.g. 16GiB [default: 1.5 GiB per core].", show_default=False
    ),
]
ClusterWalltimeOpt = Annotated[
    str | None,
    typer.Option("--cluster-walltime", help="Walltime per job, HH:MM:SS [default: 01:00:00].", show_default=False),
]
ClusterJobsOpt = Annotated[
    int | None, typer.Option("--cluster-jobs", help="Jobs kept running [default: 1].", show_default=False)
]


def cluster_settings(
    cluster: str | None,
    queue: str | None = None,
    account: str | None = None,
    cores: int | None = None,
    memory: str | None = None,
    walltime: str | None = None,
    jobs: int | None = None,
) -> Any:
    """The validated :class:`sim.cohort.cluster.ClusterSpec`, or ``None`` without ``--cluster``.

    Every problem is reported at once; bad values and a missing dask-jobqueue exit with status 2.
    """
    from ..cohort.cluster import OPTION, ClusterError, cluster_spec, require_jobqueue

    options = {"queue": queue, "account": account, "cores": cores, "memory": memory, "walltime": walltime, "jobs": jobs}
    if cluster is None:
        given = [OPTION[k] for k, v in options.items() if v is not None]
        if given:
            fail(f"{', '.join(given)}: the --cluster-* options need --cluster slurm|pbs")
        return None
    try:
        spec = cluster_spec(cluster, **options)
        require_jobqueue()
    except ClusterError as exc:
        if len(exc.problems) == 1:
            fail(exc.problems[0])
        err_console.print(styled("error:", "bold red", f" {len(exc.problems)} problems with the cluster settings"))
        for p in exc.problems:
            err_console.print(f"  - {p}")
        raise typer.Exit(2) from None
    return spec


def only_one(**options: Any) -> None:
    """At most one of the named options (``workers=..., scheduler=..., cluster=...``) may be given."""
    given = [f"--{name}" for name, v in options.items() if v is not None]
    if len(given) > 1:
        several = "both" if len(given) == 2 else "several"
        fail(f"{' and '.join(given)}: give one of {', '.join(f'--{n}' for n in options)}, not {several}")


def _log(message: str) -> None:
    err_console.print(styled("cluster:", "yellow", f" {message}"))


@contextlib.contextmanager
def dask_client(scheduler: str | None, spec: Any) -> Iterator[Any]:
    """A Dask client on the ``--scheduler`` address or on ``--cluster`` jobs (cancelled at the end), or ``None``."""
    if spec is not None:
        from ..cohort.cluster import cluster_client

        with cluster_client(spec, log=_log) as client:
            yield client
    elif scheduler:
        from distributed import Client

        with Client(scheduler, timeout="30s") as client:
            yield client
    else:
        yield None
