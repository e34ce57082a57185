"""What the studio's tracking pages show, apart from the views that serve them: an
experiment's run table (chosen params and latest metrics as columns, MLflow's filter and
ordering, pages), the comparison of runs, a run's panels (charts, parameters, outputs) and
its series downsampled for a chart."""

import csv
import io
import json
import math
import mimetypes
import posixpath
from dataclasses import dataclass, field

from django.core.paginator import Paginator
from django.db.models import Subquery

from tracking import artifacts, history, search
from tracking.errors import MlflowError
from tracking.models import Experiment, LatestMetric, Lifecycle, Param, Run, RunTag
from tracking.services import JOB_TAG

PAGE_SIZE = 50
# The columns offered are the keys of the experiment's latest runs (a 10,000-run experiment
# is not scanned for them); a key logged only by older runs can still be typed as a filter.
KEYS_FROM_RUNS = 1000
MAX_COLUMNS = 12
DEFAULT_COLUMNS = 4
MAX_COMPARED = 10
MAX_KEYS = 200
RANK_MARK = "/rank-"
# Preview limits: text and JSON shown up to this many bytes, CSV up to this many rows.
PREVIEW_BYTES = 256 * 1024
PREVIEW_ROWS = 50
# Images shown inline are raster formats only: an SVG or HTML file could carry script.
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp"}  # fmt: skip
TEXT_SUFFIXES = {".txt", ".log", ".md", ".py", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".sh", ".json", ".csv", ".tsv", ""}  # fmt: skip


def _keys(model, runs) -> list[str]:
    found = model.objects.filter(run__in=Subquery(runs.values("pk")[:KEYS_FROM_RUNS]))
    return list(found.values_list("key", flat=True).distinct().order_by("key")[:MAX_KEYS])


@dataclass
class Column:
    entity: str  # "params" or "metrics"
    key: str

    @property
    def name(self) -> str:
        return f"{self.entity}.{self.key}"

    @property
    def order_name(self) -> str:
        """The column as MLflow's ``order_by`` spells it (backquoted when it has to be)."""
        plain = all(c.isalnum() or c in "_." for c in self.key)
        return f"{self.entity}.{self.key}" if plain else f"{self.entity}.`{self.key}`"


@dataclass
class RunRow:
    run: Run
    cells: list = field(default_factory=list)


@dataclass
class RunTable:
    page: object
    rows: list[RunRow]
    columns: list[Column]
    param_keys: list[str]
    metric_keys: list[str]
    error: str = ""


def _chosen(asked: list[str], params: list[str], metrics: list[str]) -> list[Column]:
    offered = {f"params.{k}": Column("params", k) for k in params}
    offered |= {f"metrics.{k}": Column("metrics", k) for k in metrics}
    if not asked:
        return [Column("params", k) for k in params[:DEFAULT_COLUMNS]] + [
            Column("metrics", k) for k in metrics[:DEFAULT_COLUMNS]
        ]
    return [offered[name] for name in dict.fromkeys(asked) if name in offered][:MAX_COLUMNS]


def run_table(
    experiment: Experiment, *, filter_text: str, order: str, columns: list[str], page: str | None
) -> RunTable:
    """One page of ``experiment``'s runs; a bad filter or order gives an empty page with
    MLflow's sentence in ``error``."""
    runs = Run.objects.filter(experiment=experiment, lifecycle_stage=Lifecycle.ACTIVE)
    recent = runs.order_by("-start_time", "-id")
    param_keys, metric_keys = _keys(Param, recent), _keys(LatestMetric, recent)
    chosen = _chosen(columns, param_keys, metric_keys)
    error = ""
    try:
        terms, annotations = search.order_terms([order] if order else [])
        rows = runs.filter(search.parse_filter(filter_text)).annotate(**annotations)
        rows = rows.order_by(*terms)
    except MlflowError as exc:
        error, rows = exc.message, runs.none()
    fields = ("run_id", "name", "status", "start_time", "end_time", "source", "user_id")
    paged = Paginator(rows.only(*fields), PAGE_SIZE).get_page(page)
    found = list(paged.object_list)
    values = _cell_values(found, chosen)
    table_rows = [RunRow(run, [values.get((run.pk, c.name)) for c in chosen]) for run in found]
    return RunTable(paged, table_rows, chosen, param_keys, metric_keys, error)


def _cell_values(runs: list[Run], columns: list[Column]) -> dict:
    """{(run pk, column name): shown value} for ``runs`` and ``columns``, in two queries."""
    values = {}
    params = [c.key for c in columns if c.entity == "params"]
    metrics = [c.key for c in columns if c.entity == "metrics"]
    if params:
        for run_id, key, value in Param.objects.filter(run__in=runs, key__in=params).values_list(
            "run_id", "key", "value"
        ):
            values[(run_id, f"params.{key}")] = value
    if metrics:
        latest = LatestMetric.objects.filter(run__in=runs, key__in=metrics)
        for run_id, key, value, is_nan in latest.values_list("run_id", "key", "value", "is_nan"):
            values[(run_id, f"metrics.{key}")] = number(value, is_nan)
    return values


def number(value: float, is_nan: bool = False) -> str:
    if is_nan or math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.6g}"


@dataclass
class Comparison:
    runs: list[Run]
    params: list[tuple[str, list, bool]]  # (key, value per run, differs)
    metrics: list[tuple[str, list, bool]]


