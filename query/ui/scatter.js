// The duration scatter plot of search results: x = trace start, y = duration, one dot per trace
// (radius grows with the span count, red when the trace has errors). Clicking a dot opens the trace.

import { formatClock, formatDuration, formatTimestamp, s } from './util.js';

const HEIGHT = 190;
const MARGIN = { top: 14, right: 20, bottom: 26, left: 64 };

/** "Nice" tick values covering [min, max]. */
function ticks(min, max, count) {
  if (max <= min) return [min];
  const rough = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * magnitude).find((candidate) => candidate >= rough);
  const out = [];
  for (let value = Math.ceil(min / step) * step; value <= max + step * 1e-9; value += step) out.push(value);
  return out;
}

/** An `<svg>` plot of the summaries, `width` pixels wide; `onOpen(traceId)` on a dot click. */
export function scatterPlot(summaries, width, onOpen) {
  width = Math.max(320, Math.floor(width));
  const innerWidth = width - MARGIN.left - MARGIN.right;
  const innerHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  let minTime = Math.min(...summaries.map((t) => t.startTime));
  let maxTime = Math.max(...summaries.map((t) => t.startTime));
  if (maxTime - minTime < 1e6) {
    // one instant (or one trace): widen to a second either side so the dots sit in the middle
    minTime -= 1e6;
    maxTime += 1e6;
  }
  const maxDuration = Math.max(...summaries.map((t) => t.duration), 1) * 1.1;
  const maxSpans = Math.max(...summaries.map((t) => t.spanCount), 1);
  const x = (time) => MARGIN.left + ((time - minTime) / (maxTime - minTime)) * innerWidth;
  const y = (duration) => MARGIN.top + innerHeight - (duration / maxDuration) * innerHeight;

  const svg = s('svg', {
    class: 'scatter', width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, role: 'img',
    'aria-label': 'Trace durations over time',
  });
  const grid = s('g', { class: 'scatter-grid' });
  for (const value of ticks(0, maxDuration, 4)) {
    const py = y(value);
    grid.append(s('line', { x1: MARGIN.left, x2: width - MARGIN.right, y1: py, y2: py }),
      s('text', { x: MARGIN.left - 8, y: py + 4, 'text-anchor': 'end', text: formatDuration(value) }));
  }
  const timeTickCount = Math.max(2, Math.min(8, Math.floor(innerWidth / 110)));
  for (let k = 0; k <= timeTickCount; k++) {
    const time = minTime + ((maxTime - minTime) * k) / timeTickCount;
    const anchor = k === 0 ? 'start' : k === timeTickCount ? 'end' : 'middle';
    grid.append(s('text', { x: x(time), y: HEIGHT - 8, 'text-anchor': anchor, text: formatClock(time) }));
  }
  grid.append(s('line', {
    class: 'axis', x1: MARGIN.left, x2: width - MARGIN.right, y1: MARGIN.top + innerHeight, y2: MARGIN.top + innerHeight,
  }));
  svg.append(grid);

  const dots = s('g', { class: 'scatter-dots' });
  // longest first, so short traces' dots stay on top and clickable
  for (const summary of [...summaries].sort((a, b) => b.spanCount - a.spanCount)) {
    const radius = 3.5 + 5 * Math.sqrt(summary.spanCount / maxSpans);
    const dot = s('circle', {
      class: summary.errorCount ? 'dot dot-error' : 'dot', cx: x(summary.startTime).toFixed(1),
      cy: y(summary.duration).toFixed(1), r: radius.toFixed(1), tabindex: 0, role: 'link',
      dataset: { traceId: summary.traceID },
      'aria-label': `${summary.rootService}: ${summary.rootOperation}, ${formatDuration(summary.duration)}`,
    }, s('title', {
      text: `${summary.rootService}: ${summary.rootOperation}\n${formatDuration(summary.duration)}, `
        + `${summary.spanCount} spans${summary.errorCount ? `, ${summary.errorCount} errors` : ''}\n`
        + formatTimestamp(summary.startTime),
    }));
    dot.addEventListener('click', () => onOpen(summary.traceID));
    dot.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') onOpen(summary.traceID);
    });
    dots.append(dot);
  }
  svg.append(dots);
  return svg;
}
