"""``discsim animate RUN_DIR``: one frame per field snapshot, written atomically, never over a user's file."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from sim.cli import app
from sim.io.rundir import write_run
from sim.run import run_one
from sim.scenario import load_scenario, with_overrides
from sim.view.animate import save_frame

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def animate(*args):
    return runner.invoke(app, ["animate", *map(str, args)])


@pytest.fixture(scope="module")
def scenario():
    scen = load_scenario(ROOT / "scenarios" / "default.toml")
    return with_overrides(scen, {"simulation.days": 4.0, "simulation.snapshot_every_days": 2.0})


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, scenario):
    return write_run(run_one(scenario, 2), tmp_path_factory.mktemp("animate") / "run")


def frames_of(path: Path) -> list[np.ndarray]:
    with Image.open(path) as gif:
        out = []
        for k in range(gif.n_frames):
            gif.seek(k)
            out.append(np.asarray(gif.convert("RGB"), dtype=float))
    return out


def test_gif_has_one_frame_per_snapshot_and_they_differ(run_dir):
    res = animate(run_dir, "--field", "il6", "--fps", 2)
    assert res.exit_code == 0, res.output
    path = run_dir / "animation_il6.gif"
    assert f"wrote {path}" in res.output
    frames = frames_of(path)
    assert len(frames) == 3  # days 0, 2, 4
    assert all(f.std() > 20 for f in frames)  # drawn, not blank
    assert np.abs(frames[0] - frames[2]).mean() > 0.5  # the day stamp, cells and field move
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".animation")]  # no temporary file left
    again = animate(run_dir, "--field", "il6")  # the program's own file in its own run directory is redrawn
    assert again.exit_code == 0, again.output


def test_an_existing_out_file_is_kept_unless_overwrite(run_dir, tmp_path):
    mine = tmp_path / "mine.gif"
    mine.write_bytes(b"a user's file")
    res = animate(run_dir, "--out", mine)
    assert res.exit_code == 2 and "exists" in res.output and "--overwrite" in res.output
    assert mine.read_bytes() == b"a user's file"
    res = animate(run_dir, "--out", mine, "--overwrite")
    assert res.exit_code == 0, res.output
    assert len(frames_of(mine)) == 3


def test_bad_input_is_a_message_and_exit_2(run_dir, tmp_path, scenario):
    empty = tmp_path / "empty"
    empty.mkdir()
    no_shots = write_run(run_one(scenario, 2, snapshots=False), tmp_path / "no_shots")
    cases = [
        ((run_dir, "--field", "ifng"), "not a cytokine field"),
        ((tmp_path / "missing",), "not a directory"),
        ((empty,), "not a discsim output"),
        ((no_shots,), "no fields.zarr"),
        ((run_dir, "--out", tmp_path / "a.png"), "must end in .gif or .mp4"),
        ((run_dir, "--out", tmp_path / "nowhere" / "a.gif"), "does not exist"),
        ((run_dir, "--out", empty), "is a directory"),
    ]
    for args, message in cases:
        res = animate(*args)
        assert res.exit_code == 2, (args, res.output)
        assert message in res.output and "Traceback" not in res.output, (args, res.output)
    assert list(empty.iterdir()) == [] and not (no_shots / "animation_tnf.gif").exists()


def test_mp4_only_where_ffmpeg_exists(run_dir, tmp_path):
    from matplotlib.animation import FFMpegWriter

    res = animate(run_dir, "--out", tmp_path / "a.mp4")
    if FFMpegWriter.isAvailable():
        assert res.exit_code == 0 and (tmp_path / "a.mp4").stat().st_size > 1000, res.output
    else:
        assert res.exit_code == 2 and "ffmpeg" in res.output and not (tmp_path / "a.mp4").exists()


def test_frame_is_labelled_with_day_and_units(run_dir, tmp_path):
    import matplotlib.pyplot as plt

    from sim.view.animate import _Figure, load_frames

    frames = load_frames(run_dir, "tnf")
    fig = _Figure(frames)
    fig.draw(2)
    assert fig.stamp.get_text().startswith("day 4\nM0/M1/M2 ")
    assert fig.ax.get_xlabel().endswith("(mm)") and fig.ax.get_ylabel().endswith("(mm)")
    assert fig.image.colorbar.ax.get_ylabel() == "TNF-α (pg/mL)"
    plt.close(fig.fig)
    assert save_frame(run_dir, tmp_path / "f.png").stat().st_size > 20_000
