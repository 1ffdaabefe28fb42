"""Ship a posterior: make its medians (``point.toml``) the defaults of the shipped files.

Run from the repository root, after ``discsim posterior calibration/posterior.toml --fit --posterior``::

    .venv/bin/python calibration/ship_posterior.py                  # writes calibrated.toml and the cohort scenario
    .venv/bin/python calibration/ship_posterior.py --dry-run        # prints what would change

The fitted model parameters (``parameters.*``) go into the declaration's ``parameter_set`` file
(``calibration/calibrated.toml``), each with its 95 % interval and flags as a comment, under a new header that
names the posterior, its budget and the parameters at a bound or uninformed. Keys of that file that the
posterior did not fit keep their values (they were fixed during the calibration). The cohort spreads and the
surgery rule (``cohort.*``) are edited in place in the declaration's scenario (``scenarios/cohort_default.toml``),
so that its comments stay. Both files are written atomically, and parsed back: each shipped value must read back
as the posterior median, or nothing is written.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim import odd  # noqa: E402
from sim.calibration.abc import read_calibrated, read_calibrated_text  # noqa: E402
from sim.calibration.history import POINT_FILE, HistoryConfig, HistoryError, load_config  # noqa: E402
from sim.io.store import atomic_file  # noqa: E402


class ShipError(ValueError):
    """A value that cannot be placed in a shipped file."""


def _number(v: float) -> str:
    return f"{float(v):.4g}"


def point_values(point: Path) -> dict[str, tuple[float, str]]:
    """``{dotted path: (median, its comment)}`` from a ``point.toml``."""
    values = read_calibrated(point)
    comments = {}
    for line in point.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9_.]+)\s*=\s*[^#]+#\s*(.*)$", line)
        if m:
            comments[m.group(1)] = m.group(2).strip()
    return {k: (float(v), comments.get(k, "")) for k, v in values.items()}


def calibrated_text(old: str, fitted: dict[str, tuple[float, str]], header: list[str]) -> str:
    """``calibrated.toml`` with the fitted keys set (in place, or appended) and the header replaced."""
    lines = old.splitlines()
    body_start = next((i for i, ln in enumerate(lines) if ln.strip() and not ln.startswith("#")), len(lines))
    body = lines[body_start:]
    out = [f"# {h}" for entry in header for h in textwrap.wrap(entry, 114, subsequent_indent="  ")]
    seen = set()
    for i, ln in enumerate(body):
        m = re.match(r"^([A-Za-z0-9_.]+)\s*=", ln)
        if m and m.group(1) in fitted:
            key = m.group(1)
            value, comment = fitted[key]
            body[i] = f"{key} = {_number(value)}  # posterior median; {comment}"
            seen.add(key)
    extra = [f"{k} = {_number(v)}  # posterior median; {c}" for k, (v, c) in fitted.items() if k not in seen]
    if extra:
        body += ["", "# fitted by the posterior, not set by the hand re-fit (their schema defaults before)"] + extra
    return "\n".join(out + [""] + body) + "\n"


def scenario_text(old: str, values: dict[str, float]) -> str:
    """The scenario with each ``cohort.<table>.<key>[.<field>]`` value replaced in place (comments kept)."""
    lines = old.splitlines()
    tables: list[tuple[str, int]] = []  # (table name, line index of its header)
    for i, ln in enumerate(lines):
        m = re.match(r"^\[([A-Za-z0-9_.]+)\]\s*(#.*)?$", ln.strip())
        if m:
            tables.append((m.group(1), i))
    for path, value in values.items():
        done = False
        for t, (table, start) in enumerate(tables):
            if not path.startswith(table + "."):
                continue
            rest = path[len(table) + 1 :].split(".")
            if len(rest) not in (1, 2):
                continue
            end = tables[t + 1][1] if t + 1 < len(tables) else len(lines)
            for i in range(start + 1, end):
                m = re.match(rf"^({re.escape(rest[0])}\s*=\s*)(.*)$", lines[i])
                if not m:
                    continue
                if len(rest) == 1:  # key = number  # comment
                    new, n = re.subn(r"^[-+0-9.eE]+", _number(value), m.group(2))
                else:  # key = { ..., field = number, ... }
                    new, n = re.subn(
                        rf"(\b{re.escape(rest[1])}\s*=\s*)[-+0-9.eE]+", rf"\g<1>{_number(value)}", m.group(2)
                    )
                if n != 1:
                    raise ShipError(f"{path}: no number to replace in line {i + 1}: {lines[i]!r}")
                lines[i] = m.group(1) + new
                done = True
                break
            if done:
                break
        if not done:
            raise ShipError(f"{path}: no such key in the scenario (a spread is edited in place, never added)")
    return "\n".join(lines) + "\n"


def _check(text: str, expect: dict[str, float], where: str) -> None:
    flat = read_calibrated_text(text)
    for k, v in expect.items():
        got = flat.get(k)
        if got is None or abs(float(got) - float(_number(v))) > 1e-12 * max(1.0, abs(float(v))):
            raise ShipError(f"{where}: {k} reads back as {got!r}, not {_number(v)}")


def header_lines(cfg: HistoryConfig, date: str, fitted: dict[str, tuple[float, str]]) -> list[str]:
    posterior_dir = cfg.out / "posterior"
    budget = json.loads((posterior_dir / "budget.json").read_text(encoding="utf-8"))
    waves = budget.get("waves", [])
    sim_patients = sim_time = 0.0
    for w in waves:
        b = json.loads((cfg.out / f"wave-{int(w):02d}" / "budget.json").read_text(encoding="utf-8"))
        sim_patients += b.get("simulated_patients", 0)
        sim_time += b.get("wall_time_s", 0.0)
    at_bound = [
        f"{k.rsplit('.', 1)[-1]} ({c.split('at_bound ')[-1].split(';')[0]})"
        for k, (_, c) in fitted.items()
        if "at_bound" in c
    ]
    uninformed = [k.split(".", 1)[-1] for k, (_, c) in fitted.items() if "uninformed" in c]
    model = [k for k in fitted if k.startswith("parameters.")]
    return [
        "Calibrated parameters: the posterior medians of the Bayesian calibration (calibration/posterior.toml,",
        f"docs/calibration.md) for its {len(model)} fitted model parameters, each with its 95 % credible interval; the",
        "other keys are the hand re-fit of 2026-12-02, held fixed during the calibration (calibration/README.md). The",
        "cohort spreads and the surgery threshold it fitted are in scenarios/cohort_default.toml.",
        f"posterior: {posterior_dir.relative_to(ROOT).as_posix() if posterior_dir.is_relative_to(ROOT) else posterior_dir}"
        f" (waves {waves}, {budget.get('points')} design points; {budget.get('sampler')} sampler,"
        f" {budget.get('effective_samples', float('nan')):.0f} effective samples); model {budget.get('model_hash')}",
        "Medians of the marginals, not a joint mode. Pressed against a prior bound: "
        + (", ".join(at_bound) if at_bound else "none")
        + ".",
        "Uninformed (posterior SD above 0.7 of the prior's; the median of a wide posterior, not a measurement): "
        + (", ".join(uninformed) if uninformed else "none")
        + ".",
        f"date: {date}",
        "scenario: cohort_default",
        f"budget: {int(sim_patients):,} simulated patients in {len(waves)} waves, simulation wall time {sim_time:,.0f} s"
        f" on 2 cores; posterior (emulators + MCMC) wall time {budget.get('wall_time_s', 0):,.0f} s",
        "Keys are dotted scenario paths; apply with sim.scenario.with_overrides(scenario, read_calibrated(path)).",
    ]


def ship(declaration: Path, date: str, dry_run: bool = False) -> dict[Path, str]:
    cfg = load_config(declaration)
    posterior_dir = cfg.out / "posterior"
    fitted = point_values(posterior_dir / POINT_FILE)
    model = {k: v for k, v in fitted.items() if k.startswith("parameters.")}
    cohort = {k: v[0] for k, v in fitted.items() if k.startswith("cohort.")}
    if set(fitted) - set(model) - set(cohort):
        raise ShipError(f"unexpected keys in {POINT_FILE}: {sorted(set(fitted) - set(model) - set(cohort))}")
    scen_raw = tomllib.loads(cfg.scenario.read_text(encoding="utf-8"))
    calibrated = (cfg.scenario.parent / scen_raw["parameter_set"]).resolve()
    new_cal = calibrated_text(calibrated.read_text(encoding="utf-8"), model, header_lines(cfg, date, fitted))
    new_scen = scenario_text(cfg.scenario.read_text(encoding="utf-8"), cohort)
    _check(new_cal, {k: v for k, (v, _) in model.items()}, str(calibrated))
    _check(new_scen, cohort, str(cfg.scenario))
    out = {calibrated: new_cal, cfg.scenario: new_scen}
    if not dry_run:
        for path, text in out.items():
            with atomic_file(path) as tmp:
                tmp.write_text(text, encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--declaration", default=str(ROOT / "calibration" / "posterior.toml"))
    ap.add_argument("--date", required=True, help="the shipping date written into the header (YYYY-MM-DD)")
    ap.add_argument("--dry-run", action="store_true")
    a = ap.parse_args(argv)
    try:
        out = ship(Path(a.declaration), a.date, a.dry_run)
    except (ShipError, HistoryError, OSError, KeyError, tomllib.TOMLDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path, text in out.items():
        print(("would write " if a.dry_run else "wrote ") + str(path))
        if a.dry_run:
            print(text)
    if not a.dry_run and odd.COHORT_SCENARIO.resolve() in {p.resolve() for p in out}:
        # docs/odd.md quotes the shipped cohort's values (a test compares them).
        odd.main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
