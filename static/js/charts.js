// Metric charts of runs, drawn with uPlot.
//
// A `[data-charts]` element holds one run (its own `data-series-url`) or several
// (`[data-source]` children, on the compare page). Each source's series come downsampled
// from the server to the chart's width (mean, and min/max per bucket so peaks survive);
// points logged afterwards arrive over the page's websocket as a hidden
// `#run-points-<pk>` fragment with a `data-points` JSON payload, and are appended here.
// One chart per metric; a distributed job's ranks (`key/rank-N`) are series of their
// metric's chart; "chosen metrics in one chart" draws the picked metrics together.
(() => {
  "use strict";
  const RANK = "/rank-";
  const COLORS = ["#0b5cad", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0e7490", "#a16207", "#be185d", "#4d7c0f", "#334155"];
  const boards = [];

  const groupOf = (key) => key.split(RANK)[0];
  // True for a series the server downsampled (its buckets hold more than one point each).
  const ranged = (line) => line.series.total > line.series.x.length;
  const rankOf = (key) => (key.includes(RANK) ? Number(key.split(RANK)[1]) : 0);

  function smooth(values, weight) {
    if (!weight) return values;
    let last = null;
    return values.map((v) => {
      if (v === null || v === undefined) return v;
      last = last === null ? v : last * weight + v * (1 - weight);
      return last;
    });
  }

  // Inserts (x, value) into a series kept sorted by x (appending is the common case).
  function insert(series, x, value) {
    let i = series.x.length;
    while (i > 0 && series.x[i - 1] > x) i -= 1;
    series.x.splice(i, 0, x);
    series.mean.splice(i, 0, value);
    series.low.splice(i, 0, value);
    series.high.splice(i, 0, value);
  }

  class Board {
    constructor(root) {
      this.root = root;
      this.grid = root.querySelector("[data-grid]");
      const own = root.dataset.seriesUrl ? [root] : [...root.querySelectorAll("[data-source]")];
      this.sources = own.map((el) => ({
        url: el.dataset.seriesUrl,
        pk: el.dataset.run,
        label: el.dataset.label,
        series: {},
      }));
      this.options = { x: "step", smoothing: 0, log: false, together: false };
      this.charts = [];
      this.pending = false;
      this.arrived = [];
      root.querySelectorAll("[data-option]").forEach((input) => {
        input.addEventListener("input", () => this.setOption(input));
        input.addEventListener("change", () => this.setOption(input));
      });
      root.addEventListener("change", (event) => {
        if (event.target.matches("[data-pick]")) this.draw();
      });
      new ResizeObserver(() => this.resize()).observe(this.grid);
      this.load();
    }

    setOption(input) {
      const name = input.dataset.option;
      const value = input.type === "checkbox" ? input.checked : input.value;
      const reload = name === "x" && value !== this.options.x;
      this.options[name] = name === "smoothing" ? Number(value) : value;
      if (reload) this.load();
      else this.draw();
    }

    async load() {
      // About one bucket per pixel of a chart (charts are at most this wide in the grid).
      const width = Math.max(100, Math.min(640, Math.round(this.grid.clientWidth || 640)));
      await Promise.all(
        this.sources.map(async (source) => {
          const response = await fetch(`${source.url}?width=${width}&x=${this.options.x}`, {
            credentials: "same-origin",
            headers: { Accept: "application/json" },
          });
          if (!response.ok) return;
          source.series = (await response.json()).series;
        }),
      );
      this.root.dataset.loaded = "true";
      this.draw();
    }

    picked() {
      const boxes = [...this.root.querySelectorAll("[data-pick]")];
      return boxes.filter((b) => b.checked).map((b) => b.value);
    }

    ensurePick(group) {
      const list = this.root.querySelector(".chart-picks");
      if (!list || [...list.querySelectorAll("[data-pick]")].some((b) => b.value === group)) return;
      const item = document.createElement("li");
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.checked = true;
      box.value = group;
      box.dataset.pick = "";
      label.append(box, ` ${group}`);
      item.append(label);
      list.append(item);
      this.root.querySelector("[data-empty]")?.remove();
    }

    // The charts to draw: [{title, lines: [{label, series}]}].
    layout() {
      const groups = this.picked();
      const charts = groups.map((group) => ({ title: group, lines: [] }));
      const byGroup = new Map(charts.map((c) => [c.title, c]));
      const many = this.sources.length > 1;
      for (const source of this.sources) {
        for (const key of Object.keys(source.series).sort((a, b) => rankOf(a) - rankOf(b))) {
          const chart = byGroup.get(groupOf(key));
          if (!chart) continue;
          const rank = key.includes(RANK) ? ` rank ${rankOf(key)}` : "";
          const label = many ? `${source.label}${rank}` : rank ? rank.trim() : key;
          chart.lines.push({ label, series: source.series[key], key });
        }
      }
      if (this.options.together && charts.length > 1) {
        const lines = charts.flatMap((c) => c.lines.map((l) => ({ ...l, label: many ? `${l.label} ${c.title}` : l.key })));
        return [{ title: groups.join(", "), lines }];
      }
      return charts.filter((c) => c.lines.length);
    }

    // Redraws: new data into the same charts when only points changed, new charts otherwise.
    draw() {
      const specs = this.layout();
      const shape = JSON.stringify([this.options, specs.map((s) => [s.title, s.lines.map((l) => [l.label, ranged(l)])])]);
      if (shape === this.shape) {
        specs.forEach((spec, i) => this.charts[i].setData(this.data(spec)));
      } else {
        this.shape = shape;
        this.charts.forEach((c) => c.destroy());
        this.grid.replaceChildren();
        this.charts = specs.map((spec) => this.chart(spec));
      }
      this.root.dataset.points = String(this.countPoints());
    }

    countPoints() {
      let n = 0;
      for (const s of this.sources) for (const k of Object.keys(s.series)) n += s.series[k].x.length;
      return n;
    }

    // uPlot wants one x array shared by every series: merge the lines' x values.
    data(spec) {
      const xs = [...new Set(spec.lines.flatMap((l) => l.series.x))].sort((a, b) => a - b);
      const index = new Map(xs.map((x, i) => [x, i]));
      const columns = [this.options.x === "time" ? xs.map((x) => x / 1000) : xs];
      for (const line of spec.lines) {
        const column = new Array(xs.length).fill(null);
        line.series.x.forEach((x, i) => {
          column[index.get(x)] = line.series.mean[i];
        });
        columns.push(smooth(column, this.options.smoothing));
        if (ranged(line)) {
          for (const edge of ["low", "high"]) {
            const extreme = new Array(xs.length).fill(null);
            line.series.x.forEach((x, i) => {
              extreme[index.get(x)] = line.series[edge][i];
            });
            columns.push(extreme);
          }
        }
      }
      return this.options.log ? columns.map((c, i) => (i ? c.map((v) => (v > 0 ? v : null)) : c)) : columns;
    }

    chart(spec) {
      const figure = document.createElement("figure");
      figure.className = "chart";
      figure.dataset.metric = spec.title;
      const caption = document.createElement("figcaption");
      caption.textContent = spec.title;
      figure.append(caption);
      this.grid.append(figure);
      const options = {
        width: this.widthOf(figure),
        height: 220,
        scales: { x: { time: this.options.x === "time" }, y: { distr: this.options.log ? 3 : 1 } },
        series: [{ label: this.options.x }],
        bands: [],
        axes: [{}, { size: 60 }],
        legend: { live: true },
      };
      // A downsampled line has its buckets' minimum and maximum drawn as a band around it.
      spec.lines.forEach((line, i) => {
        const color = COLORS[i % COLORS.length];
        options.series.push({ label: line.label, stroke: color, width: 1.5, spanGaps: true, points: { show: false } });
        if (!ranged(line)) return;
        const at = options.series.length;
        for (const edge of ["min", "max"]) {
          options.series.push({ label: `${line.label} ${edge}`, stroke: `${color}55`, width: 0.5, spanGaps: true, points: { show: false } });
        }
        options.bands.push({ series: [at + 1, at], fill: `${color}22` });
      });
      return new window.uPlot(options, this.data(spec), figure);
    }

    widthOf(figure) {
      return Math.max(200, figure.clientWidth - 12);
    }

    resize() {
      this.charts.forEach((c) => c.setSize({ width: this.widthOf(c.root.parentElement), height: 220 }));
    }

    // New points of run `pk`: {key: [[step, timestamp, value], ...]}.
    append(pk, points) {
      let touched = false;
      for (const source of this.sources.filter((s) => s.pk === pk)) {
        for (const [key, rows] of Object.entries(points)) {
          if (!source.series[key]) {
            source.series[key] = { total: 0, x: [], mean: [], low: [], high: [] };
            this.ensurePick(groupOf(key));
          }
          const series = source.series[key];
          for (const [step, timestamp, value] of rows) {
            insert(series, this.options.x === "time" ? timestamp : step, value);
            series.total += 1;
            this.arrived.push(timestamp);
          }
          touched = true;
        }
      }
      if (touched && !this.pending) {
        this.pending = true;
        requestAnimationFrame(() => {
          this.pending = false;
          this.draw();
          // Tells who listens (a benchmark, a test) which points' log times are now drawn.
          const timestamps = this.arrived;
          this.arrived = [];
          this.root.dispatchEvent(new CustomEvent("charts:drawn", { detail: { timestamps } }));
        });
      }
    }
  }

  // Live points: read the fragment's payload and keep the placeholder as it is.
  document.addEventListener("htmx:oobBeforeSwap", (event) => {
    const target = event.detail.target;
    if (!target || !target.classList.contains("run-points")) return;
    const incoming = event.detail.fragment.querySelector?.(".run-points") || event.detail.fragment.firstElementChild;
    event.detail.shouldSwap = false;
    if (!incoming || !incoming.dataset.points) return;
    let points;
    try {
      points = JSON.parse(incoming.dataset.points);
    } catch {
      return;
    }
    const pk = target.id.slice("run-points-".length);
    boards.forEach((board) => board.append(pk, points));
  });

  function start() {
    if (!window.uPlot) return;
    document.querySelectorAll("[data-charts]").forEach((root) => boards.push(new Board(root)));
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
