"""Throughput of the cytokine-field solver against same-run baselines.

Run from the repository root::

    .venv/bin/python benchmarks/bench_diffusion.py [--quick]

For 256², 1024², 2048² and 128³ float64 grids it reports cell-updates per
second of

* the explicit path -- one forward-Euler sub-step, in place;
* the implicit path -- one full backward-Euler LOD step (one Thomas sweep per
  axis);

each single-threaded and with 2 threads, and as ratios to

(a) a memory-copy roofline measured in the same run: ``np.copyto(buf, u)``
    reads every cell once and writes every cell once, which is exactly the
    memory traffic of the in-place explicit step (read u, write u), so the
    explicit ratio is like-for-like.  An implicit LOD step must stream the
    grid at least once per axis, so its ideal ratio is 1/ndim;
(b) the best plain numpy/scipy formulation of the same step: a numpy slicing
    stencil into preallocated buffers (interior only -- flattering numpy), and
    for the implicit step a line-by-line ``scipy.linalg.solve_banded`` of the
    same LOD step (on the larger grids a subset of lines per axis is timed and
    scaled to all lines; this is stated in the table).

First, the implicit LOD step against the copy roofline at the model's grid
(8 fields of 80x56, and one 80x56 field) and at 1024²: ns per cell-update,
% of copy (``t_copy / t_step``, ideal 1/ndim = 50 % in 2-D; see
:func:`bench_roofline`) and the speed-up over the pre-SIMD kernels.

It also times one ``FieldSet.advance`` of 8 fields on the model's 80x56 grid and measures the implicit/explicit cost ratio that
``method="auto"`` relies on.  Timing: one warm-up call (compilation excluded),
then the best of N repeats.  The Markdown table is printed and written to
``benchmarks/results/diffusion.md``.  Nothing here asserts a time.
"""

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numba
import numpy as np
from numba import njit
from scipy.linalg import solve_banded

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim.diffusion import FieldSet, FieldSpec, _explicit, _implicit, _solver, explicit_dt_limit  # noqa: E402  # noqa: E402

D, DX = 1.0, 1.0


def best_of(fn, repeats, setup=None):
    """Best wall time of ``fn()`` over ``repeats`` runs after one warm-up."""
    if setup:
        setup()
    fn()
    best = float("inf")
    for _ in range(repeats):
        if setup:
            setup()
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def numpy_explicit_step(u, out, tmp, cx):
    """Best-effort numpy 5/7-point step into ``out`` (interior cells only)."""
    nd = u.ndim
    c = (slice(1, -1),) * nd
    np.multiply(u[c], -2.0 * nd, out=tmp)
    for ax in range(nd):
        lo = list(c)
        hi = list(c)
        lo[ax] = slice(0, -2)
        hi[ax] = slice(2, None)
        tmp += u[tuple(lo)]
        tmp += u[tuple(hi)]
    tmp *= cx
    tmp += u[c]
    out[c] = tmp


def scipy_lod_step(u, a, max_lines=None):
    """Backward-Euler LOD step with one solve_banded call per line.

    Returns the time per full step; if ``max_lines`` is given only that many
    lines per axis are solved and the time is scaled to all lines.
    """
    total = 0.0
    for ax in reversed(range(u.ndim)):
        n = u.shape[ax]
        ab = np.zeros((3, n))
        ab[0, 1:] = -a
        ab[2, :-1] = -a
        ab[1, :] = 1 + 2 * a
        ab[1, 0] = ab[1, -1] = 1 + a  # no-flux ends
        v = np.moveaxis(u, ax, -1)
        lines = list(np.ndindex(v.shape[:-1]))
        todo = lines if max_lines is None else lines[:max_lines]
        t = time.perf_counter()
        for idx in todo:
            v[idx] = solve_banded((1, 1), ab, v[idx], check_finite=False)
        total += (time.perf_counter() - t) * len(lines) / len(todo)
    return total


def best_interleaved(fns, repeats):
    """Best time of each of ``fns`` (name -> (callable, threads)), timed round-robin.

    Interleaving means a burst of load from other processes hits every
    candidate alike, which keeps the same-run ratios honest on a shared machine.
    """
    for fn, nthreads in fns.values():  # warm-up (and compilation)
        numba.set_num_threads(nthreads)
        fn()
    best = {name: float("inf") for name in fns}
    for _ in range(repeats):
        for name, (fn, nthreads) in fns.items():
            numba.set_num_threads(nthreads)
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    return best


