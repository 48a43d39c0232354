// Client-side routing relative to the base URL: `search?…`, `trace/<id>`, `dependencies`.
// Jaeger-style hash links (`#/trace/<id>`) are accepted and rewritten.

/** The base URL the UI is served under, always ending with '/'. */
export const baseUrl = new URL('.', document.baseURI);

/** The current route: `{path: 'trace/abc', params: URLSearchParams}`. */
export function currentRoute() {
  const hash = location.hash.startsWith('#/') ? new URL(location.hash.slice(2), baseUrl) : null;
  const url = hash || new URL(location.href);
  let path = url.pathname;
  path = path.startsWith(baseUrl.pathname) ? path.slice(baseUrl.pathname.length) : path.replace(/^\/+/, '');
  return { path: path.replace(/\/+$/, ''), params: url.searchParams, fromHash: hash !== null };
}

/** Navigates to `relative` (resolved against the base) and re-renders. */
export function navigate(relative, { replace = false } = {}) {
  const url = new URL(relative, baseUrl);
  history[replace ? 'replaceState' : 'pushState'](null, '', url);
  window.dispatchEvent(new Event('spoor:navigate'));
}

/** Changes the query string of the current page without re-rendering. */
export function replaceParams(params) {
  const url = new URL(location.href);
  url.search = params.toString();
  history.replaceState(null, '', url);
}

/** Link to a trace, relative to the base. */
export const traceHref = (traceId, spanId = null) =>
  `trace/${encodeURIComponent(traceId)}` + (spanId ? `?span=${encodeURIComponent(spanId)}` : '');

/** Sends same-origin clicks on links under the base to the router instead of reloading. */
export function interceptLinks() {
  document.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    const link = event.target.closest('a[href]');
    if (!link || link.target || link.hasAttribute('download')) return;
    const url = new URL(link.href);
    if (url.origin !== location.origin || !url.pathname.startsWith(baseUrl.pathname)) return;
    const rest = url.pathname.slice(baseUrl.pathname.length);
    if (rest.startsWith('api/') || rest.startsWith('static/')) return;
    event.preventDefault();
    navigate(url.href);
  });
}