def compare(workspace, run_ids: list[str]) -> Comparison:
    """Up to MAX_COMPARED of the workspace's runs, side by side: every param and latest
    metric, each row marked where the runs differ."""
    wanted = list(dict.fromkeys(r for r in run_ids if r.isalnum() and len(r) <= 32))
    wanted = wanted[:MAX_COMPARED]
    found = {r.run_id: r for r in Run.objects.filter(workspace=workspace, run_id__in=wanted)}
    runs = [found[r] for r in wanted if r in found]
    params: dict[str, dict] = {}
    for run_id, key, value in Param.objects.filter(run__in=runs).values_list(
        "run_id", "key", "value"
    ):
        params.setdefault(key, {})[run_id] = value
    metrics: dict[str, dict] = {}
    for run_id, key, value, is_nan in LatestMetric.objects.filter(run__in=runs).values_list(
        "run_id", "key", "value", "is_nan"
    ):
        metrics.setdefault(key, {})[run_id] = number(value, is_nan)

    def rows(table: dict) -> list:
        out = []
        for key in sorted(table):
            cells = [table[key].get(run.pk) for run in runs]
            out.append((key, cells, len(set(cells)) > 1))
        return out

    return Comparison(runs, rows(params), rows(metrics))


def run_job_name(run: Run) -> str | None:
    """The name of the job whose run this is (its ``kp.job`` tag), if it is a job's."""
    if run.source != "job":
        return None
    return RunTag.objects.filter(run=run, key=JOB_TAG).values_list("value", flat=True).first()


def metric_keys(run: Run) -> list[str]:
    return list(LatestMetric.objects.filter(run=run).order_by("key").values_list("key", flat=True))[
        :MAX_KEYS
    ]


def chart_groups(keys: list[str]) -> list[str]:
    """The charts a run has: one per metric, a distributed job's ranks (``key/rank-N``)
    drawn in their metric's chart."""
    return list(dict.fromkeys(k.split(RANK_MARK, 1)[0] for k in keys))


def _finite(value):
    return value if value is not None and math.isfinite(value) else None


def series(run: Run, *, width: int, by: str, keys: list[str] | None = None) -> dict:
    """The run's metrics downsampled to ``width`` buckets each (min/max kept), for charts:
    {key: {"total", "x", "mean", "low", "high"}}. ±inf are left as gaps."""
    known = metric_keys(run)
    chosen = [k for k in known if k in set(keys)] if keys else known
    out = {}
    for key in chosen:
        buckets, total = history.downsample(run.pk, key, width, by=by)
        out[key] = {
            "total": total,
            "x": [b.x for b in buckets],
            "mean": [_finite(b.mean) for b in buckets],
            "low": [_finite(b.low) for b in buckets],
            "high": [_finite(b.high) for b in buckets],
        }
    return out


@dataclass
class Preview:
    kind: str  # "text", "json", "csv", "image", "binary", "too-large"
    text: str = ""
    rows: list = field(default_factory=list)
    size: int = 0


def image_type(path: str) -> str | None:
    return IMAGE_TYPES.get(posixpath.splitext(path)[1].lower())


def preview(run: Run, path: str) -> Preview | None:
    """What the Outputs section shows of one file: text, pretty JSON, a CSV's first rows,
    an image (drawn from the download link), or a note that it cannot be shown."""
    full = f"{run.artifact_root}/{path}"
    handle = artifacts.open_file(run.workspace_id, full)
    if handle is None:
        return None
    with handle:
        size = artifacts.size(run.workspace_id, full)
        if image_type(path):
            return Preview("image", size=size)
        suffix = posixpath.splitext(path)[1].lower()
        guessed = mimetypes.guess_type(path)[0] or ""
        if suffix not in TEXT_SUFFIXES and not guessed.startswith("text/"):
            return Preview("binary", size=size)
        data = handle.read(PREVIEW_BYTES + 1)
    if len(data) > PREVIEW_BYTES and suffix == ".json":
        return Preview("too-large", size=size)
    text = data[:PREVIEW_BYTES].decode("utf-8", errors="replace")
    if "\x00" in text:
        return Preview("binary", size=size)
    if suffix == ".json":
        try:
            return Preview(
                "json", json.dumps(json.loads(text), indent=2)[:PREVIEW_BYTES], size=size
            )
        except ValueError:
            return Preview("text", text, size=size)
    if suffix in (".csv", ".tsv"):
        reader = csv.reader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ",")
        rows = [row for _, row in zip(range(PREVIEW_ROWS + 1), reader, strict=False)]
        return Preview("csv", rows=rows, size=size)
    return Preview("text", text, size=size)


def panels(run: Run) -> dict:
    """The context of a run's Metrics, Parameters and Outputs sections (the job page shows
    them for a job's run, the run page for any run)."""
    keys = metric_keys(run)
    return {
        "run": run,
        "chart_groups": chart_groups(keys),
        "run_params": Param.objects.filter(run=run),
        "run_tags": RunTag.objects.filter(run=run).exclude(key__startswith="mlflow."),
        "entries": entries(run, ""),
        "folder": "",
    }


def entries(run: Run, folder: str) -> list[dict]:
    """One folder of the run's outputs, each entry with its path from the outputs' root."""
    base = f"{run.artifact_root}/{folder}" if folder else run.artifact_root
    return [
        {
            "name": e.path,
            "path": f"{folder}/{e.path}" if folder else e.path,
            "is_dir": e.is_dir,
            "size": e.size,
        }
        for e in artifacts.listing(run.workspace_id, base)
    ]
