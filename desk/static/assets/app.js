// Entry point: sign in with a token, find out who it belongs to, then show
// the agent desk (agent tokens) or the wallboard (senior and admin).

import { ApiError, makeApi, openStream } from './api.js';
import { mountDesk } from './desk.js';
import { mountWall } from './wall.js';
import { $ } from './util.js';

const base = document.querySelector('meta[name="hotline-api"]').content || '/api/v1';
// The token lives in sessionStorage: gone when the tab closes, never in a
// URL except the events stream's, which EventSource cannot give a header.
const tokenKey = 'hotline.token';
const whoKey = 'hotline.who';

let session = null; // { stream, view, tick }

// identify finds the token's role and agent id. The API has no "who am I",
// so it asks what the roles answer differently: an agent token may list
// only its own callbacks (403 for any other owner), a senior's may list
// anyone's; the agent's own id is the one owner it may ask for.
async function identify(api) {
  const listing = async (owner) => {
    try {
      await api.get(`/callbacks?owner=${encodeURIComponent(owner)}&state=completed`);
      return true;
    } catch (err) {
      if (err.status === 403) return false;
      throw err;
    }
  };
  if (await listing('\u2400none')) return { role: 'senior' };
  const agents = await api.get('/agents');
  const mine = await api.get('/callbacks');
  const owned = mine.find((cb) => cb.owner);
  if (owned) return { role: 'agent', agent: owned.owner };
  for (let i = 0; i < agents.length; i += 8) {
    const batch = agents.slice(i, i + 8);
    const ok = await Promise.all(batch.map((a) => listing(a.id)));
    const at = ok.indexOf(true);
    if (at >= 0) return { role: 'agent', agent: batch[at].id };
  }
  throw new ApiError(403, { error: 'unknown_agent', message: 'this token belongs to no configured agent' });
}

function show(name) {
  for (const id of ['signin', 'desk', 'wall']) $(id).hidden = id !== name;
  $('signout').hidden = name === 'signin';
  $('view-name').textContent = { signin: '', desk: 'Agent desk', wall: 'Wallboard' }[name];
}

function setConn(state) {
  const el = $('conn');
  el.hidden = false;
  el.dataset.state = state;
  el.textContent = state === 'live' ? 'Live' : 'Reconnecting…';
}

function signOut(message) {
  if (session) {
    session.stream.close();
    clearInterval(session.tick);
    session = null;
  }
  sessionStorage.removeItem(tokenKey);
  sessionStorage.removeItem(whoKey);
  $('who').textContent = '';
  $('conn').hidden = true;
  $('signin-error').textContent = message || '';
  show('signin');
  $('token').value = '';
  $('token').focus();
}

async function start(token) {
  const api = makeApi(base, token);
  let who = null;
  try { who = JSON.parse(sessionStorage.getItem(whoKey) || 'null'); } catch { who = null; }
  if (!who) {
    who = await identify(api);
    sessionStorage.setItem(whoKey, JSON.stringify(who));
  }
  sessionStorage.setItem(tokenKey, token);
  const view = who.role === 'agent'
    ? mountDesk({ api, agentId: who.agent, onWho: (text) => { $('who').textContent = text; } })
    : mountWall({ api });
  if (who.role !== 'agent') $('who').textContent = 'Senior operator';
  show(who.role === 'agent' ? 'desk' : 'wall');
  setConn('reconnecting');
  const stream = openStream(api, {
    onHello: () => view.refresh(),
    onUpdate: (kind, data) => view.update(kind, data),
    onStatus: setConn,
    onUnauthorized: () => signOut('Your token is no longer accepted. Sign in again.'),
  });
  const tick = setInterval(() => {
    $('clock').textContent = new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    view.tick();
  }, 1000);
  session = { stream, view, tick };
  await view.refresh();
}

$('signin-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const token = $('token').value.trim();
  if (!token) {
    $('signin-error').textContent = 'Enter your access token.';
    return;
  }
  $('signin-btn').disabled = true;
  $('signin-error').textContent = '';
  try {
    await start(token);
  } catch (err) {
    sessionStorage.removeItem(whoKey);
    $('signin-error').textContent = err.status === 401
      ? 'This token is not valid.'
      : `Cannot sign in: ${err.message}`;
  } finally {
    $('signin-btn').disabled = false;
  }
});

$('signout').addEventListener('click', () => signOut(''));

const saved = sessionStorage.getItem(tokenKey);
if (saved) {
  start(saved).catch((err) => signOut(err.status === 401 ? 'Your token is no longer accepted.' : err.message));
} else {
  show('signin');
}
