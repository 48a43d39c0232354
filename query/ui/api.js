// The JSON API client. Every URL is relative to the document's base (`<base href>`, which the
// server sets to `--query.base-path`), so the UI works under any prefix.

/** A failed API call: `status` is the HTTP status (0 for a network failure). */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/** The absolute URL of `path` (no leading slash) with the given query parameters. */
export function apiUrl(path, params = {}) {
  const url = new URL(path, document.baseURI);
  for (const [key, value] of Object.entries(params)) {
    if (value == null || value === '') continue;
    for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(key, String(item));
  }
  return url;
}

/** GETs a Jaeger envelope and returns `{data, errors}`; throws ApiError on a failure status. */
export async function getEnvelope(path, params = {}, signal = undefined) {
  let response;
  try {
    response = await fetch(apiUrl(path, params), { signal, headers: { Accept: 'application/json' } });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, `cannot reach the query service: ${error.message}`);
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message = body?.errors?.[0]?.msg || text.trim() || response.statusText;
    throw new ApiError(response.status, `${response.status}: ${message}`);
  }
  if (body === null || typeof body !== 'object') throw new ApiError(response.status, 'the response is not JSON');
  return { data: body.data, errors: body.errors || [] };
}

export const fetchServices = async (signal) => (await getEnvelope('api/services', {}, signal)).data || [];

/** Unique operation names of a service, sorted. */
export async function fetchOperations(service, signal) {
  const { data } = await getEnvelope('api/operations', { service }, signal);
  return [...new Set((data || []).map((operation) => operation.name))].sort();
}

export async function fetchTrace(traceId, signal) {
  const { data } = await getEnvelope(`api/traces/${encodeURIComponent(traceId)}`, {}, signal);
  if (!data || data.length === 0) throw new ApiError(404, `404: trace not found`);
  return data[0];
}

export async function searchTraces(params, signal) {
  const { data, errors } = await getEnvelope('api/traces', params, signal);
  return { traces: data || [], errors };
}

export async function fetchDependencies(endTsMillis, lookbackMillis, signal) {
  const { data } = await getEnvelope('api/dependencies', { endTs: endTsMillis, lookback: lookbackMillis }, signal);
  return data || [];
}
