// Small DOM and formatting helpers. Everything the API returns is put into
// the page as text nodes, never as HTML: a caller number or a note is data.

export const $ = (id) => document.getElementById(id);

// h builds an element: h('li', {class: 'x'}, 'text', child, ...).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// replace swaps an element's children for the given ones.
export function replace(el, ...children) {
  el.replaceChildren(...children.filter((c) => c !== undefined && c !== null && c !== false));
}

// duration formats milliseconds as m:ss, or h:mm:ss past an hour.
export function duration(ms) {
  if (!Number.isFinite(ms) || ms < 0) ms = 0;
  const s = Math.floor(ms / 1000);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh > 0 ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

// since is the time elapsed from an RFC 3339 stamp, or NaN without one.
export function since(iso, now = Date.now()) {
  const t = Date.parse(iso || '');
  return Number.isNaN(t) ? NaN : now - t;
}

// clock formats an RFC 3339 stamp as local HH:MM, with the day if not today.
export function clock(iso) {
  const t = new Date(iso || '');
  if (Number.isNaN(t.getTime())) return '';
  const hm = t.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const today = new Date();
  if (t.toDateString() === today.toDateString()) return hm;
  return t.toLocaleDateString([], { day: 'numeric', month: 'short' }) + ' ' + hm;
}

// relative says "in 12 min" or "5 min ago" for an RFC 3339 stamp.
export function relative(iso, now = Date.now()) {
  const t = Date.parse(iso || '');
  if (Number.isNaN(t)) return '';
  const min = Math.round((t - now) / 60000);
  if (min === 0) return 'now';
  const abs = Math.abs(min);
  const text = abs < 90 ? `${abs} min` : `${Math.round(abs / 60)} h`;
  return min > 0 ? `in ${text}` : `${text} ago`;
}

// stateLabel is how an agent or call state reads on screen.
const labels = {
  offline: 'Offline', available: 'Available', ringing: 'Ringing', on_call: 'On call',
  wrap_up: 'Wrap-up', paused: 'Paused', queued: 'Queued', connected: 'Connected',
  consulting: 'Consulting', ended: 'Ended',
};
export const stateLabel = (s) => labels[s] || s || '—';

// crumbs renders a path of hops ({to, by}) as breadcrumb items.
export function crumbs(path) {
  return (path || []).map((hop, i) =>
    h('li', { class: i === path.length - 1 ? 'here' : '' },
      hop.to || '?',
      hop.by ? h('span', { class: 'by' }, ` by ${hop.by}`) : null));
}