def bench_grid(shape, repeats, threads, quick):
    rng = np.random.default_rng(0)
    u = rng.random(shape)
    n = u.size
    nd = u.ndim
    row = {"grid": "x".join(map(str, shape)) if nd == 2 else f"{shape[0]}³", "cells": n}
    buf = np.empty_like(u)
    faces = np.zeros(2 * nd, dtype=np.bool_)
    dummy = np.zeros((1,) * nd)
    held = np.zeros((1,) * nd, dtype=np.bool_)
    dt_e = 0.9 * explicit_dt_limit(D, 0.0, DX, nd)
    dt_i = 100 * dt_e
    mx = max(shape)
    alpha, beta, line, w = (np.empty(mx) for _ in range(4))
    hline = np.empty(mx, dtype=np.bool_)
    out = np.empty_like(u)
    tmp = np.empty(tuple(s - 2 for s in shape))
    cx = D * dt_e / DX**2
    fns = {
        "copy": (lambda: np.copyto(buf, u), 1),
        "expl1": (lambda: _explicit.explicit_advance(u, dummy, False, held, False, D, 0.0, DX, dt_e, 1, faces, 0.0), 1),
        "impl1": (
            lambda: _solver._implicit_field(
                u, dummy, False, held, False, D, 0.0, DX, dt_i, faces, 0.0, alpha, beta, line, hline, w
            ),
            1,
        ),
        "numpy": (lambda: numpy_explicit_step(u, out, tmp, cx), 1),
    }
    # Threaded kernels are timed in a block of their own: after a parallel
    # region the OpenMP worker keeps spinning for a while and would steal the
    # second core from whatever single-thread measurement came next.
    threaded = {
        "explT": (
            lambda: _explicit.explicit_advance_threaded(
                u, dummy, False, held, False, D, 0.0, DX, dt_e, 1, faces, 0.0, threads
            ),
            threads,
        ),
        "implT": (
            lambda: _solver._implicit_field_threaded(u, dummy, False, D, 0.0, DX, dt_i, faces, 0.0, threads),
            threads,
        ),
    }
    for name, t in best_interleaved(fns, repeats).items():
        row[name] = n / t
    row["_threaded"] = (threaded, n, repeats)  # timed after every single-thread measurement

    a = D * dt_i / DX**2
    lines_per_axis = n // min(shape)
    max_lines = None if lines_per_axis <= 512 and not quick else 256
    v = u.copy()
    row["scipy"] = n / min(scipy_lod_step(v, a, max_lines) for _ in range(3))
    row["scipy_note"] = "all lines" if max_lines is None else f"{max_lines} lines/axis, scaled"
    return row


def bench_fieldset(repeats=200):
    specs = {f"c{i}": FieldSpec(D=5.0 + 13.0 * i, decay=1e-4 * (1 + i)) for i in range(8)}
    fs = FieldSet((80, 56), 100.0, specs)
    fs.sources[:, 40, 28] = 1e-3
    methods = fs.methods(3600.0)
    fs.advance(3600.0)
    # the same kernel call without the FieldSet wrapper, timed in alternating
    # blocks so that both see the same background load
    expl, nsub = fs._plan_for(3600.0, "auto")
    args = (
        fs.data,
        fs.sources,
        True,
        fs._D,
        fs._k,
        fs._dx,
        3600.0,
        expl,
        nsub,
        fs._faces,
        fs._g,
        fs._held,
        fs._has_mask,
    )
    _solver._advance_stack(*args)
    times, kt = [], []
    for _ in range(20):
        t = time.perf_counter()
        for _ in range(repeats):
            fs.advance(3600.0)
        times.append((time.perf_counter() - t) / repeats)
        t = time.perf_counter()
        for _ in range(repeats):
            _solver._advance_stack(*args)
        kt.append((time.perf_counter() - t) / repeats)
    return min(times), min(kt), methods


def auto_ratio(shape=(60, 40), repeats=300, masked=False):
    """Per-call cost of one implicit step / one explicit sub-step (serial)."""
    u = np.random.default_rng(1).random(shape)
    nd = u.ndim
    faces = np.zeros(2 * nd, dtype=np.bool_)
    dummy = np.zeros((1,) * nd)
    held = np.zeros((1,) * nd, dtype=np.bool_)
    if masked:  # a few vessel voxels
        held = np.zeros(shape, dtype=np.bool_)
        held[::7, ::5] = True
    mx = max(shape)
    alpha, beta, line, w = (np.empty(mx) for _ in range(4))
    hline = np.empty(mx, dtype=np.bool_)
    dt_e = 0.9 * explicit_dt_limit(D, 1e-3, DX, nd)
    te = (
        best_of(
            lambda: _explicit.explicit_advance(u, dummy, False, held, masked, D, 1e-3, DX, dt_e * 20, 20, faces, 0.0),
            repeats,
        )
        / 20
    )
    ti = best_of(
        lambda: _solver._implicit_field(
            u, dummy, False, held, masked, D, 1e-3, DX, 100 * dt_e, faces, 0.0, alpha, beta, line, hline, w
        ),
        repeats,
    )
    return ti / te


