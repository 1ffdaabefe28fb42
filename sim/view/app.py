"""``discsim view``: the section, its macrophages and a cytokine field, live, in a local Bokeh server app.

Bokeh serves its own JavaScript from the server (``/static``), so the page needs no network beyond the machine it
runs on. Each browser tab gets its own :class:`~sim.view.session.ViewSession` (its own model). All callbacks run
on the server's event loop, one at a time: a simulated day takes milliseconds, so the model is advanced inline.

Page layout: controls on the left; the section in the middle (field as a heat map in pg/mL, the fragment outline
now and at onset, the nerve root, the vascular recruitment sites, the annulus/ligament barrier of a contained
herniation, macrophages by phenotype); traces of leg pain, herniation volume and M0/M1/M2 counts on the right.
"""

from __future__ import annotations

import html
import socket
from collections.abc import Callable

import numpy as np

from ..scenario import CYTOKINES, HerniationType, Scenario, ScenarioError
from .section import FIELD_CMAP, FRAGMENT_LEVEL, STYLE, nice_ceiling
from .session import ViewSession, patient_controls

__all__ = ["make_document", "serve", "free_port", "UPDATE_MS"]

#: Interval between two updates while playing, ms (the speed slider sets the days run per update).
UPDATE_MS = 250
MAX_DAYS_PER_UPDATE = 30

_TRACE_COLUMNS = ("day", "pain_vas", "herniation_volume_mm3", "n_m0", "n_m1", "n_m2")
_MARKERS = STYLE["markers"]
_FRAGMENT_COLOR = STYLE["fragment"]
_ROOT_FILL, _ROOT_LINE = STYLE["root_fill"], STYLE["root_line"]
_VESSEL_COLOR, _BARRIER_COLOR = STYLE["vessel"], STYLE["barrier"]


def _labels():
    from ..plots.summary import CYTOKINE_LABELS, PHENOTYPE_COLORS

    return CYTOKINE_LABELS, PHENOTYPE_COLORS


def _palette(name: str = FIELD_CMAP, n: int = 256) -> list[str]:
    import matplotlib
    from matplotlib.colors import to_hex

    cmap = matplotlib.colormaps[name]
    return [to_hex(cmap(i / (n - 1))) for i in range(n)]


def _outline(material: np.ndarray, x: np.ndarray, y: np.ndarray, level: float) -> tuple[list, list]:
    """The contour of ``material`` at ``level`` as Bokeh multi-line lists (mm)."""
    from contourpy import contour_generator

    if material.max() < level:
        return [], []
    lines = contour_generator(x, y, material.T, line_type="Separate").lines(level)
    return [ln[:, 0].tolist() for ln in lines], [ln[:, 1].tolist() for ln in lines]


def make_document(scenario: Scenario, seed: int | None = None) -> Callable:
    """A Bokeh application function: builds one page (and its own :class:`ViewSession`) per browser tab."""

    def build(doc) -> None:
        _build_page(doc, ViewSession(scenario, seed=seed))

    return build


