"""X/Y/Z plot (A1111's `scripts/xyz_grid.py`): a picture for every combination of up to three axes' values, laid out
as a grid per Z value with legends, and a grid of those grids."""
from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

from PIL import Image

from ..events import Done
from ..imageops import image_grid
from ..infotext import add_to_infotext
from ..job import Job, JobError
from ..noise import fixed_seed
from ..params import InputField
from ..tiles import GridAnnotation, draw_grid_annotations, labelled_grid
from .base import Script, ScriptContext, combined_done, sub_job
from .xyz_axes import AXES, AXIS_LABELS, Axis, axis_values


@dataclass
class XYZArgs:
    x_type: int = InputField(1, label="X type", choices=AXIS_LABELS)
    x_values: str = InputField("", label="X values", help="1, 2, 3 or ranges: 1-5, 1-5 (+2), 1-3 [5]")
    x_values_dropdown: List[str] = InputField([], label="X values (choices)", page=False)
    y_type: int = InputField(0, label="Y type", choices=AXIS_LABELS)
    y_values: str = InputField("", label="Y values")
    y_values_dropdown: List[str] = InputField([], label="Y values (choices)", page=False)
    z_type: int = InputField(0, label="Z type", choices=AXIS_LABELS)
    z_values: str = InputField("", label="Z values")
    z_values_dropdown: List[str] = InputField([], label="Z values (choices)", page=False)
    draw_legend: bool = InputField(True, label="Draw legend")
    include_lone_images: bool = InputField(False, label="Include Sub Images")
    include_sub_grids: bool = InputField(False, label="Include Sub Grids")
    no_fixed_seeds: bool = InputField(False, label="Keep -1 for seeds")
    vary_seeds_x: bool = InputField(False, label="Vary seeds for X")
    vary_seeds_y: bool = InputField(False, label="Vary seeds for Y")
    vary_seeds_z: bool = InputField(False, label="Vary seeds for Z")
    margin_size: int = InputField(0, label="Grid margins (px)", ge=0, le=500, ui=(0, 500, 2))
    csv_mode: bool = InputField(False, label="Use text inputs instead of dropdowns")


@dataclass
class _Plot:
    axes: Tuple[Axis, Axis, Axis]
    values: Tuple[List[Any], List[Any], List[Any]]

    def loop_order(self) -> List[int]:
        """A1111's order: the costliest axis (checkpoints, VAEs) outermost, else Z, Y, X."""
        x, y, z = (axis.cost for axis in self.axes)
        if x > y and x > z:
            return [0, 1, 2] if y > z else [0, 2, 1]
        if y > x and y > z:
            return [1, 0, 2] if x > z else [1, 2, 0]
        if z > x and z > y:
            return [2, 0, 1] if x > y else [2, 1, 0]
        return [2, 1, 0]

    def cells(self):
        """(ix, iy, iz) in the loop order."""
        order = self.loop_order()
        sizes = [len(v) for v in self.values]
        for a in range(sizes[order[0]]):
            for b in range(sizes[order[1]]):
                for c in range(sizes[order[2]]):
                    index = [0, 0, 0]
                    index[order[0]], index[order[1]], index[order[2]] = a, b, c
                    yield tuple(index)