# --- implicit step against the copy roofline, new vs old kernels -----------


@njit(cache=False)
def numba_copy(dst, src):
    d = dst.reshape(dst.size)
    s = src.reshape(src.size)
    for i in range(d.size):
        d[i] = s[i]


@njit(cache=False)
def advance_stack_reference(data, D, k, dx, dt):
    """The implicit step of ``_advance_stack`` (unmasked, no source, no-flux)
    with the pre-SIMD kernels kept as ``_implicit._sweep_*_reference``."""
    nf, nx, ny = data.shape
    alpha = np.empty(max(nx, ny))
    beta = np.empty(max(nx, ny))
    for f in range(nf):
        u = data[f]
        a = D[f] * dt / (dx * dx)
        _implicit.line_coefficients(ny, a, False, False, alpha, beta)
        _implicit._sweep_last_axis_reference(u, u, alpha, beta, False, False, 0.0, True, False, dt, 1.0 + k[f] * dt)
        _implicit.line_coefficients(nx, a, False, False, alpha, beta)
        _implicit._sweep_middle_axis_reference(u.reshape((1, nx, ny)), alpha, beta, False, False, 0.0)


ROOFLINE_CASES = [
    ("80x56, 8 fields (model)", (8, 80, 56), 3000),
    ("80x56, 1 field", (1, 80, 56), 6000),
    ("1024x1024, 1 field", (1, 1024, 1024), 25),
]


