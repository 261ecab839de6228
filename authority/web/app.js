// jit-authority's page: live updates (server-sent events) and countdowns.
// Without JavaScript everything still works with reloads.
'use strict';
(function () {
  const offset = Number(document.body.dataset.now) * 1000 - Date.now();  // server clock - ours
  const now = () => Math.floor((Date.now() + offset) / 1000);

  function span(s) {
    s = Math.max(0, s);
    const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), x = s % 60;
    if (d) return d + 'd ' + h + 'h';
    if (h) return h + 'h ' + m + 'm';
    if (m) return m + 'm ' + x + 's';
    return x + 's';
  }
  function tick() {
    for (const el of document.querySelectorAll('.until[data-t]')) {
      const left = Number(el.dataset.t) - now();
      el.textContent = left > 0 ? span(left) : 'ended';
    }
    for (const el of document.querySelectorAll('.since[data-t]')) {
      const t = Number(el.dataset.t);
      el.textContent = t > 0 ? span(now() - t) + ' ago' : 'never';
    }
  }

  // Replaces <main> with a fresh copy of this page, keeping what the operator
  // is typing and where the focus is.
  let refreshing = false, again = false;
  async function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    try {
      const r = await fetch(location.href, { credentials: 'same-origin', headers: { 'X-Jit-Refresh': '1' } });
      if (r.redirected || !r.ok) { if (r.status === 401 || r.redirected) location.reload(); return; }
      const doc = new DOMParser().parseFromString(await r.text(), 'text/html');
      const fresh = doc.querySelector('main');
      const old = document.querySelector('main');
      if (!fresh || !old) return;
      const focused = document.activeElement && document.activeElement.id;
      for (const el of old.querySelectorAll('input[id], select[id]')) {
        const twin = fresh.querySelector('#' + CSS.escape(el.id));
        if (twin && el.type !== 'hidden') twin.value = el.value;
      }
      // A notice about what this operator just did stays until they leave the page.
      const notices = old.querySelectorAll('.flash');
      const h1 = fresh.querySelector('h1');
      for (const el of notices) fresh.insertBefore(el, h1);
      old.replaceWith(fresh);
      if (focused) { const f = document.getElementById(focused); if (f) f.focus(); }
      document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
      tick();
    } finally {
      refreshing = false;
      if (again) { again = false; refresh(); }
    }
  }

  const status = document.getElementById('live-status');
  const main = document.querySelector('main');
  if (main && main.dataset.live === 'yes' && window.EventSource) {
    const es = new EventSource('/ui/events');
    es.addEventListener('open', () => { status.textContent = 'live updates: on'; document.body.dataset.live = 'on'; });
    es.addEventListener('error', () => { status.textContent = 'live updates: reconnecting'; document.body.dataset.live = 'off'; });
    es.addEventListener('change', refresh);
  } else if (status) {
    status.textContent = '';
  }
  tick();
  setInterval(tick, 1000);
})();
