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

let session = null; // { stream, view, tick }

// identify asks the API who the token belongs to.
async function identify(api) {
  const me = await api.get('/me');
  if (me.role === 'agent') {
    if (!me.agent_id) throw new ApiError(403, { error: 'unknown_agent', message: 'this token belongs to no agent' });
    return { role: 'agent', agent: me.agent_id };
  }
  return { role: me.role };
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
  $('who').textContent = '';
  $('conn').hidden = true;
  $('signin-error').textContent = message || '';
  show('signin');
  $('token').value = '';
  $('token').focus();
}

async function start(token) {
  const api = makeApi(base, token);
  // Asked on every start, never cached: a token's grant can change with
  // the configuration.
  const who = await identify(api);
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