class XYZPlot(Script):
    title = "X/Y/Z plot"
    img2img_only = False
    Args = XYZArgs

    def axes(self) -> Tuple[Axis, Axis, Axis]:
        axes = tuple(AXES[i] for i in (self.args.x_type, self.args.y_type, self.args.z_type))
        for axis in axes:
            if axis.apply is None:
                raise JobError(f"X/Y/Z plot: the axis {axis.label!r} is not available on this server")
        return axes

    def plot(self) -> _Plot:
        a = self.args
        axes = self.axes()
        values = tuple(axis_values(axis, text, chosen, a.csv_mode) for axis, text, chosen in zip(
            axes, (a.x_values, a.y_values, a.z_values), (a.x_values_dropdown, a.y_values_dropdown,
                                                         a.z_values_dropdown)))
        for axis, vals in zip(axes, values):
            if not vals:
                raise JobError(f"X/Y/Z plot: no values for {axis.label}")
        if not a.no_fixed_seeds:
            values = tuple([random.randrange(4294967294) if axis.label in ("Seed", "Var. seed") and v in (None, "", -1)
                            else v for v in vals] for axis, vals in zip(axes, values))
        return _Plot(axes, values)

    def check(self, job: Job) -> None:
        plot = self.plot()
        cells = len(plot.values[0]) * len(plot.values[1]) * len(plot.values[2])
        width, height = job.target_size()
        if cells * width * height > 200_000_000:
            raise JobError(f"X/Y/Z plot: the grid would be too large ({cells} pictures of {width}x{height})")

    def run(self, job: Job, context: ScriptContext) -> Done:
        a, plot = self.args, self.plot()
        if not a.no_fixed_seeds:
            job = sub_job(job, seed=fixed_seed(job.seed))
        if not context.options.return_grid:
            job = sub_job(job, batch_size=1)
        xs, ys, zs = plot.values
        context.job_count = len(xs) * len(ys) * len(zs) * job.n_iter
        pictures: Dict[Tuple[int, int, int], Tuple[Image.Image, str, int]] = {}
        first = None
        for cell in plot.cells():
            if context.interrupted:
                break
            done = context.process(self.cell_job(job, plot, cell, context))
            if done.images:
                first = first or done
                picture = done.grid if done.grid is not None else done.images[0]
                pictures[cell] = (picture, done.infotexts[0], done.seeds[0])
        if not pictures:
            return combined_done(None, [], [], [])
        return self.grids(job, plot, pictures, context, first)

    def cell_job(self, job: Job, plot: _Plot, cell: Tuple[int, int, int], context: ScriptContext) -> Job:
        a = self.args
        cell_job = sub_job(job, styles=list(job.styles))
        for axis, values, i in zip(plot.axes, plot.values, cell):
            cell_job = axis.apply(cell_job, values[i], values, context)
        xdim = len(plot.values[0]) if a.vary_seeds_x else 1
        ydim = len(plot.values[1]) if a.vary_seeds_y else 1
        offset = (cell[0] if a.vary_seeds_x else 0) + (cell[1] * xdim if a.vary_seeds_y else 0) + \
            (cell[2] * xdim * ydim if a.vary_seeds_z else 0)
        return dataclasses.replace(cell_job, seed=cell_job.seed + offset) if offset else cell_job

    def grid_params(self, plot: _Plot, names: str) -> Dict[str, Any]:
        a, params = self.args, {}
        for name in names:
            i = "XYZ".index(name)
            axis, text = plot.axes[i], (a.x_values, a.y_values, a.z_values)[i]
            if axis.label == "Nothing":
                continue
            params[f"{name} Type"] = axis.label
            params[f"{name} Values"] = text
            if axis.label in ("Seed", "Var. seed") and not a.no_fixed_seeds:
                params[f"Fixed {name} Values"] = ", ".join(str(v) for v in plot.values[i])
        return params

    def grids(self, job: Job, plot: _Plot, pictures, context: ScriptContext, first: Done) -> Done:
        """A grid per Z value (X across, Y down), the grid of those, their infotexts; what A1111 returns."""
        a = self.args
        xs, ys, zs = plot.values
        some = next(iter(pictures.values()))
        blank = Image.new(some[0].mode, some[0].size)
        labels = [[axis.format(axis, v) for v in values] for axis, values in zip(plot.axes, plot.values)]
        sub_grids, sub_infotexts = [], []
        for iz in range(len(zs)):
            cells = [pictures.get((ix, iy, iz), (blank, some[1], some[2]))[0] for iy in range(len(ys))
                     for ix in range(len(xs))]
            sub_grids.append(labelled_grid(cells, len(ys), labels[0], labels[1], a.margin_size, a.draw_legend))
            corner = pictures.get((0, 0, iz), some)
            sub_infotexts.append(add_to_infotext(corner[1], dict(Script=self.title, **self.grid_params(plot, "XY"))))
        main = image_grid(sub_grids, rows=1)
        if a.draw_legend:
            width, height = (max(g.width for g in sub_grids), max(g.height for g in sub_grids))
            main = draw_grid_annotations(main, width, height, [[GridAnnotation(t)] for t in labels[2]],
                                         [[GridAnnotation()]])
        main_infotext = add_to_infotext(sub_infotexts[0], self.grid_params(plot, "Z"))
        shown = [(main, main_infotext)] + (list(zip(sub_grids, sub_infotexts)) if a.include_sub_grids else [])
        for image, infotext in shown:
            context.show(job, image, infotext, some[2], grid=True)
        images = [image for image, _ in shown]
        infotexts = [infotext for _, infotext in shown]
        if a.include_lone_images:
            for cell in sorted(pictures, key=lambda c: (c[2], c[1], c[0])):
                images.append(pictures[cell][0])
                infotexts.append(pictures[cell][1])
        seeds = [some[2]] * len(images)
        return combined_done(first, images, infotexts, seeds, context.interrupted, len(shown))
