// Canvas charts of a fixed size (no layout moves as samples arrive): a
// sparkline for table rows, a line chart with one or two series.

function colors() {
  const s = getComputedStyle(document.documentElement);
  return { line: s.getPropertyValue("--accent").trim(), second: s.getPropertyValue("--warn").trim(),
    grid: s.getPropertyValue("--line").trim(), text: s.getPropertyValue("--muted").trim() };
}

function fit(canvas) {
  const r = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 90, hgt = canvas.clientHeight || 22;
  if (canvas.width !== Math.round(w * r)) {
    canvas.width = Math.round(w * r);
    canvas.height = Math.round(hgt * r);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(r, 0, 0, r, 0, 0);
  ctx.clearRect(0, 0, w, hgt);
  return { ctx, w, h: hgt };
}

function path(ctx, values, max, w, h, keep) {
  ctx.beginPath();
  // The newest sample at the right edge; older ones scroll left.
  const step = w / Math.max(1, keep - 1);
  values.forEach((v, i) => {
    const x = w - (values.length - 1 - i) * step;
    const y = h - 2 - (max > 0 ? (v / max) * (h - 4) : 0);
    if (i === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  });
  ctx.stroke();
}

/** A series of the last `keep` samples, drawn on `canvas`. */
export class Series {
  constructor(canvas, keep = 60, { second = false, format = (v) => v.toFixed(1) } = {}) {
    this.canvas = canvas;
    this.keep = keep;
    this.a = [];
    this.b = second ? [] : null;
    this.format = format;
  }

  push(a, b) {
    this.a.push(a);
    if (this.a.length > this.keep) this.a.shift();
    if (this.b) {
      this.b.push(b);
      if (this.b.length > this.keep) this.b.shift();
    }
    this.draw();
  }

  draw() {
    const { ctx, w, h } = fit(this.canvas);
    const c = colors();
    const max = Math.max(1e-9, ...this.a, ...(this.b || []));
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = c.line;
    path(ctx, this.a, max, w, h, this.keep);
    if (this.b) {
      ctx.strokeStyle = c.second;
      path(ctx, this.b, max, w, h, this.keep);
    }
    if (h > 40) {
      ctx.fillStyle = c.text;
      ctx.font = "11px system-ui";
      ctx.fillText(this.format(max), 4, 12);
    }
  }
}
