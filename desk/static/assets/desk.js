// The agent desk: the agent's own state, the call they are on with its
// case, attended transfers, callbacks, and the form for requests and
// complaints (docs/behaviour.md, Requests).

import { $, clock, crumbs, duration, h, relative, replace, since, stateLabel } from './util.js';

const pendingCallback = new Set(['scheduled', 'dialing']);

// The page's elements outlive a sign-in: each mount takes back the
// previous mount's listeners, so signing out and in again never leaves a
// button with two handlers (and the old token).
let mounted = null;

export function mountDesk({ api, agentId, onWho }) {
  mounted?.abort();
  mounted = new AbortController();
  const { signal } = mounted;
  const on = (el, type, fn) => el.addEventListener(type, fn, { signal });
  const st = {
    me: null,
    agents: [],
    topics: [], // GET /topics: every configured topic, staffed or not
    call: null, // callJSON with .case
    transfer: null, // the pending transfer this agent started
    callbacks: [],
    queues: new Map(), // topic → waiting, from queue events
    noteDirty: false,
    noteCase: '',
    shownCall: '',
  };
  let callSeq = 0; // discards a slower, older call fetch

  const enc = encodeURIComponent;

  // newer tells whether an agent record read over REST may replace the one
  // on screen: a response can arrive after an event that is more recent
  // than it (a call offered while the state change was being answered).
  const newer = (a) => !st.me || !(Date.parse(a.since) < Date.parse(st.me.since));

  // --- rendering

  function renderMe() {
    const me = st.me;
    if (!me) return;
    onWho(me.name ? `${me.name} (${me.id})` : me.id);
    const pill = $('my-state');
    pill.textContent = stateLabel(me.state);
    pill.dataset.state = me.state;
    $('my-reason').textContent = me.state === 'paused' && me.reason ? me.reason : '';
    $('btn-available').textContent = me.state === 'offline' ? 'Log in' : 'Available';
    $('btn-available').disabled = me.state === 'available' || me.state === 'on_call' || me.state === 'ringing';
    $('btn-pause').disabled = me.state === 'offline' || me.state === 'paused';
    $('btn-logout').disabled = me.state === 'offline';
    tick();
    renderQueues();
  }

  function renderQueues() {
    const topics = Object.keys((st.me && st.me.topics) || {}).sort();
    replace($('my-queues'), ...topics.map((t) => {
      const n = st.queues.get(t);
      return h('li', { class: n > 0 ? 'busy' : '' },
        h('span', { class: 'q-topic' }, t),
        h('span', { class: 'n' }, n === undefined ? '–' : String(n)),
        ' waiting');
    }));
  }

  function renderPicker() {
    const sel = $('xfer-to');
    const keep = sel.value;
    // Every configured topic is offered, staffed or not: the router, not
    // the page, decides, and an unstaffed one comes back refused as
    // target_unavailable, which the agent then reads.
    const topics = st.topics.length
      ? st.topics
      : [...new Set(st.agents.flatMap((a) => Object.keys(a.topics || {})))].sort().map((name) => ({ name }));
    const others = st.agents.filter((a) => a.id !== agentId);
    replace(sel,
      h('option', { value: '' }, 'Choose a topic or an agent…'),
      h('optgroup', { label: 'Topics' }, ...topics.map((t) =>
        h('option', { value: `topic:${t.name}` }, t.description ? `${t.name} — ${t.description}` : t.name))),
      h('optgroup', { label: 'Agents' }, ...others.map((a) =>
        h('option', { value: `agent:${a.id}` }, `${a.name || a.id} (${a.id}) — ${stateLabel(a.state)}`))));
    sel.value = keep;
    if (sel.value !== keep) sel.value = '';
  }

  function renderCall() {
    const c = st.call;
    $('no-call').hidden = !!c;
    $('call').hidden = !c;
    $('call-card').dataset.active = c ? 'yes' : 'no';
    if (!c) {
      st.transfer = null;
      return;
    }
    if (c.id !== st.shownCall) {
      // A new call starts with a clean slate: nothing said about the last.
      st.shownCall = c.id;
      showRefusal(null);
      $('note-status').textContent = '';
      $('cb-status').textContent = '';
    }
    const cs = c.case || {};
    $('call-number').textContent = c.caller_number || cs.caller_number || 'unknown number';
    $('call-state').textContent = stateLabel(c.state);
    $('call-state').dataset.state = c.state;
    $('call-topic').textContent = c.topic || cs.topic || '—';
    $('call-case').textContent = c.case_id || '—';
    $('call-owner').textContent = cs.owner || '—';
    $('call-lang').textContent = c.lang || cs.lang || '—';
    replace($('call-path'), ...crumbs(cs.path));
    if (c.case_id !== st.noteCase || !st.noteDirty) {
      $('note').value = cs.note || '';
      st.noteCase = c.case_id;
      st.noteDirty = false;
    }
    // A call offered to this agent as a transfer target is theirs to read,
    // not to transfer or call back: that is the transferring agent's.
    const mine = c.agent_id === agentId;
    $('btn-transfer').disabled = !mine;
    $('btn-callback').disabled = !mine;
    const pending = st.transfer || (mine && c.state === 'consulting' ? { to: '' } : null);
    $('xfer-form').hidden = !!pending;
    $('xfer-pending').hidden = !pending;
    if (pending) {
      const t = pending.target && pending.target.name ? ` (${pending.target.name})` : '';
      $('xfer-target').textContent = (pending.to || 'the target') + t;
    }
  }

  function renderCallbacks() {
    const list = st.callbacks
      .filter((cb) => pendingCallback.has(cb.state))
      .sort((a, b) => Date.parse(a.due_at || 0) - Date.parse(b.due_at || 0));
    $('cb-count').textContent = list.length ? String(list.length) : '';
    $('cb-empty').hidden = list.length > 0;
    const now = Date.now();
    replace($('cb-list'), ...list.map((cb) => h('li', { class: since(cb.due_at, now) > 0 ? 'overdue' : '' },
      h('span', { class: 'number' }, cb.number || '—'),
      h('span', { class: 'when' }, `${clock(cb.due_at)} · ${relative(cb.due_at, now)}`),
      cb.state === 'dialing' ? h('span', { class: 'pill', 'data-state': 'ringing' }, 'dialling') : null,
      cb.note ? h('span', { class: 'note' }, cb.note) : null)));
  }

  function showRefusal(err) {
    const box = $('refusal');
    if (!err) {
      replace(box);
      return;
    }
    const path = err.path && err.path.length
      ? h('div', { class: 'path' }, 'Path: ', h('ol', { class: 'crumbs' }, ...crumbs(err.path)))
      : null;
    replace(box,
      h('p', {}, h('strong', { class: 'code' }, err.code), ' ', h('span', { class: 'msg' }, err.message)),
      path);
  }

  function tick() {
    const me = st.me;
    if (me) {
      const d = since(me.since);
      $('my-since').textContent = Number.isNaN(d) ? '' : `for ${duration(d)}`;
    }
  }

  // --- loading

  async function loadCall(id) {
    const seq = ++callSeq;
    if (!id) {
      st.call = null;
      renderCall();
      return;
    }
    try {
      const c = await api.get(`/calls/${enc(id)}`);
      if (seq !== callSeq) return;
      st.call = c.state === 'ended' ? null : c;
    } catch (err) {
      if (seq !== callSeq) return;
      if (err.status !== 404 && err.status !== 410 && err.status !== 403) throw err;
      st.call = null;
    }
    renderCall();
  }

  async function loadCallbacks() {
    st.callbacks = await api.get('/callbacks');
    renderCallbacks();
  }

  async function refresh() {
    const [me, agents, calls, topics] = await Promise.all([
      api.get(`/agents/${enc(agentId)}`), api.get('/agents'), api.get('/calls'), api.get('/topics'),
    ]);
    if (newer(me)) st.me = me;
    st.agents = agents;
    st.topics = topics;
    // Queue depths start from the snapshot; queue events keep them live.
    for (const t of topics) st.queues.set(t.name, t.waiting);
    renderMe();
    renderPicker();
    const live = calls.filter((c) => c.state !== 'ended');
    const current = live.find((c) => c.id === st.me.call_id) || live.find((c) => c.agent_id === agentId);
    await Promise.all([loadCall(current ? current.id : ''), loadCallbacks()]);
  }

  function update(kind, data) {
    switch (kind) {
      case 'agent': {
        const i = st.agents.findIndex((a) => a.id === data.id);
        if (i >= 0) st.agents[i] = data; else st.agents.push(data);
        renderPicker();
        if (data.id !== agentId) return;
        const before = st.me ? st.me.call_id : '';
        st.me = data;
        renderMe();
        if (data.call_id && data.call_id !== before && (!st.call || st.call.id !== data.call_id)) {
          loadCall(data.call_id).catch(report);
        } else if (!data.call_id && st.call && st.call.agent_id !== agentId) {
          callSeq++;
          st.call = null;
          renderCall();
        }
        return;
      }
      case 'call': {
        const ours = data.agent_id === agentId || (st.me && st.me.call_id === data.id) ||
          (st.call && st.call.id === data.id);
        if (!ours) return;
        // A call ringing this agent as a transfer target still names the
        // transferring agent; any other call naming someone else was
        // handed on by a completed transfer.
        const offered = st.me && st.me.call_id === data.id && st.me.state === 'ringing';
        if (data.state === 'ended' || (data.agent_id !== agentId && !offered)) {
          // Over, or handed on to someone else after a completed transfer.
          if (st.call && st.call.id === data.id) {
            callSeq++;
            st.call = null;
            renderCall();
          }
          return;
        }
        if (data.state !== 'consulting') st.transfer = null;
        loadCall(data.id).catch(report);
        return;
      }
      case 'queue':
        st.queues.set(data.topic, data.waiting);
        renderQueues();
        return;
      case 'callback': {
        if (data.owner && data.owner !== agentId) return;
        const i = st.callbacks.findIndex((cb) => cb.id === data.id);
        if (i >= 0) st.callbacks[i] = data; else st.callbacks.push(data);
        renderCallbacks();
      }
    }
  }

  function report(err) {
    $('state-error').textContent = err ? `${err.message}` : '';
  }

  // --- actions

  async function setState(body) {
    report(null);
    try {
      const me = await api.post(`/agents/${enc(agentId)}/state`, body);
      if (newer(me)) st.me = me;
      renderMe();
    } catch (err) {
      report(err);
    }
  }

  on($('btn-available'), 'click', () =>
    setState({ action: st.me && st.me.state === 'offline' ? 'login' : 'resume' }));
  on($('btn-pause'), 'click', () => setState({ action: 'pause', reason: $('pause-reason').value }));
  on($('btn-logout'), 'click', () => setState({ action: 'logout' }));

  on($('note'), 'input', () => {
    st.noteDirty = true;
    $('note-status').textContent = 'Not saved';
  });

  on($('btn-note'), 'click', async () => {
    if (!st.call) return;
    const note = $('note').value;
    $('btn-note').disabled = true;
    try {
      const cs = await api.put(`/calls/${enc(st.call.id)}/note`, { note });
      st.call.case = cs;
      st.noteDirty = $('note').value !== note;
      $('note-status').textContent = `Saved ${new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}`;
    } catch (err) {
      $('note-status').textContent = `Not saved: ${err.message}`;
    } finally {
      $('btn-note').disabled = false;
    }
  });

  on($('btn-transfer'), 'click', async () => {
    if (!st.call) return;
    showRefusal(null);
    const to = $('xfer-to').value;
    if (!to) {
      showRefusal({ code: 'no_target', message: 'Choose a topic or an agent to transfer to.' });
      $('xfer-to').focus();
      return;
    }
    const note = $('xfer-note').value.trim() || $('note').value.trim();
    $('btn-transfer').disabled = true;
    try {
      st.transfer = await api.post(`/calls/${enc(st.call.id)}/transfer`, { to, note, mode: 'attended' });
      renderCall();
    } catch (err) {
      showRefusal(err);
    } finally {
      $('btn-transfer').disabled = !st.call || st.call.agent_id !== agentId;
    }
  });

  async function finishTransfer(action) {
    if (!st.call) return;
    showRefusal(null);
    try {
      await api.post(`/calls/${enc(st.call.id)}/transfer/${action}`);
      st.transfer = null;
      $('xfer-note').value = '';
      await loadCall(st.call && st.call.id);
    } catch (err) {
      showRefusal(err);
    }
  }
  on($('btn-complete'), 'click', () => finishTransfer('complete'));
  on($('btn-cancel'), 'click', () => finishTransfer('cancel'));

  on($('btn-callback'), 'click', async () => {
    if (!st.call) return;
    const body = { in: $('cb-in').value };
    const note = $('cb-note').value.trim();
    if (note) body.note = note;
    $('btn-callback').disabled = true;
    try {
      const cb = await api.post(`/calls/${enc(st.call.id)}/callback`, body);
      update('callback', cb);
      $('cb-note').value = '';
      $('cb-status').textContent = `Callback to ${cb.number || 'the caller'} scheduled for ${clock(cb.due_at)}.`;
    } catch (err) {
      $('cb-status').textContent = `Not scheduled: ${err.message}`;
    } finally {
      $('btn-callback').disabled = !st.call || st.call.agent_id !== agentId;
    }
  });

  // --- requests and complaints

  const requestFields = ['failed_number', 'found_at', 'city', 'organisation', 'position', 'full_name', 'contact_phone', 'purpose'];

  function requestKind() {
    const checked = document.querySelector('input[name="rq-kind"]:checked');
    return checked ? checked.value : 'request';
  }

  // fieldError shows a validation message next to its field, or clears
  // them all.
  function fieldError(name, message) {
    for (const f of requestFields) {
      const on = f === name;
      $(`rq-${f}-err`).textContent = on ? message : '';
      if (on) $(`rq-${f}`).setAttribute('aria-invalid', 'true'); else $(`rq-${f}`).removeAttribute('aria-invalid');
    }
  }

  function renderRequestForm() {
    const kind = requestKind();
    for (const el of document.querySelectorAll('#rq-form .field')) {
      el.hidden = !el.dataset.kinds.split(' ').includes(kind);
    }
    fieldError('', '');
  }

  for (const radio of document.querySelectorAll('input[name="rq-kind"]')) {
    on(radio, 'change', renderRequestForm);
  }
  renderRequestForm();

  on($('rq-form'), 'submit', async (ev) => {
    ev.preventDefault();
    const kind = requestKind();
    const body = { kind };
    for (const el of document.querySelectorAll('#rq-form .field:not([hidden])')) {
      const name = el.dataset.field;
      const v = $(`rq-${name}`).value.trim();
      if (v) body[name] = v;
    }
    // Recorded during a call, the request belongs to that call's case.
    if (st.call && st.call.case_id) body.case_id = st.call.case_id;
    fieldError('', '');
    $('rq-status').textContent = '';
    $('btn-request').disabled = true;
    try {
      await api.post('/requests', body);
      for (const f of requestFields) $(`rq-${f}`).value = '';
      $('rq-status').textContent = `${kind === 'complaint' ? 'Complaint' : 'Request'} recorded for the senior operators.`;
    } catch (err) {
      if (err.status === 400 && err.field && requestFields.includes(err.field)) {
        // The message names the field too ("city: required"); next to
        // the field only the reason is needed.
        const msg = err.message.startsWith(`${err.field}: `) ? err.message.slice(err.field.length + 2) : err.message;
        fieldError(err.field, msg);
        $(`rq-${err.field}`).focus();
        $('rq-status').textContent = 'Not recorded: check the marked field.';
      } else {
        $('rq-status').textContent = `Not recorded: ${err.message}`;
      }
    } finally {
      $('btn-request').disabled = false;
    }
  });

  return {
    refresh,
    update,
    tick() {
      tick();
      if (st.callbacks.length) renderCallbacks();
    },
  };
}