def _build_page(doc, session: ViewSession) -> None:
    from bokeh.layouts import column, row
    from bokeh.models import (
        Button,
        ColorBar,
        ColumnDataSource,
        DataRange1d,
        Div,
        HoverTool,
        Legend,
        LegendItem,
        LinearColorMapper,
        Select,
        Slider,
        Spinner,
    )
    from bokeh.plotting import figure

    cyto_labels, pheno_colors = _labels()
    scen = session.base
    state = {"playing": None, "sent": 0, "pending": False, "field": "tnf", "message": ""}

    # ------------------------------------------------------------------ the section
    lay = session.layout
    scale = min(620.0 / lay.width_mm, 500.0 / lay.height_mm)
    section = figure(
        name="section",
        css_classes=["discsim-section"],
        title="Section",
        x_range=(0, lay.width_mm),
        y_range=(0, lay.height_mm),
        frame_width=int(round(lay.width_mm * scale)),
        frame_height=int(round(lay.height_mm * scale)),
        match_aspect=True,
        x_axis_label="lateral position x (mm)",
        y_axis_label="posterior distance from the disc margin y (mm)",
        tools="pan,wheel_zoom,box_zoom,reset,save",
        toolbar_location="above",
    )
    section.title.text_font_size = "13pt"
    mapper = LinearColorMapper(palette=_palette(), low=0.0, high=1.0)
    field_src = ColumnDataSource(name="field", data={"image": [np.zeros(lay.shape).T]})
    image = section.image(
        image="image", x=0, y=0, dw=lay.width_mm, dh=lay.height_mm, source=field_src, color_mapper=mapper
    )
    colorbar = ColorBar(color_mapper=mapper, title="TNF-α (pg/mL)", title_text_font_size="11pt", width=14)
    section.add_layout(colorbar, "right")
    section.add_tools(
        HoverTool(
            renderers=[image],
            tooltips=[("x", "$x{0.00} mm"), ("y", "$y{0.00} mm"), ("concentration", "@image{0.00} pg/mL")],
        )
    )
    barrier_src = ColumnDataSource(name="barrier", data={"x": lay.barrier_mm[:, 0], "y": lay.barrier_mm[:, 1]})
    barrier = section.rect(
        "x", "y", width=lay.dx_mm, height=lay.dx_mm, source=barrier_src, fill_color=_BARRIER_COLOR, line_color=None
    )
    onset_src = ColumnDataSource(
        name="onset_outline", data=dict(zip(("xs", "ys"), _outline(lay.material0, lay.x_mm, lay.y_mm, FRAGMENT_LEVEL)))
    )
    onset = section.multi_line(
        "xs", "ys", source=onset_src, line_color=_FRAGMENT_COLOR, line_dash="dashed", line_width=1.2
    )
    outline_src = ColumnDataSource(name="outline", data={"xs": [], "ys": []})
    outline = section.multi_line("xs", "ys", source=outline_src, line_color=_FRAGMENT_COLOR, line_width=2.2)
    root_src = ColumnDataSource(
        name="root", data={"x": [lay.root_center_mm[0]], "y": [lay.root_center_mm[1]], "r": [lay.root_radius_mm]}
    )
    root = section.circle(
        "x", "y", radius="r", source=root_src, fill_color=_ROOT_FILL, line_color=_ROOT_LINE, line_width=2
    )
    vessel_src = ColumnDataSource(name="vessels", data={"x": lay.vessels_mm[:, 0], "y": lay.vessels_mm[:, 1]})
    vessels = section.scatter(
        "x", "y", source=vessel_src, marker="diamond", size=9, fill_color=_VESSEL_COLOR, line_color="white"
    )
    cell_src, cell_renderers = {}, {}
    for ph in ("M0", "M1", "M2"):
        cell_src[ph] = ColumnDataSource(name=f"cells_{ph}", data={"x": [], "y": []})
        cell_renderers[ph] = section.scatter(
            "x",
            "y",
            source=cell_src[ph],
            marker=_MARKERS[ph],
            size=7,
            fill_color=pheno_colors[ph],
            line_color="black",
            line_width=0.6,
        )
    items = [
        LegendItem(label="fragment edge (NP material 0.5)", renderers=[outline]),
        LegendItem(label="fragment edge at onset", renderers=[onset]),
        LegendItem(label="nerve root", renderers=[root]),
        LegendItem(label="vessels (recruitment)", renderers=[vessels]),
    ]
    if lay.barrier_mm.size:
        items.append(LegendItem(label="annulus/ligament barrier", renderers=[barrier]))
    items += [LegendItem(label=f"{ph} macrophage", renderers=[cell_renderers[ph]]) for ph in ("M0", "M1", "M2")]
    section.add_layout(Legend(items=items, ncols=3, label_text_font_size="9pt", spacing=2), "below")

    # ------------------------------------------------------------------ the traces
    traces = ColumnDataSource(name="traces", data={c: [] for c in _TRACE_COLUMNS})
    days = DataRange1d(start=0, follow="start", range_padding=0.02)
    common = dict(frame_width=380, frame_height=150, x_range=days, tools="pan,wheel_zoom,box_zoom,reset,save")
    vas = figure(
        name="trace_vas",
        css_classes=["discsim-trace-vas"],
        title="Leg pain",
        y_range=(0, 100),
        y_axis_label="VAS (0-100)",
        **common,
    )
    vas.line("day", "pain_vas", source=traces, line_color="black", line_width=2)
    vol = figure(
        name="trace_volume",
        css_classes=["discsim-trace-volume"],
        title="Herniation volume",
        y_axis_label="volume (mm³)",
        **common,
    )
    vol.line("day", "herniation_volume_mm3", source=traces, line_color="#2ca02c", line_width=2)
    vol.y_range.start = 0
    macs = figure(
        name="trace_macrophages",
        css_classes=["discsim-trace-macrophages"],
        title="Macrophages in the section",
        y_axis_label="cells",
        x_axis_label="days since the herniation event",
        **common,
    )
    for ph in ("M0", "M1", "M2"):
        macs.line("day", f"n_{ph.lower()}", source=traces, line_color=pheno_colors[ph], line_width=2, legend_label=ph)
    macs.y_range.start = 0
    macs.legend.label_text_font_size = "9pt"
    macs.add_layout(macs.legend[0], "right")  # beside the frame, never over the lines
    for fig in (vas, vol, macs):
        fig.title.text_font_size = "11pt"
    for fig in (section, vas, vol, macs):
        fig.toolbar.logo = None

    # ------------------------------------------------------------------ controls
    play = Button(label="▶ Play", button_type="success", name="play", width=80)
    pause = Button(label="❚❚ Pause", button_type="warning", name="pause", width=80, disabled=True)
    step = Button(label="Step +1 day", button_type="primary", name="step", width=100)
    speed = Slider(
        title=f"Speed (simulated days per update, {1000 // UPDATE_MS} updates/s)",
        start=1,
        end=MAX_DAYS_PER_UPDATE,
        step=1,
        value=1,
        name="speed",
        width=280,
    )
    field_select = Select(
        title="Cytokine field shown",
        value=state["field"],
        options=[(c, cyto_labels.get(c, c)) for c in CYTOKINES],
        name="field_select",
        width=280,
    )
    seed_input = Spinner(title="Seed", low=0, step=1, mode="int", value=session.seed, name="seed", width=280)
    type_select = Select(
        title="Herniation type",
        value=scen.patient.herniation_type.value,
        options=[(t.value, t.value.replace("_", " ")) for t in HerniationType],
        name="herniation_type",
        width=280,
    )
    sliders = {}
    for c in patient_controls(scen):
        unit = "" if c.unit in ("multiplier", "-") else f" ({c.unit.replace('^3', '³')})"
        sliders[c.name] = Slider(
            title=f"{c.label}{unit}", start=c.start, end=c.end, step=c.step, value=c.value, name=c.name, width=280
        )
    from ..model.treatments import TREATMENTS

    current = scen.treatment[0] if scen.treatment else None
    treatment_select = Select(
        title="Treatment (one [[treatment]] entry, usual dose and route)",
        value=current.kind if current is not None else "none",
        options=[("none", "none")] + [(k, k.replace("_", " ")) for k in TREATMENTS],
        name="treatment",
        width=280,
    )
    treatment_day = Spinner(
        title="Treatment day (after onset)",
        low=0,
        step=1,
        mode="int",
        value=int(current.start_day) if current is not None and current.start_day is not None else 42,
        name="treatment_day",
        width=280,
    )
    restart = Button(label="Restart with these settings", button_type="danger", name="restart", width=280)
    status = Div(name="status", css_classes=["discsim-status"], width=280, styles={"font-size": "10.5pt"})
    header = Div(
        text=(
            f"<b>discsim view</b> &mdash; scenario <b>{html.escape(scen.name)}</b>"
            + (f": {html.escape(scen.description)}" if scen.description else "")
        ),
        width=1300,
        styles={"font-size": "12pt"},
    )
    note = Div(
        text="<i>Seed and patient settings apply from day 0 when you press Restart; the same seed and settings "
        "give the same run as <code>discsim run</code> (with the treatment as a <code>[[treatment]]</code> entry: "
        "docs/model.md, Treatments).</i>",
        width=280,
        styles={"font-size": "9pt", "color": "#555"},
    )

    # ------------------------------------------------------------------ updating
    def refresh_traces(full: bool = False) -> None:
        ts = session.timeseries()
        if full or state["sent"] > len(ts):
            traces.data = {c: ts[c].to_numpy(dtype=float) for c in _TRACE_COLUMNS}
        elif len(ts) > state["sent"]:
            new = ts.iloc[state["sent"] :]
            traces.stream({c: new[c].to_numpy(dtype=float) for c in _TRACE_COLUMNS})
        state["sent"] = len(ts)

    def refresh_section() -> None:
        name = state["field"]
        label = cyto_labels.get(name, name)
        arr = session.field(name)
        field_src.data = {"image": [arr.T]}
        mapper.high = nice_ceiling(float(arr.max()))
        colorbar.title = f"{label} (pg/mL)"
        xs, ys = _outline(session.material(), lay.x_mm, lay.y_mm, FRAGMENT_LEVEL)
        outline_src.data = {"xs": xs, "ys": ys}
        for ph, (x, y) in session.cells().items():
            cell_src[ph].data = {"x": x, "y": y}
        section.title.text = f"Section at day {session.day}: {label} field, macrophages by phenotype"

    def refresh_status() -> None:
        obs = session.latest()
        text = (
            f"<b>Day {session.day}</b> of {session.days_total} &middot; seed {session.seed}<br>"
            f"leg pain VAS {obs['pain_vas']:.1f} &middot; volume {obs['herniation_volume_mm3']:.0f} mm³ "
            f"({100 * obs['volume_fraction']:.0f}% of onset)<br>"
            f"macrophages M0/M1/M2 {obs['n_m0']}/{obs['n_m1']}/{obs['n_m2']}"
        )
        treat = session.scenario.treatment
        if treat:
            text += "<br>treatment: " + ", ".join(
                html.escape(f"{t.kind} from day {t.start_day:g}" if t.start_day is not None else t.kind) for t in treat
            )
        if session.model.surgery_day is not None:
            text += f" &middot; operated on day {session.model.surgery_day:g}"
        if session.finished:
            text += "<br><i>End of the scenario's simulation.days.</i>"
        if state["pending"]:
            text += "<br><span style='color:#b00020'>Settings changed: press Restart to apply them.</span>"
        if state["message"]:
            text += f"<br><span style='color:#b00020'>{html.escape(state['message'])}</span>"
        status.text = text

    def refresh(full_traces: bool = False) -> None:
        refresh_traces(full_traces)
        refresh_section()
        refresh_status()

    def set_playing(on: bool) -> None:
        if on and state["playing"] is None and not session.finished:
            state["playing"] = doc.add_periodic_callback(tick, UPDATE_MS)
        elif not on and state["playing"] is not None:
            doc.remove_periodic_callback(state["playing"])
            state["playing"] = None
        playing = state["playing"] is not None
        play.disabled, pause.disabled, step.disabled = playing or session.finished, not playing, playing

    def tick() -> None:
        session.step_days(int(speed.value))
        if session.finished:
            set_playing(False)
        refresh()

    def on_step() -> None:
        session.step_days(1)
        set_playing(False)
        refresh()

    def on_restart() -> None:
        set_playing(False)
        patient = {name: float(s.value) for name, s in sliders.items()} | {"herniation_type": type_select.value}
        kind = treatment_select.value
        day = float(treatment_day.value if treatment_day.value is not None else 0)
        treatment = [] if kind == "none" else [{"kind": kind, "start_day": day}]
        try:
            session.restart(
                seed=int(seed_input.value if seed_input.value is not None else 0), patient=patient, treatment=treatment
            )
        except ScenarioError as exc:
            state["message"] = "; ".join(str(p) for p in exc.problems)
        else:
            state["message"], state["pending"] = "", False
        rebuild_static()
        set_playing(False)
        refresh(full_traces=True)

    def rebuild_static() -> None:
        """The section's geometry changes with the herniation type and volume (and the seed places vessels)."""
        nonlocal lay
        lay = session.layout
        section.x_range.end, section.y_range.end = lay.width_mm, lay.height_mm
        section.x_range.start = section.y_range.start = 0
        image.glyph.dw, image.glyph.dh = lay.width_mm, lay.height_mm
        sc = min(620.0 / lay.width_mm, 500.0 / lay.height_mm)
        section.frame_width, section.frame_height = int(round(lay.width_mm * sc)), int(round(lay.height_mm * sc))
        barrier_src.data = {"x": lay.barrier_mm[:, 0], "y": lay.barrier_mm[:, 1]}
        barrier.glyph.width = barrier.glyph.height = lay.dx_mm
        onset_src.data = dict(zip(("xs", "ys"), _outline(lay.material0, lay.x_mm, lay.y_mm, FRAGMENT_LEVEL)))
        root_src.data = {"x": [lay.root_center_mm[0]], "y": [lay.root_center_mm[1]], "r": [lay.root_radius_mm]}
        vessel_src.data = {"x": lay.vessels_mm[:, 0], "y": lay.vessels_mm[:, 1]}

    def on_field(attr, old, new) -> None:
        state["field"] = new
        refresh_section()

    def mark_pending(attr, old, new) -> None:
        state["pending"] = True
        refresh_status()

    play.on_click(lambda: set_playing(True))
    pause.on_click(lambda: set_playing(False))
    step.on_click(on_step)
    restart.on_click(on_restart)
    field_select.on_change("value", on_field)
    seed_input.on_change("value", mark_pending)
    type_select.on_change("value", mark_pending)
    treatment_select.on_change("value", mark_pending)
    treatment_day.on_change("value", mark_pending)
    for s in sliders.values():
        s.on_change("value_throttled", mark_pending)

    controls = column(
        row(play, pause, step),
        speed,
        field_select,
        status,
        Div(text="<b>Run settings</b>", width=280),
        seed_input,
        type_select,
        *sliders.values(),
        treatment_select,
        treatment_day,
        restart,
        note,
        width=300,
    )
    doc.add_root(column(header, row(controls, section, column(vas, vol, macs))))
    doc.title = f"discsim view: {scen.name}"
    refresh(full_traces=True)


def free_port(host: str) -> int:
    """A port the OS reports free on ``host`` now (for ``--port 0``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def serve(
    scenario: Scenario,
    *,
    host: str = "127.0.0.1",
    port: int = 5006,
    seed: int | None = None,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the view of ``scenario`` at ``http://host:port/`` until interrupted (Ctrl-C).

    ``ready(url)`` is called once the server listens. Raises ``OSError`` if the address cannot be bound.
    """
    from bokeh.server.server import Server
    from bokeh.settings import settings

    settings.resources.set_value("server")  # BokehJS from this server, never from a CDN
    if port == 0:
        port = free_port(host)
    shown = f"[{host}]" if ":" in host else host
    origins = {f"{shown}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"}
    server = Server(
        {"/": make_document(scenario, seed)},
        address=host,
        port=port,
        allow_websocket_origin=sorted(origins),
        num_procs=1,
    )
    server.start()
    if ready is not None:
        ready(f"http://{shown}:{port}/")
    try:
        server.io_loop.start()
    finally:
        server.stop()
