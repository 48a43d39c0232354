// Spoor's trace viewer: a router over three pages (search, trace, dependencies). No framework and no
// build step: the files are served as they are, embedded in the spoor binary.

import { currentRoute, interceptLinks, navigate } from './nav.js';
import { renderDependencies } from './deps.js';
import { renderSearch } from './search.js';
import { renderTrace } from './trace.js';
import { h, notice } from './util.js';

const main = document.getElementById('main');
let cleanup = null;

function route() {
  cleanup?.();
  cleanup = null;
  const { path, params, fromHash } = currentRoute();
  if (fromHash) {
    // `#/trace/<id>` (Jaeger-style links): show the same page under its real path
    navigate(`${path}${params.toString() ? `?${params}` : ''}`, { replace: true });
    return;
  }
  let page = 'search';
  const trace = /^trace\/([^/]+)$/.exec(path);
  if (trace) {
    page = 'trace';
    const traceId = decodeURIComponent(trace[1]);
    document.title = `Trace ${traceId} · Spoor`;
    cleanup = renderTrace(main, traceId, params);
  } else if (path === 'dependencies') {
    page = 'dependencies';
    document.title = 'Dependencies · Spoor';
    cleanup = renderDependencies(main, params);
  } else if (path === '' || path === 'search') {
    document.title = params.get('service') ? `${params.get('service')} · Search · Spoor` : 'Search · Spoor';
    cleanup = renderSearch(main, params);
  } else {
    page = '';
    document.title = 'Not found · Spoor';
    main.replaceChildren(h('div', { class: 'page-message' }, notice('error', `No page at /${path}`),
      h('a', { class: 'btn', href: 'search', text: 'Go to search' })));
  }
  for (const link of document.querySelectorAll('.topnav a')) {
    link.classList.toggle('active', link.dataset.page === page);
  }
  window.scrollTo(0, 0);
}

function setUpLookup() {
  const form = document.getElementById('lookup');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const input = form.elements.traceID;
    const id = input.value.trim().toLowerCase();
    if (!/^[0-9a-f]{1,32}$/.test(id)) {
      input.setCustomValidity('A trace id is 1 to 32 hexadecimal digits');
      input.reportValidity();
      return;
    }
    input.value = '';
    navigate(`trace/${id}`);
  });
  form.elements.traceID.addEventListener('input', (event) => event.target.setCustomValidity(''));
}

interceptLinks();
setUpLookup();
window.addEventListener('popstate', route);
window.addEventListener('spoor:navigate', route);
route();
