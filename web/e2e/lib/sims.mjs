// The demo simulators' real HTTP APIs (as Kimai and Zammad expose them),
// used to set up what a person would do in those tools.

async function call(method, url, headers, body) {
  const res = await fetch(url, {
    method,
    headers: { ...headers, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}

export function kimai(stack) {
  const h = { Authorization: `Bearer ${stack.kimai_token}` };
  return {
    createActivity: (name) => call('POST', `${stack.kimai}/api/activities`, h, { name, visible: true }),
    timesheets: () => call('GET', `${stack.kimai}/api/timesheets?user=all&size=500&full=true`, h),
    timesheet: (id) => call('GET', `${stack.kimai}/api/timesheets/${id}`, h),
    patchTimesheet: (id, body) => call('PATCH', `${stack.kimai}/api/timesheets/${id}`, h, body),
  };
}

export function zammad(stack) {
  const h = { Authorization: `Token token=${stack.zammad_token}` };
  return {
    entry: (id) => call('GET', `${stack.zammad}/api/v1/time_accountings/${id}`, h),
    updateEntry: (ticketID, id, body) =>
      call('PUT', `${stack.zammad}/api/v1/tickets/${ticketID}/time_accountings/${id}`, h, body),
  };
}

export function api(stack, token) {
  const h = { Authorization: `Bearer ${token}` };
  return { get: (path) => call('GET', `${stack.url}${path}`, h) };
}

// The marker Timebridge writes into each Kimai description (shared/engine/desired.go).
export const markerRE = /\bTB-([0-9a-f]{8})-([0-9]+)\b/;
