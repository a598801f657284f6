"""Browser side of the drawing canvas: the HTML, CSS and JavaScript of a ``gr.HTML`` component (Gradio 6).

The component's value is the canvas dict of `videocomposer.app.canvas`. The script draws the background, the strokes
(thin, as drawn), their smoothed B-splines (thick, from Python) with a dot per frame and the radius of each stroke
at its start. A stroke is a press, drag and release of the mouse (or pen / finger): its points are recorded in canvas
pixels with time stamps in seconds; on release it is appended to the value and an ``input`` event goes to Python,
which answers with the smoothed curves.
"""

import json

CANVAS_HTML = '<div class="vc-canvas-wrap"><canvas class="vc-canvas" width="256" height="256"></canvas></div>'

CANVAS_CSS = """
.vc-canvas-wrap { width: 100%; max-width: 512px; }
.vc-canvas { width: 100%; height: auto; display: block; cursor: crosshair; touch-action: none;
             border: 1px solid #888; background: #ececec; }
"""

STROKE_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#17becf")

CANVAS_JS = """
const palette = PALETTE;
const background = new Image();
let backgroundSource = null;
let drawing = null;

function canvasOf() { return element.querySelector('canvas.vc-canvas'); }
function current() { return props.value || {}; }

function redraw() {
  const canvas = canvasOf();
  if (!canvas) return;
  const value = current();
  const width = value.width || 256, height = value.height || 256;
  if (canvas.width !== width || canvas.height !== height) { canvas.width = width; canvas.height = height; }
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ececec';
  ctx.fillRect(0, 0, width, height);
  if (value.background) {
    if (backgroundSource !== value.background) {
      backgroundSource = value.background;
      background.onload = redraw;
      background.src = value.background;
    } else if (background.complete && background.naturalWidth) {
      ctx.drawImage(background, 0, 0, width, height);
    }
  } else { backgroundSource = null; }
  const strokes = (value.strokes || []).slice();
  if (drawing) strokes.push(drawing);
  const smooth = value.smooth || [];
  strokes.forEach((stroke, i) => {
    const colour = palette[i % palette.length];
    const points = stroke.points || [];
    if (!points.length) return;
    const radius = stroke.radius || value.radius || 16;
    ctx.globalAlpha = 0.15; ctx.fillStyle = colour;
    ctx.beginPath(); ctx.arc(points[0][0], points[0][1], radius, 0, 2 * Math.PI); ctx.fill();
    ctx.globalAlpha = 0.6; ctx.strokeStyle = colour; ctx.lineWidth = 1.5; ctx.setLineDash([4, 3]);
    ctx.beginPath(); points.forEach((p, k) => k ? ctx.lineTo(p[0], p[1]) : ctx.moveTo(p[0], p[1])); ctx.stroke();
    ctx.setLineDash([]); ctx.globalAlpha = 1;
    const fit = smooth[i];
    if (fit && stroke !== drawing) {
      ctx.strokeStyle = colour; ctx.lineWidth = 4;
      ctx.beginPath(); fit.curve.forEach((p, k) => k ? ctx.lineTo(p[0], p[1]) : ctx.moveTo(p[0], p[1])); ctx.stroke();
      fit.frames.forEach((p) => {
        ctx.fillStyle = '#ffffff'; ctx.beginPath(); ctx.arc(p[0], p[1], 4, 0, 2 * Math.PI); ctx.fill();
        ctx.strokeStyle = colour; ctx.lineWidth = 2; ctx.stroke();
      });
    }
    ctx.fillStyle = colour; ctx.font = 'bold 14px sans-serif';
    ctx.fillText(String(i + 1), points[0][0] + 5, points[0][1] - 5);
  });
}

function position(event) {
  const canvas = canvasOf();
  const box = canvas.getBoundingClientRect();
  const x = (event.clientX - box.left) * canvas.width / box.width;
  const y = (event.clientY - box.top) * canvas.height / box.height;
  const clamp = (v, high) => Math.round(Math.min(Math.max(v, 0), high - 1) * 100) / 100;
  return [clamp(x, canvas.width), clamp(y, canvas.height)];
}

element.addEventListener('pointerdown', (event) => {
  if (!event.target.classList.contains('vc-canvas') || event.button !== 0) return;
  event.preventDefault();
  drawing = {points: [position(event)], times: [event.timeStamp / 1000], radius: current().radius};
  redraw();
});
element.addEventListener('pointermove', (event) => {
  if (!drawing) return;
  const p = position(event), last = drawing.points[drawing.points.length - 1];
  if (Math.hypot(p[0] - last[0], p[1] - last[1]) < 1) return;
  drawing.points.push(p); drawing.times.push(event.timeStamp / 1000);
  redraw();
});
function finish(event) {
  if (!drawing) return;
  const stroke = drawing;
  drawing = null;
  if (event && event.type === 'pointerup') {
    const p = position(event), last = stroke.points[stroke.points.length - 1];
    if (Math.hypot(p[0] - last[0], p[1] - last[1]) >= 1) { stroke.points.push(p); stroke.times.push(event.timeStamp / 1000); }
  }
  const value = Object.assign({}, current());
  value.strokes = (value.strokes || []).concat([stroke]);
  value.smooth = [];
  props.value = value;
  redraw();
  trigger('input');
}
window.addEventListener('pointerup', finish);
element.addEventListener('pointerleave', (event) => { if (drawing) finish(null); });
watch('value', redraw);
redraw();
canvasOf().dataset.ready = 'true';  // the handlers are attached: strokes drawn from now on are recorded
""".replace("PALETTE", json.dumps(STROKE_COLOURS))
