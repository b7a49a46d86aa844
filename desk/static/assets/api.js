// The API client: JSON over fetch with the bearer token, and the live
// events stream with its own reconnect backoff.

// ApiError carries the API's error body: code, message and, for transfer
// refusals, the call's path.
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.error) || `http_${status}`;
    this.path = (body && body.path) || [];
    this.field = (body && body.field) || '';
  }
}

export function makeApi(base, token) {
  async function request(method, path, body) {
    const headers = { Authorization: `Bearer ${token}`, Accept: 'application/json' };
    const init = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(base + path, init);
    } catch (err) {
      throw new ApiError(0, { error: 'network', message: 'the hotline server cannot be reached' });
    }
    if (res.status === 204) return null;
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = { error: 'bad_response', message: text.slice(0, 200) }; }
    }
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }
  return {
    base, token,
    get: (p) => request('GET', p),
    post: (p, b) => request('POST', p, b),
    put: (p, b) => request('PUT', p, b),
  };
}

const kinds = ['agent', 'call', 'queue', 'callback', 'request'];

// openStream follows GET /events. The server keeps no replay, so every
// "hello" (first connect and each reconnect) means: refetch the snapshot.
// EventSource gives up for good on an HTTP error and retries blindly on a
// network one, so reconnecting is done here, with exponential backoff and
// jitter, and a failed stream asks the API whether the token still holds.
export function openStream(api, { onHello, onUpdate, onStatus, onUnauthorized }) {
  let es = null;
  let timer = 0;
  let attempt = 0;
  let closed = false;

  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(connect, delay);
  }

  function backoff() {
    const base = Math.min(30000, 1000 * 2 ** attempt);
    attempt++;
    return base / 2 + Math.random() * base / 2;
  }

  function drop() {
    if (es) { es.close(); es = null; }
  }

  function connect() {
    if (closed) return;
    drop();
    const src = new EventSource(`${api.base}/events?token=${encodeURIComponent(api.token)}`);
    es = src;
    src.addEventListener('hello', () => {
      attempt = 0;
      onStatus('live');
      onHello();
    });
    for (const kind of kinds) {
      src.addEventListener(kind, (ev) => {
        let data;
        try { data = JSON.parse(ev.data); } catch { return; }
        onUpdate(kind, data);
      });
    }
    // The server dropped us for falling behind: reconnect at once; the
    // next hello refetches what was missed.
    src.addEventListener('overflow', () => {
      drop();
      onStatus('reconnecting');
      schedule(0);
    });
    src.onerror = () => {
      if (src !== es) return;
      drop();
      onStatus('reconnecting');
      api.get('/me').then(
        () => schedule(backoff()),
        (err) => (err.status === 401 ? onUnauthorized() : schedule(backoff())),
      );
    };
  }

  connect();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      drop();
    },
  };
}
