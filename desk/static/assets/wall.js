// The wallboard for senior operators: queues per topic, agents by state,
// callbacks that need a senior, requests and complaints. Everything is
// computed here from the API's lists, kept current by the events stream.

import { $, clock, duration, h, relative, replace, since, stateLabel } from './util.js';

const agentOrder = ['available', 'ringing', 'on_call', 'wrap_up', 'paused', 'offline'];
const liveCallback = ['scheduled', 'dialing', 'escalated'];
// A queued caller waiting longer than this turns the topic red.
const longWaitMs = 2 * 60 * 1000;
// Without a deadline, a callback this far past its due time is overdue.
const overdueGraceMs = 5 * 60 * 1000;
// The topics' wait estimates and descriptions come from GET /topics: it is
// refetched shortly after queue or agent changes (at most this often) and
// now and then in any case, since handle times drift without an event.
const topicsThrottleMs = 1500;
const topicsEveryMs = 20 * 1000;

export function mountWall({ api }) {
  const st = {
    agents: new Map(), calls: new Map(), callbacks: new Map(), requests: new Map(),
    topics: new Map(), topicsAt: 0, topicsTimer: 0, errors: {},
    // closing holds the requests whose Done is in flight, so the render
    // each second does not re-enable their buttons; closed is the last one
    // done, here or on another board, named so a slip is noticed.
    closing: new Set(), closed: null,
  };

  function overdue(cb, now) {
    if (cb.state !== 'scheduled' && cb.state !== 'dialing') return false;
    if (cb.deadline) return since(cb.deadline, now) > 0;
    return since(cb.due_at, now) > overdueGraceMs;
  }

  function renderTopics(now) {
    const agents = [...st.agents.values()];
    const calls = [...st.calls.values()];
    const topics = new Set(st.topics.keys());
    for (const a of agents) for (const t of Object.keys(a.topics || {})) topics.add(t);
    for (const c of calls) if (c.topic) topics.add(c.topic);
    replace($('topics'), ...[...topics].sort().map((topic) => {
      // Waiting callers, longest wait and agents are counted from the live
      // lists, which events keep current; the estimate is the server's.
      const info = st.topics.get(topic);
      const queued = calls.filter((c) => c.topic === topic && c.state === 'queued');
      const longest = queued.reduce((m, c) => Math.max(m, since(c.enqueued_at, now) || 0), 0);
      const staffed = agents.filter((a) => a.state !== 'offline' && topic in (a.topics || {}));
      const free = staffed.filter((a) => a.state === 'available').length;
      const talking = calls.filter((c) => c.topic === topic && c.state !== 'queued').length;
      let estimate = '—';
      if (staffed.length === 0) estimate = 'no agents';
      else if (info) estimate = duration(info.estimated_wait_seconds * 1000);
      let level = 'calm';
      if (queued.length > 0) level = longest > longWaitMs || staffed.length === 0 ? 'bad' : 'warn';
      return h('div', { class: `topic ${level}`, role: 'listitem', 'data-topic': topic, 'aria-label': `${topic}: ${queued.length} waiting` },
        h('div', { class: 'name' }, topic),
        h('div', { class: 'desc' }, (info && info.description) || ''),
        h('div', { class: 'depth' }, h('span', { class: 'n' }, String(queued.length)), h('span', {}, 'waiting')),
        h('dl', {},
          h('div', {}, h('dt', {}, 'Longest wait'), h('dd', { class: 'longest' }, queued.length ? duration(longest) : '—')),
          h('div', {}, h('dt', {}, 'New caller waits'), h('dd', { class: 'estimate' }, estimate)),
          h('div', {}, h('dt', {}, 'Agents free'), h('dd', {}, `${free} of ${staffed.length}`)),
          h('div', {}, h('dt', {}, 'In progress'), h('dd', {}, String(talking)))));
    }));
  }

  function renderAgents(now) {
    const agents = [...st.agents.values()];
    replace($('agent-counts'), ...agentOrder.map((s) => {
      const n = agents.filter((a) => a.state === s).length;
      return h('div', { class: 'stat', 'data-state': s }, h('span', { class: 'n' }, String(n)), h('span', {}, stateLabel(s)));
    }));
    const sorted = agents.sort((a, b) =>
      agentOrder.indexOf(a.state) - agentOrder.indexOf(b.state) || (a.name || a.id).localeCompare(b.name || b.id));
    replace($('agent-tiles'), ...sorted.filter((a) => a.state !== 'offline').map((a) => {
      const d = since(a.since, now);
      return h('li', { 'data-state': a.state },
        h('span', { class: 'name' }, a.name || a.id),
        h('span', { class: 'state' }, stateLabel(a.state) + (a.state === 'paused' && a.reason ? ` · ${a.reason}` : '')),
        h('span', { class: 'for' }, Number.isNaN(d) ? '' : duration(d)));
    }));
  }

  function renderCallbacks(now) {
    const all = [...st.callbacks.values()];
    const late = all.filter((cb) => overdue(cb, now));
    const escalated = all.filter((cb) => cb.state === 'escalated');
    $('cb-overdue').textContent = String(late.length);
    $('cb-escalated').textContent = String(escalated.length);
    $('cb-scheduled').textContent = String(all.filter((cb) => cb.state === 'scheduled').length);
    const shown = [...late, ...escalated].slice(0, 8);
    replace($('wall-cb-list'), ...shown.map((cb) => h('li', { class: cb.state === 'escalated' ? 'escalated' : 'overdue' },
      h('span', { class: 'number' }, cb.number || '—'),
      h('span', { class: 'when' }, `${cb.topic || ''} · ${cb.owner || 'no owner'} · due ${relative(cb.due_at, now)}`),
      cb.note ? h('span', { class: 'note' }, cb.note) : null)));
  }

  function renderRequests() {
    const reqs = [...st.requests.values()];
    $('rq-requests').textContent = String(reqs.filter((r) => r.kind === 'request').length);
    $('rq-complaints').textContent = String(reqs.filter((r) => r.kind === 'complaint').length);
    const recent = [...reqs].sort((a, b) => Date.parse(b.created_at || 0) - Date.parse(a.created_at || 0)).slice(0, 6);
    replace($('req-list'), ...recent.map((r) => h('li', { class: r.kind, 'data-request': r.id },
      h('span', { class: 'number' }, r.full_name || '—'),
      h('span', { class: 'when' }, [r.kind, r.organisation, r.city, clock(r.created_at)].filter(Boolean).join(' · ')),
      h('button', {
        type: 'button', class: 'done', 'data-done': r.id, disabled: st.closing.has(r.id),
        'aria-label': `Mark the ${r.kind} from ${r.full_name || 'unknown caller'} done`,
      }, 'Done'),
      h('span', { class: 'note' }, r.kind === 'complaint'
        ? `Number ${r.failed_number || '?'} did not work${r.found_at ? ` (found: ${r.found_at})` : ''}`
        : r.purpose || ''))));
    const c = st.closed;
    $('rq-closed').textContent = c
      ? `Closed: ${c.kind} from ${c.full_name || '—'} by ${c.done_by || '?'} at ${clock(c.done_at)}`
      : '';
  }

  // closeRequest marks one request done. The list drops it at once; the
  // server's request event says the same to every other board.
  async function closeRequest(id) {
    if (st.closing.has(id)) return;
    st.closing.add(id);
    render();
    try {
      const r = await api.post(`/requests/${encodeURIComponent(id)}/done`);
      st.requests.delete(id);
      st.closed = r;
      st.errors['close request'] = '';
    } catch (err) {
      st.errors['close request'] = err.message;
    } finally {
      st.closing.delete(id);
    }
    render();
  }

  // One handler on the list, since its items are rebuilt on every render;
  // assigned rather than added so that signing in again does not stack a
  // second handler holding the old token.
  $('req-list').onclick = (ev) => {
    const btn = ev.target.closest('button[data-done]');
    if (btn && !btn.disabled) closeRequest(btn.dataset.done);
  };

  function renderErrors() {
    const msgs = Object.entries(st.errors).filter(([, m]) => m).map(([what, m]) => `${what}: ${m}`);
    $('wall-error').textContent = msgs.join(' · ');
  }

  function render() {
    const now = Date.now();
    renderTopics(now);
    renderAgents(now);
    renderCallbacks(now);
    renderRequests();
    renderErrors();
  }

  // each loads one list; a list that fails leaves the others on screen.
  async function each(what, load) {
    try {
      await load();
      st.errors[what] = '';
    } catch (err) {
      st.errors[what] = err.message;
    }
  }

  async function loadTopics() {
    st.topicsAt = Date.now();
    await each('topics', async () => {
      st.topics = new Map((await api.get('/topics')).map((t) => [t.name, t]));
    });
  }

  // topicsSoon refetches the topics once things settle, so a burst of
  // events costs one request.
  function topicsSoon() {
    if (st.topicsTimer) return;
    const wait = Math.max(0, topicsThrottleMs - (Date.now() - st.topicsAt));
    st.topicsTimer = setTimeout(() => {
      st.topicsTimer = 0;
      loadTopics().then(render);
    }, wait);
  }

  async function refresh() {
    await Promise.all([
      each('agents', async () => {
        st.agents = new Map((await api.get('/agents')).map((a) => [a.id, a]));
      }),
      each('calls', async () => {
        st.calls = new Map((await api.get('/calls')).filter((c) => c.state !== 'ended').map((c) => [c.id, c]));
      }),
      each('callbacks', async () => {
        const lists = await Promise.all(liveCallback.map((s) => api.get(`/callbacks?state=${s}`)));
        st.callbacks = new Map(lists.flat().map((cb) => [cb.id, cb]));
      }),
      each('requests', async () => {
        st.requests = new Map((await api.get('/requests?state=new')).map((r) => [r.id, r]));
      }),
      loadTopics(),
    ]);
    render();
  }

  function update(kind, data) {
    switch (kind) {
      case 'agent':
        st.agents.set(data.id, data);
        topicsSoon();
        break;
      case 'call':
        if (data.state === 'ended') st.calls.delete(data.id); else st.calls.set(data.id, data);
        break;
      case 'callback':
        if (liveCallback.includes(data.state)) st.callbacks.set(data.id, data); else st.callbacks.delete(data.id);
        break;
      case 'request':
        if (data.state === 'new') {
          st.requests.set(data.id, data);
        } else {
          st.requests.delete(data.id);
          if (data.state === 'done') st.closed = data;
        }
        break;
      case 'queue':
        // The depth itself is counted from the calls; the estimate moves.
        topicsSoon();
        return;
      default:
        return;
    }
    render();
  }

  return {
    refresh,
    update,
    tick() {
      if (Date.now() - st.topicsAt > topicsEveryMs) topicsSoon();
      render();
    },
  };
}
