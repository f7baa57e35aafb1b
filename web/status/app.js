// lvsd status page: polls /state.json (src/daemon/web/view.ts, PageState) and keeps the DOM in step.
// Plain browser JavaScript, no build step, no dependency; served under a CSP without inline script.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const SVG = 'http://www.w3.org/2000/svg';
  const SPARK_POINTS = 90;
  const PAGE = 100; // services rendered before "show more"

  /** per service name: { cps: [], bps: [] } (oldest first, at most SPARK_POINTS), filled from history deltas */
  const history = new Map();
  let lastBucket = 0;
  /** per service name: its DOM and the last data it showed */
  const rows = new Map();
  let shown = PAGE;
  let state = null;
  let lastOk = 0;
  let timer = 0;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function num(v) {
    if (v === null || v === undefined) return '-';
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(1) + 'G';
    if (a >= 1e6) return (v / 1e6).toFixed(1) + 'M';
    if (a >= 1e4) return (v / 1e3).toFixed(0) + 'k';
    if (a >= 1e3) return (v / 1e3).toFixed(1) + 'k';
    return String(Math.round(v * 10) / 10);
  }

  function bytes(v) {
    if (v === null || v === undefined) return '-';
    const units = ['B/s', 'kB/s', 'MB/s', 'GB/s'];
    let i = 0;
    while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return (i === 0 ? String(Math.round(v)) : v.toFixed(1)) + ' ' + units[i];
  }

  function ago(iso) {
    const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min';
    if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
    return Math.floor(s / 86400) + ' d ' + Math.floor((s % 86400) / 3600) + ' h';
  }

  function clock(iso) {
    const d = new Date(iso);
    return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
  }

  function setBadge(e, cls, text) {
    e.className = 'badge ' + cls;
    e.textContent = text;
    e.hidden = false;
  }

  // ---- header: the node, its role, the config load state ----
  function renderHeader(s) {
    $('node').textContent = s.node;
    document.title = s.node + ' - lvsd status';
    $('version').textContent = 'lvsd ' + s.version;
    const states = s.vrrp.map((v) => v.state);
    const role = $('role');
    const e = s.ecmp;
    if (states.length === 0 && e) {
      // active-active: the director's role is what it announces
      const on = e.vips.filter((v) => v.announced).length;
      if (e.drained) setBadge(role, 'strong-warn', 'drained');
      else if (!e.bird.running) setBadge(role, 'strong-bad', 'BIRD not running');
      else if (on === e.vips.length && on > 0) setBadge(role, 'strong-ok', 'announcing');
      else if (on === 0) setBadge(role, 'strong-bad', 'withdrawn');
      else setBadge(role, 'strong-warn', 'announcing ' + on + '/' + e.vips.length);
    } else if (states.length === 0) role.hidden = true;
    else if (states.some((x) => x === 'fault' || x === 'init' || x === 'stopped')) setBadge(role, 'strong-bad', states.includes('fault') ? 'fault' : states.find((x) => x !== 'master' && x !== 'backup'));
    else if (states.every((x) => x === 'master')) setBadge(role, 'strong-ok', 'master');
    else if (states.every((x) => x === 'backup')) setBadge(role, 'strong-warn', 'backup');
    else setBadge(role, 'strong-warn', 'mixed: ' + states.filter((x) => x === 'master').length + ' master');
    const load = $('load');
    const when = s.load ? ' ' + ago(s.load.at) + ' ago' : '';
    if (!s.load) load.hidden = true;
    else if (s.load.result === 'ok') setBadge(load, 'ok', s.load.kind + ' applied' + when);
    else if (s.load.result === 'partial') setBadge(load, 'strong-warn', s.load.kind + ' applied' + when + ', IPVS partly: retrying');
    else setBadge(load, 'strong-bad', s.load.kind + ' ' + (s.load.result === 'failed' ? 'FAILED' : 'REFUSED') + when + ': old config in force');
    const ipvs = $('ipvs');
    if (s.ipvs.state === 'ok') ipvs.hidden = true;
    else setBadge(ipvs, 'strong-warn', s.ipvs.failedOps + ' IPVS operation' + (s.ipvs.failedOps === 1 ? '' : 's') + ' failed: retrying');
    const loop = $('loop');
    if (s.healthLoop.alive) loop.hidden = true;
    else setBadge(loop, 'strong-bad', 'health checks stalled');
    $('updated').textContent = 'up ' + ago(new Date(Date.now() - s.uptimeSeconds * 1000).toISOString()) + ', updated ' + clock(s.generatedAt);
  }

  // ---- VRRP instances ----
  function renderVrrp(s) {
    const box = $('vrrp');
    $('vrrp-none').hidden = s.vrrp.length > 0;
    box.replaceChildren(...s.vrrp.map((v) => {
      const card = el('article', 'card st-' + v.state);
      card.dataset.instance = v.name;
      const h = el('h3', '', v.name);
      const cls = v.state === 'master' ? 'ok' : v.state === 'backup' ? 'warn' : 'bad';
      const badge = el('span', 'badge ' + cls, v.state);
      badge.dataset.field = 'state';
      h.append(badge);
      const dl = el('dl');
      const add = (k, val) => { dl.append(el('dt', '', k), el('dd', '', val)); };
      const p = v.priority;
      add('priority', p.effective === p.configured ? String(p.configured) : p.effective + ' (configured ' + p.configured + ')');
      add('master', v.state === 'master' ? 'this node' : v.master ? v.master.address + ' (priority ' + v.master.priority + ')' : 'none heard');
      add('VIPs', v.vips.join(', ') || '-');
      add('since', clock(v.since) + ' (' + ago(v.since) + ' ago)');
      add('link', v.interface + ', VRID ' + v.vrid + (v.syncGroup ? ', group ' + v.syncGroup : ''));
      card.append(h, dl);
      return card;
    }));
  }

  // ---- ECMP: BIRD, the sessions, what is announced ----
  function renderEcmp(s) {
    const e = s.ecmp;
    $('ecmp-section').hidden = !e;
    if (!e) return;
    const on = e.vips.filter((v) => v.announced).length;
    $('ecmp-summary').textContent = '(' + on + ' of ' + e.vips.length + ' announced' + (e.drained ? ', director drained' : '') + ')';
    const director = el('article', 'card ' + (e.drained ? 'st-backup' : e.bird.running ? 'st-master' : 'st-fault'));
    director.dataset.ecmp = 'director';
    const h = el('h3', '', 'BIRD');
    const b = el('span', 'badge ' + (e.bird.running ? 'ok' : 'bad'), e.bird.running ? 'running' : 'not running');
    b.dataset.field = 'bird';
    h.append(b);
    const dl = el('dl');
    const add = (k, val, cls) => { dl.append(el('dt', '', k), el('dd', cls || '', val)); };
    add('director', e.drained ? 'drained (lvsd undrain --director)' : 'in service');
    add('restarts', String(e.bird.restarts));
    for (const p of e.peers) add('peer ' + p.address, 'AS ' + p.as + ': BGP ' + p.bgp + (p.bfd === 'off' ? '' : ', BFD ' + p.bfd), p.bgp === 'Established' ? '' : 'bad');
    director.append(h, dl);
    const vips = e.vips.map((v) => {
      const card = el('article', 'card ' + (v.announced ? 'st-master' : 'st-fault'));
      card.dataset.vip = v.prefix;
      const vh = el('h3', 'mono', v.prefix);
      const vb = el('span', 'badge ' + (v.announced ? 'ok' : 'bad'), v.announced ? 'announced' : 'withdrawn');
      vb.dataset.field = 'announced';
      vh.append(vb);
      card.append(vh);
      if (!v.announced && v.reason) card.append(el('p', 'reason', v.reason));
      return card;
    });
    $('ecmp').replaceChildren(director, ...vips);
  }

  // ---- services ----
  function level(svc) {
    if (!svc.present) return ['bad', 'not in kernel'];
    const down = svc.rs.filter((r) => r[1] === 'down').length;
    const drained = svc.rs.filter((r) => r[4] === 1).length;
    const serving = svc.rs.filter((r) => r[1] === 'up' && r[4] === 0 && r[3] > 0).length;
    const words = [];
    if (down) words.push(down + ' down');
    if (drained) words.push(drained + ' drained');
    if (svc.sorry) words.push('sorry server');
    const label = serving + '/' + svc.rs.length + ' serving' + (words.length ? ': ' + words.join(', ') : '');
    if (svc.rs.length > 0 && serving === 0) return ['bad', label];
    if (down || svc.sorry) return ['bad', label];
    if (drained) return ['warn', label];
    return ['ok', label];
  }

  function sparkline(cls, values, title) {
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('class', 'spark ' + cls);
    svg.setAttribute('viewBox', '0 0 ' + SPARK_POINTS + ' 20');
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('role', 'img');
    const max = Math.max(0, ...values.filter((v) => v !== null));
    const t = document.createElementNS(SVG, 'title');
    t.textContent = title + ', last 15 min, peak ' + (cls === 'bps' ? bytes(max) : num(max) + '/s');
    svg.append(t);
    const base = document.createElementNS(SVG, 'line');
    base.setAttribute('x1', '0'); base.setAttribute('x2', String(SPARK_POINTS));
    base.setAttribute('y1', '19.5'); base.setAttribute('y2', '19.5');
    svg.append(base);
    let d = '';
    let pen = false;
    const offset = SPARK_POINTS - values.length;
    values.forEach((v, i) => {
      if (v === null) { pen = false; return; }
      const y = max > 0 ? 18 - (v / max) * 16 : 18;
      d += (pen ? 'L' : 'M') + (offset + i) + ' ' + y.toFixed(1);
      pen = true;
    });
    if (d) {
      const path = document.createElementNS(SVG, 'path');
      path.setAttribute('d', d);
      path.setAttribute('vector-effect', 'non-scaling-stroke');
      svg.append(path);
    }
    return svg;
  }

  function rsTable(svc) {
    const table = el('table', 'rs');
    const head = el('tr');
    for (const [t, n] of [['real server', 0], ['health', 0], ['weight cfg/eff', 1], ['drain', 0], ['active', 1], ['inactive', 1], ['conns/s', 1], ['bytes/s', 1]]) {
      head.append(el('th', n ? 'num' : '', t));
    }
    const thead = el('thead');
    thead.append(head);
    const body = el('tbody');
    for (const r of svc.rs) {
      const [id, health, wc, we, drained, active, inactive, cps, bps] = r;
      const tr = el('tr', health === 'down' ? 'row-bad' : drained ? 'row-warn' : '');
      tr.dataset.rs = id;
      tr.append(el('td', 'mono', id), el('td', '', health), el('td', 'num', wc + ' / ' + we), el('td', '', drained ? 'drained' : ''),
        el('td', 'num', num(active)), el('td', 'num', num(inactive)), el('td', 'num', num(cps)), el('td', 'num', bytes(bps)));
      body.append(tr);
    }
    table.append(thead, body);
    const wrap = el('div', 'rs-wrap');
    wrap.append(table);
    return wrap;
  }

  function makeRow(name) {
    const details = el('details', 'svc');
    details.dataset.service = name;
    const summary = el('summary');
    const parts = {
      name: el('span', 'name', name), key: el('span', 'key mono muted'), status: el('span', 'badge'),
      cps: el('span', 'num cps'), bps: el('span', 'num bps'), sparks: el('span', 'sparks'),
    };
    summary.append(parts.name, parts.key, parts.status, parts.cps, parts.bps, parts.sparks);
    details.append(summary);
    const row = { details, parts, sig: '', histSig: -1, body: null, svc: null };
    details.addEventListener('toggle', () => updateBody(row));
    return row;
  }

  function updateBody(row) {
    if (!row.details.open) {
      if (row.body) { row.body.remove(); row.body = null; }
      return;
    }
    const next = rsTable(row.svc);
    if (row.body) row.body.replaceWith(next);
    else row.details.append(next);
    row.body = next;
  }

  function updateRow(row, svc) {
    row.svc = svc;
    const sig = JSON.stringify(svc);
    if (sig !== row.sig) {
      row.sig = sig;
      const [lv, label] = level(svc);
      row.level = lv;
      row.details.className = 'svc lv-' + lv;
      row.parts.key.textContent = svc.key + ' ' + svc.scheduler + (svc.forwarding ? '/' + svc.forwarding : '') + (svc.group ? ', group ' + svc.group : '');
      row.parts.status.className = 'badge ' + lv;
      row.parts.status.textContent = label;
      row.parts.cps.textContent = num(svc.cps) + ' conn/s';
      row.parts.bps.textContent = bytes(svc.bps);
      row.text = (svc.name + ' ' + (svc.group || '') + ' ' + svc.key + ' ' + svc.rs.map((r) => r[0]).join(' ')).toLowerCase();
      if (row.details.open) updateBody(row);
    }
  }

  /** Sparklines are drawn for the rows on screen only, once per new history bucket. */
  function updateSparks(row) {
    const h = history.get(row.svc.name);
    if (h && row.histSig !== lastBucket) {
      row.histSig = lastBucket;
      row.parts.sparks.replaceChildren(sparkline('cps', h.cps, 'connections/s'), sparkline('bps', h.bps, 'bytes/s'));
    }
  }

  function renderServices(s, autoOpen) {
    const box = $('services');
    const filter = $('filter').value.trim().toLowerCase();
    const problemsOnly = $('problems').checked;
    const names = new Set();
    let matching = 0;
    let problems = 0;
    let rendered = 0;
    const wanted = [];
    for (const svc of s.services) {
      names.add(svc.name);
      let row = rows.get(svc.name);
      if (!row) {
        row = makeRow(svc.name);
        rows.set(svc.name, row);
        if (autoOpen) row.details.open = true;
      }
      updateRow(row, svc);
      if (row.level !== 'ok') problems++;
      const match = (!filter || row.text.includes(filter)) && (!problemsOnly || row.level !== 'ok');
      if (match) matching++;
      const show = match && rendered < shown;
      if (show) { rendered++; wanted.push(row.details); updateSparks(row); }
    }
    for (const [name, row] of rows) if (!names.has(name)) { row.details.remove(); rows.delete(name); }
    // keep config order; touch the DOM only when the visible list changed
    const current = Array.from(box.children);
    if (current.length !== wanted.length || current.some((c, i) => c !== wanted[i])) box.replaceChildren(...wanted);
    $('svc-none').hidden = matching > 0 || s.services.length === 0;
    const more = $('more');
    more.hidden = matching <= rendered;
    more.textContent = 'show ' + Math.min(PAGE * 2, matching - rendered) + ' more of ' + (matching - rendered);
    $('svc-summary').textContent = '(' + s.services.length + (problems ? ', ' + problems + ' with problems' : ', all serving') +
      (filter || problemsOnly ? ', ' + matching + ' shown' : '') + ')';
  }

  // ---- events ----
  function renderEvents(s) {
    const list = $('events');
    if (s.events.length === 0) { list.replaceChildren(el('li', 'muted', 'nothing yet')); return; }
    list.replaceChildren(...s.events.map((e) => {
      const li = el('li');
      li.dataset.kind = e.kind;
      const t = el('time', '', clock(e.at));
      t.dateTime = e.at;
      const what = el('span', 'what');
      what.append(el('span', 'badge ' + e.level, e.text), document.createTextNode(' ' + e.subject));
      li.append(t, el('span', 'kind muted', e.kind), what);
      return li;
    }));
  }

  function mergeHistory(delta) {
    if (!delta) return;
    for (const [name, series] of Object.entries(delta.series)) {
      let h = history.get(name);
      if (!h) { h = { cps: [], bps: [] }; history.set(name, h); }
      // a gap between what we had and this delta (the tab slept) is drawn as a gap
      const gap = lastBucket > 0 ? Math.min(SPARK_POINTS, Math.max(0, delta.from - lastBucket - 1)) : 0;
      for (let i = 0; i < gap; i++) { h.cps.push(null); h.bps.push(null); }
      h.cps.push(...series.cps);
      h.bps.push(...series.bps);
      if (h.cps.length > SPARK_POINTS) { h.cps.splice(0, h.cps.length - SPARK_POINTS); h.bps.splice(0, h.bps.length - SPARK_POINTS); }
    }
    for (const name of history.keys()) if (!(name in delta.series)) history.delete(name);
    lastBucket = delta.to;
  }

  function render(autoOpen) {
    if (!state) return;
    renderHeader(state);
    renderVrrp(state);
    renderEcmp(state);
    renderServices(state, autoOpen);
    renderEvents(state);
  }

  function showStale() {
    const stale = $('stale');
    const age = lastOk ? Math.round((Date.now() - lastOk) / 1000) : null;
    const period = state ? state.sampleMs : 2000;
    if (age !== null && age * 1000 > 3 * period + 2000) {
      stale.textContent = 'no update from the daemon for ' + age + ' s: what you see may be out of date';
      stale.hidden = false;
    } else {
      stale.hidden = true;
    }
  }

  async function poll() {
    clearTimeout(timer);
    try {
      const res = await fetch('/state.json?since=' + lastBucket, { cache: 'no-cache' });
      if (res.ok) {
        const next = await res.json();
        if (!next.starting) {
          const first = state === null;
          mergeHistory(next.history);
          state = next;
          lastOk = Date.now();
          render(first && next.services.length <= 10);
        } else {
          $('updated').textContent = 'lvsd is starting...';
        }
      }
    } catch (e) {
      // the daemon is unreachable: the stale banner says so
    }
    showStale();
    if (!document.hidden) timer = setTimeout(poll, Math.max(1000, state ? state.sampleMs : 2000));
  }

  document.addEventListener('visibilitychange', () => { if (!document.hidden) poll(); });
  $('filter').addEventListener('input', () => { shown = PAGE; render(false); });
  $('problems').addEventListener('change', () => { shown = PAGE; render(false); });
  $('more').addEventListener('click', () => { shown += PAGE * 2; render(false); });
  $('expand').addEventListener('click', () => { for (const c of $('services').children) c.open = true; });
  $('collapse').addEventListener('click', () => { for (const c of $('services').children) c.open = false; });
  poll();
})();