def bench_roofline(quick):
    """ns per cell-update and % of copy of one implicit LOD step (serial).

    ``% of copy = t_copy / t_step``: t_copy is the faster of ``np.copyto`` and
    a numba copy loop of the same (n_fields, nx, ny) float64 array, timed
    interleaved with the steps in the same run.  A copy reads and writes every
    cell once; a 2-D LOD step must do that at least once per axis (each
    Thomas sweep needs the whole line before its back substitution), so its
    ideal is 1/ndim = 50 %.  The step is the model's: per field its own D
    (5 + 13 i um^2/s, dx = 100 um, dt = 3600 s: a = D dt/dx^2 = 1.8-33),
    first-order decay (the reaction is applied; k dt = 3.6e-5 so the values
    stay far from the subnormal range over thousands of repeats), no-flux,
    no source.  ``old`` is the same step with the pre-SIMD kernels.
    """
    rows = []
    for name, shape, reps in ROOFLINE_CASES:
        nf = shape[0]
        data = np.random.default_rng(3).random(shape) + 0.5
        buf = np.empty_like(data)
        old = data.copy()
        D = 5.0 + 13.0 * np.arange(nf)
        k = np.full(nf, 1e-8)
        expl = np.zeros(nf, dtype=np.bool_)
        nsub = np.ones(nf, dtype=np.int64)
        faces = np.zeros(4, dtype=np.bool_)
        src = np.zeros((1, 1, 1))
        held = np.zeros((1, 1), dtype=np.bool_)
        fns = {
            "copyto": (lambda: np.copyto(buf, data), 1),
            "ncopy": (lambda: numba_copy(buf, data), 1),
            "new": (
                lambda: _solver._advance_stack(
                    data, src, False, D, k, 100.0, 3600.0, expl, nsub, faces, 0.0, held, False
                ),
                1,
            ),
            "old": (lambda: advance_stack_reference(old, D, k, 100.0, 3600.0), 1),
        }
        t = best_interleaved(fns, max(3, reps // 5) if quick else reps)
        cells = data.size
        copy = min(t["copyto"], t["ncopy"])
        rows.append(
            dict(
                name=name,
                cells=cells,
                copy=copy / cells * 1e9,
                new=t["new"] / cells * 1e9,
                old=t["old"] / cells * 1e9,
                pct_new=copy / t["new"],
                pct_old=copy / t["old"],
                speedup=t["old"] / t["new"],
            )
        )
        print(f"  done roofline {name}", file=sys.stderr)
    return rows


def fmt(x):
    return f"{x / 1e9:.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, scipy subset everywhere")
    args = ap.parse_args()
    threads = min(2, numba.config.NUMBA_NUM_THREADS)
    grids = [(256, 256), (1024, 1024), (2048, 2048), (128, 128, 128)]
    reps = {256 * 256: 100, 1024 * 1024: 30, 2048 * 2048: 12, 128**3: 15}
    rows = []
    for shape in grids:
        r = reps[int(np.prod(shape))]
        rows.append(bench_grid(shape, max(2, r // 3) if args.quick else r, threads, args.quick))
        print(f"  done {shape}", file=sys.stderr)
    numba.set_num_threads(1)
    roof = bench_roofline(args.quick)
    fs_call, fs_kernel, methods = bench_fieldset(50 if args.quick else 200)
    ratios = {s: auto_ratio(s) for s in [(60, 40), (150, 100), (256, 256)]}
    masked_ratio = auto_ratio((60, 40), masked=True)
    for r in rows:
        threaded, n, repeats = r.pop("_threaded")
        for name, t in best_interleaved(threaded, repeats).items():
            r[name] = n / t
    numba.set_num_threads(threads)

    lines = [
        "# Diffusion solver benchmark",
        "",
        "## Implicit LOD step vs the copy roofline (serial, float64)",
        "",
        "`% of copy = t_copy / t_step`, with t_copy the faster of `np.copyto` and a numba copy "
        "loop of the same (fields, nx, ny) array, timed interleaved with the steps in this run. "
        "A copy reads and writes every cell once; a 2-D LOD step has to do that once per axis, "
        "so **50 % is the ideal** (the issue's target: 40 %). Step: `_advance_stack`, model "
        "diffusivities (a = 1.8-33), decay on, no-flux, no source. *old* = the same step with "
        "the pre-SIMD kernels (`_sweep_*_reference`), *new/old* = speed-up.",
        "",
        "| grid | copy ns/cell | new ns/cell-update | new % of copy | old ns/cell-update "
        "| old % of copy | new/old speed-up |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in roof:
        lines.append(
            f"| {r['name']} | {r['copy']:.3f} | {r['new']:.3f} | {r['pct_new']:.0%} "
            f"| {r['old']:.3f} | {r['pct_old']:.0%} | {r['speedup']:.2f}x |"
        )
    lines += [
        "",
        "## All grids",
        "",
        f"Machine: {platform.processor() or platform.machine()}, numba {numba.__version__}, "
        f"numpy {np.__version__}, float64, threads: 1 and {threads}, load average at the end "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other processes make every "
        "number, and most of all the 2-thread ones, lower).  "
        "Throughput in G cell-updates/s (copy: G cell-copies/s).  Best of N after warm-up.",
        "",
        "| grid | copy | explicit 1T | expl/copy | expl/numpy | explicit 2T | expl 2T/copy "
        "| implicit 1T | impl/copy | impl/scipy | implicit 2T | numpy expl | scipy impl |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['grid']} | {fmt(r['copy'])} | {fmt(r['expl1'])} | {r['expl1'] / r['copy']:.0%} "
            f"| {r['expl1'] / r['numpy']:.1f}x | {fmt(r['explT'])} | {r['explT'] / r['copy']:.0%} "
            f"| {fmt(r['impl1'])} | {r['impl1'] / r['copy']:.0%} | {r['impl1'] / r['scipy']:.0f}x "
            f"| {fmt(r['implT'])} | {fmt(r['numpy'])} | {r['scipy'] / 1e6:.2f} M/s "
            f"({r['scipy_note']}) |"
        )
    lines += [
        "",
        "Ratios: explicit vs copy is like-for-like (both read and write every cell once); an "
        "implicit LOD step streams the grid once per axis, so its ideal copy ratio is 1/ndim.  "
        "Single-thread ratios compare single-thread kernels with the (single-thread) copy and "
        "numpy/scipy baselines.",
        "",
        f"FieldSet.advance, 8 fields, 80x56, dt = 3600 s (methods: "
        f"{sorted(set(methods.values()))}): **{fs_call * 1e6:.1f} µs per call** "
        f"({fs_kernel * 1e6:.1f} µs when the kernel is called directly, "
        f"{(fs_call - fs_kernel) * 1e6:.1f} µs FieldSet wrapper), i.e. "
        f"{fs_call / (8 * 80 * 56) * 1e9:.1f} ns per cell-update (with sources: one more "
        "array read per cell than the roofline table's step).",
        "",
        'Implicit step / explicit sub-step cost (serial, per field; `method="auto"` uses '
        f"AUTO_COST_RATIO = {_solver.AUTO_COST_RATIO}): "
        + ", ".join(f"{'x'.join(map(str, s))}: {v:.2f}" for s, v in ratios.items())
        + f"; with a vessel mask, 60x40: {masked_ratio:.2f} (AUTO_COST_RATIO_MASKED = "
        f"{_solver.AUTO_COST_RATIO_MASKED}).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    out = ROOT / "benchmarks" / "results" / "diffusion.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)


if __name__ == "__main__":
    main()
