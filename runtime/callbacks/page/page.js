// The operator page of orthanc-runtime: polls ../status (and Orthanc's ../../jobs) while the
// page is visible, and draws what it says. Relative URLs only, so that Orthanc's
// authentication and a reverse proxy's prefix apply.
(function () {
  'use strict';

  var PERIOD_MS = 2000;
  var HISTORY = 60;            // points kept for the chart (two minutes)
  var COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b'];
  var history = {};            // handler -> [requests per second], oldest first
  var previous = null;         // {time, counts: {handler: requests}}
  var timer = null;
  var polls = 0;
  var asking = false;          // a poll is on its way

  function byId(id) { return document.getElementById(id); }

  function text(value) {
    return value === null || value === undefined ? '-' : String(value);
  }

  function fixed(value, digits) {
    return value === null || value === undefined ? '-' : Number(value).toFixed(digits);
  }

  function clock(seconds) {
    return seconds ? new Date(seconds * 1000).toLocaleTimeString() : '-';
  }

  // Replaces a table's body with one row per item: cells [{text, cls}], attributes {name: value}.
  function fill(tableId, items, row) {
    var body = byId(tableId).tBodies[0];
    var rows = document.createDocumentFragment();
    items.forEach(function (item, index) {
      var made = row(item, index);
      var tr = document.createElement('tr');
      Object.keys(made.attrs || {}).forEach(function (name) { tr.setAttribute(name, made.attrs[name]); });
      if (made.cls) tr.className = made.cls;
      made.cells.forEach(function (cell) {
        var td = document.createElement('td');
        if (cell.node) td.appendChild(cell.node); else td.textContent = text(cell.text);
        if (cell.cls) td.className = cell.cls;
        tr.appendChild(td);
      });
      rows.appendChild(tr);
    });
    body.replaceChildren(rows);
  }

  function showWorkers(pool) {
    var workers = pool && pool.workers && pool.workers.list ? pool.workers.list : [];
    var summary = 'no pool (no offloaded handler)';
    if (pool && pool.backend === 'dask') {
      summary = 'Dask scheduler ' + pool.scheduler + (pool.connected ? ', connected' : ', NOT connected') +
        ': ' + pool.workers.total + ' workers, ' + pool.workers.threads + ' threads; ' +
        pool.tasks.in_flight + ' tasks in flight, ' + pool.reconnects + ' reconnects';
    } else if (pool) {
      summary = pool.workers.busy + ' busy, ' + pool.workers.idle + ' idle, ' + pool.workers.starting +
        ' starting of ' + pool.size + '; queue ' + pool.queue;
    }
    byId('workers-summary').textContent = summary;
    fill('workers', workers, function (w) {
      return {attrs: {'data-pid': w.pid}, cls: w.state,
              cells: [{text: w.pid, cls: 'pid'}, {text: w.state, cls: 'state'},
                      {text: w.tasks, cls: 'num tasks'}, {text: fixed(w.memory_mb, 1), cls: 'num memory'},
                      {text: clock(w.started_at)}]};
    });
    var restarts = pool && pool.restarts ? pool.restarts : {total: 0, recent: []};
    byId('restarts-total').textContent = restarts.total;
    fill('restarts', restarts.recent, function (r) {
      return {attrs: {'data-pid': r.pid},
              cells: [{text: clock(r.time)}, {text: r.pid, cls: 'pid'}, {text: r.reason, cls: 'reason'},
                      {text: r.exit, cls: 'exit'}]};
    });
  }

  function showHandlers(handlers, now) {
    var names = Object.keys(handlers).sort();
    var counts = {};
    names.forEach(function (name) {
      counts[name] = handlers[name].requests;
      var rate = 0;
      if (previous && previous.counts[name] !== undefined && now > previous.time) {
        rate = (counts[name] - previous.counts[name]) / ((now - previous.time) / 1000);
      }
      var points = history[name] || (history[name] = []);
      points.push(Math.max(0, rate));
      if (points.length > HISTORY) points.shift();
    });
    previous = {time: now, counts: counts};
    fill('handlers', names, function (name, i) {
      var h = handlers[name];
      var points = history[name];
      var named = document.createElement('span');
      var swatch = document.createElement('i');
      swatch.className = 'swatch';
      swatch.style.background = COLORS[i % COLORS.length];  // the colour of its line in the chart
      named.appendChild(swatch);
      named.appendChild(document.createTextNode(name));
      return {attrs: {'data-handler': name},
              cells: [{node: named, cls: 'name'}, {text: h.kind},
                      {text: h.requests, cls: 'num requests'},
                      {text: h.errors, cls: 'num errors' + (h.errors ? ' some' : '')},
                      {text: fixed(h.latency_ms.p50, 2), cls: 'num p50'},
                      {text: fixed(h.latency_ms.p90, 2), cls: 'num p90'},
                      {text: fixed(h.latency_ms.p99, 2), cls: 'num p99'},
                      {text: fixed(points[points.length - 1], 1), cls: 'num rate'}]};
    });
    drawChart(names);
  }

  // Requests per second of each handler over the last polls, as SVG polylines.
  function drawChart(names) {
    var svg = byId('chart');
    var ns = 'http://www.w3.org/2000/svg';
    var width = 600, height = 120, top = 4;
    var peak = 1;
    names.forEach(function (name) {
      history[name].forEach(function (v) { if (v > peak) peak = v; });
    });
    var parts = document.createDocumentFragment();
    byId('chart-peak').textContent = peak.toFixed(1);
    names.forEach(function (name, i) {
      var points = history[name];
      if (!points.length) return;
      var step = width / (HISTORY - 1);
      var offset = (HISTORY - points.length) * step;
      var line = document.createElementNS(ns, 'polyline');
      line.setAttribute('fill', 'none');
      line.setAttribute('stroke', COLORS[i % COLORS.length]);
      line.setAttribute('stroke-width', '1.5');
      line.setAttribute('data-handler', name);
      line.setAttribute('points', points.map(function (v, j) {
        return (offset + j * step).toFixed(1) + ',' + (height - (height - top) * v / peak).toFixed(1);
      }).join(' '));
      var title = document.createElementNS(ns, 'title');
      title.textContent = name;
      line.appendChild(title);
      parts.appendChild(line);
    });
    svg.replaceChildren(parts);
  }

  function showEvents(status) {
    byId('last-change').textContent = text(status.last_change);
    fill('events', status.events || [], function (e) {
      return {attrs: {'data-handler': e.handler},
              cells: [{text: e.handler, cls: 'name'}, {text: e.checkpoint, cls: 'num'},
                      {text: e.behind, cls: 'num behind'}, {text: e.in_flight, cls: 'num'},
                      {text: e.oldest_pending_age_s, cls: 'num'}, {text: e.delivered, cls: 'num'},
                      {text: e.failed, cls: 'num'}]};
    });
  }

  function showErrors(recent) {
    byId('errors-total').textContent = recent.total;
    fill('errors', recent.list, function (e) {
      return {attrs: {'data-error-id': e.error_id},
              cells: [{text: clock(e.time)}, {text: e.error_id, cls: 'error-id'},
                      {text: e.handler, cls: 'handler'}, {text: e.type, cls: 'type'},
                      {text: e.message, cls: 'message'}]};
    });
  }

  function showJobs(jobs, types) {
    var ours = (jobs || []).filter(function (job) { return types.indexOf(job.Type) >= 0; });
    fill('jobs', ours, function (job) {
      var bar = document.createElement('span');
      bar.className = 'progress';
      var done = document.createElement('span');
      done.style.width = (job.Progress || 0) + '%';
      bar.appendChild(done);
      bar.title = (job.Progress || 0) + '%';
      return {attrs: {'data-job': job.ID},
              cells: [{text: job.ID}, {text: job.Type}, {text: job.State, cls: 'job-state'},
                      {node: bar}]};
    });
  }

  function getJson(url) {
    return fetch(url, {cache: 'no-store', credentials: 'same-origin'}).then(function (answer) {
      if (!answer.ok) throw new Error(url + ': HTTP ' + answer.status);
      return answer.json();
    });
  }

  function poll() {
    timer = null;
    asking = true;
    getJson('../status').then(function (status) {
      var now = Date.now();
      byId('version').textContent = status.version;
      byId('backend').textContent = text(status.backend);
      showWorkers(status.pool);
      showHandlers(status.handlers || {}, now);
      showEvents(status);
      showErrors(status.recent_errors || {total: 0, list: []});
      polls += 1;
      document.body.setAttribute('data-polls', polls);
      byId('updated').textContent = new Date(now).toLocaleTimeString();
      byId('state').textContent = 'live';
      byId('state').className = '';
      if (!status.job_types || !status.job_types.length) {
        showJobs([], []);
        return null;
      }
      return getJson('../../jobs?expand').then(function (jobs) { showJobs(jobs, status.job_types); });
    }).catch(function (error) {
      byId('state').textContent = 'not updated: ' + error.message;
      byId('state').className = 'stale';
    }).then(function () {
      asking = false;
      schedule();
    });
  }

  // Polls only while the page is visible: a hidden tab costs the master nothing.
  function schedule() {
    if (timer === null && !asking && !document.hidden) timer = window.setTimeout(poll, PERIOD_MS);
  }

  document.addEventListener('visibilitychange', function () {
    if (document.hidden) {
      if (timer !== null) window.clearTimeout(timer);
      timer = null;
    } else if (timer === null && !asking) {
      poll();
    }
  });

  poll();
}());
