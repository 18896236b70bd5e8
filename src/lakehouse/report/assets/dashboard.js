/* Lakehouse dashboard: tabs, filters (date range, department, period) over the embedded
   figures, KPI tiles for the chosen dates, and, when served live, gold freshness kept current
   from each poll and a reload on new runs. */
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("lakehouse-data").textContent);
  var ALL = ""; // no department is named "" (cards.ALL)
  var HALF = { day: 0.5, week: 3.5, month: 15 };
  var state = { from: "", to: "", dept: DATA.defaults.dept, grain: DATA.defaults.grain };
  var shown = {}; // chart id -> variant key on screen
  var CONFIG = {
    responsive: true, displaylogo: false,
    modeBarButtonsToRemove: ["lasso2d", "select2d", "autoScale2d", "toggleSpikelines"],
  };

  try {
    var saved = JSON.parse(sessionStorage.getItem("lakehouse-state") || "null");
    if (saved && typeof saved === "object") Object.assign(state, saved);
  } catch (e) { /* private mode: start from the defaults */ }

  // --- numbers, as lakehouse.report.fmt writes them -------------------------------------
  function grouped(v, decimals) {
    return v.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
  }
  function money(v) {
    if (v === null || v === undefined || isNaN(v)) return "\u2013";
    var body = grouped(Math.abs(v), Math.abs(v) < 10000 ? 2 : 0);
    return (v < 0 ? "-" : "") + DATA.kpi.prefix + body;
  }
  function pct(v) {
    var p = v * 100;
    var text = grouped(p, Math.abs(p) >= 10 ? 0 : 1);
    if (text.indexOf(".") >= 0) text = text.replace(/\.?0+$/, "");
    return text + " %";
  }
  function change(now, before) {
    if (!before) return "";
    var r = now / before - 1;
    if (Math.abs(r) < 0.005) return "<span>\u00b10 %</span>";
    return r > 0 ? '<span class="up">\u25B2 +' + pct(r) + "</span>"
                 : '<span class="down">\u25BC \u2212' + pct(-r) + "</span>";
  }

  // --- dates ------------------------------------------------------------------------------
  function addDays(iso, n) {
    var d = new Date(iso + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + n);
    return d.toISOString().slice(0, 10);
  }
  function daysBetween(a, b) {
    return Math.round((new Date(b + "T00:00:00Z") - new Date(a + "T00:00:00Z")) / 86400000);
  }
  function bounds() {
    var rows = DATA.kpi.daily;
    if (!rows.length) return null;
    return [state.from || rows[0][0], state.to || rows[rows.length - 1][0]];
  }

  // --- KPI tiles --------------------------------------------------------------------------
  function sum(lo, hi) {
    var s = { orders: 0, revenue: 0, items: 0, days: 0 };
    DATA.kpi.daily.forEach(function (r) {
      if (r[0] >= lo && r[0] <= hi) { s.orders += r[1]; s.revenue += r[2]; s.items += r[3]; s.days += 1; }
    });
    return s;
  }
  function updateKpis() {
    var box = document.getElementById("kpis");
    var b = bounds();
    if (!box || !b) return;
    var cur = sum(b[0], b[1]);
    var span = daysBetween(b[0], b[1]) + 1;
    var prev = sum(addDays(b[0], -span), addDays(b[0], -1));
    var label = "vs previous " + span + " days";
    var first = DATA.kpi.daily[0][0];
    var whole = !state.from && !state.to;
    var values = {
      revenue: [money(cur.revenue), change(cur.revenue, prev.revenue)],
      orders: [grouped(cur.orders, 0), change(cur.orders, prev.orders)],
      aov: [cur.orders ? money(cur.revenue / cur.orders) : "\u2013",
            prev.orders && cur.orders ? change(cur.revenue / cur.orders, prev.revenue / prev.orders) : ""],
      ipo: [cur.orders ? grouped(cur.items / cur.orders, 1) : "\u2013",
            prev.orders && cur.orders ? change(cur.items / cur.orders, prev.items / prev.orders) : ""],
      days: [grouped(cur.days, 0), ""],
    };
    Object.keys(values).forEach(function (k) {
      var tile = box.querySelector('[data-kpi="' + k + '"]');
      if (!tile) return;
      tile.querySelector(".tile-value").textContent = values[k][0];
      // compare only with a previous window that lies wholly within the data
      var comparable = addDays(b[0], -span) >= first;
      var sub = whole ? "all history" : "";
      if (!whole && values[k][1] && comparable) sub = values[k][1] + " " + label;
      if (!whole && !sub) sub = b[0] + " to " + b[1];
      tile.querySelector(".tile-sub").innerHTML = sub;
    });
  }

  // --- charts -----------------------------------------------------------------------------
  function keyOf(spec) {
    return spec.keys.map(function (k) { return state[k]; }).join("|");
  }
  function pickVariant(spec) {
    var k = keyOf(spec);
    if (spec.variants[k]) return [k, spec.variants[k]];
    return [k, null];
  }
  function cardOf(el) { return el.closest(".card"); }
  function dateRange(spec) {
    if (!spec.dateAxis || (!state.from && !state.to)) return { "xaxis.autorange": true };
    var b = bounds();
    var pad = HALF[spec.keys.indexOf("grain") >= 0 ? state.grain : "week"] || 0.5;
    var lo = new Date(b[0] + "T00:00:00Z").getTime() - pad * 86400000;
    var hi = new Date(b[1] + "T00:00:00Z").getTime() + pad * 86400000;
    return { "xaxis.range": [new Date(lo).toISOString(), new Date(hi).toISOString()] };
  }
  function empty(el, spec, k) {
    Plotly.purge(el);
    var note = document.createElement("p"); // data reaches the page as text, never as HTML
    note.className = "note";
    note.textContent = "No data for " + (state.dept === ALL ? "this selection" : state.dept) + ".";
    el.replaceChildren(note);
    shown[el.dataset.chart] = k;
  }
  function draw(el) {
    var id = el.dataset.chart;
    var spec = DATA.charts[id];
    if (!spec) return;
    var picked = pickVariant(spec);
    var k = picked[0], fig = picked[1];
    var card = cardOf(el);
    if (spec.titles[k]) card.querySelector(".card-title").textContent = spec.titles[k];
    if (spec.subtitles[k]) card.querySelector(".card-sub").textContent = spec.subtitles[k];
    if (!fig) return empty(el, spec, k);
    var layout = Object.assign({}, fig.layout);
    if (shown[id] === undefined || !el.classList.contains("js-plotly-plot")) {
      el.innerHTML = "";
      Plotly.newPlot(el, fig.data, layout, CONFIG);
    } else if (shown[id] !== k) {
      Plotly.react(el, fig.data, layout, CONFIG);
    }
    shown[id] = k;
    if (spec.dateAxis) Plotly.relayout(el, dateRange(spec));
  }
  function drawPage(page) {
    var section = document.getElementById("page-" + page);
    if (!section) return;
    section.querySelectorAll(".chart").forEach(draw);
  }

  // --- pages and filters ------------------------------------------------------------------
  function current() {
    var h = (location.hash || "").replace("#", "");
    return DATA.pages[h] ? h : Object.keys(DATA.pages)[0];
  }
  function show() {
    var page = current();
    document.querySelectorAll("section.page").forEach(function (s) { s.hidden = s.dataset.page !== page; });
    document.querySelectorAll(".tabs a").forEach(function (a) {
      a.setAttribute("aria-selected", a.dataset.tab === page ? "true" : "false");
    });
    var bar = document.getElementById("filters");
    var wanted = DATA.pages[page].filters;
    if (bar) {
      bar.hidden = wanted.length === 0;
      bar.querySelectorAll("[data-filter]").forEach(function (c) {
        c.hidden = wanted.indexOf(c.dataset.filter) < 0;
      });
    }
    drawPage(page);
    window.dispatchEvent(new Event("resize"));
  }
  function save() {
    try { sessionStorage.setItem("lakehouse-state", JSON.stringify(state)); } catch (e) { /* ignore */ }
  }
  function apply() {
    save();
    syncControls();
    updateKpis();
    drawPage(current());
  }
  function syncControls() {
    var f = document.getElementById("f-from"), t = document.getElementById("f-to");
    var d = document.getElementById("f-dept");
    if (f && state.from) f.value = state.from;
    if (t && state.to) t.value = state.to;
    if (d) d.value = state.dept;
    document.querySelectorAll("[data-grain]").forEach(function (b) {
      b.setAttribute("aria-pressed", b.dataset.grain === state.grain ? "true" : "false");
    });
  }
  function wire() {
    var f = document.getElementById("f-from"), t = document.getElementById("f-to");
    var d = document.getElementById("f-dept"), r = document.getElementById("f-reset");
    var rows = DATA.kpi.daily;
    var lo = rows.length ? rows[0][0] : "", hi = rows.length ? rows[rows.length - 1][0] : "";
    if (f) f.addEventListener("change", function () {
      state.from = f.value && f.value !== lo ? f.value : ""; apply();
    });
    if (t) t.addEventListener("change", function () {
      state.to = t.value && t.value !== hi ? t.value : ""; apply();
    });
    if (d) d.addEventListener("change", function () { state.dept = d.value; apply(); });
    document.querySelectorAll("[data-grain]").forEach(function (b) {
      b.addEventListener("click", function () { state.grain = b.dataset.grain; apply(); });
    });
    if (r) r.addEventListener("click", function () {
      state = { from: "", to: "", dept: DATA.defaults.dept, grain: DATA.defaults.grain };
      if (f) f.value = lo;
      if (t) t.value = hi;
      apply();
    });
    window.addEventListener("hashchange", show);
    var pick = document.getElementById("history-select");
    function history(name) {
      pick.value = name;
      document.querySelectorAll("[data-history]").forEach(function (h) {
        h.hidden = h.dataset.history !== name;
      });
    }
    if (pick) {
      pick.addEventListener("change", function () { history(pick.value); });
      document.querySelectorAll("[data-show-history]").forEach(function (a) {
        a.addEventListener("click", function (ev) {
          ev.preventDefault();
          history(a.dataset.showHistory);
          pick.scrollIntoView({ block: "nearest" });
        });
      });
    }
  }

  // --- gold freshness, live from /api/state's `gold` map (as ops_page.gold_card draws it) ---
  var GOLD_LOOK = { current: ["ok", "\u2713"], behind: ["info", "\u2022"], "past budget": ["bad", "\u2717"] };
  function goldState(g) { return !g.within_budget ? "past budget" : g.behind ? "behind" : "current"; }
  function goldMoment(iso) {
    if (!iso) return "never";
    var d = new Date(iso);
    return isNaN(d.getTime()) ? String(iso) : d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }
  function goldTitle(rows) {
    var past = rows.filter(function (r) { return r[1] === "past budget"; }).map(function (r) { return r[0]; });
    var behind = rows.filter(function (r) { return r[1] === "behind"; }).length;
    if (past.length) {
      return "Gold freshness: " + past.length + " of " + rows.length + " budget models are past their " +
        "staleness budget: " + past.slice(0, 3).join(", ") + (past.length > 3 ? " and " + (past.length - 3) + " more" : "");
    }
    if (behind) return "Gold freshness: " + behind + " of " + rows.length + " budget models are behind silver, within their budget";
    return "Gold freshness: all " + rows.length + " budget models are current";
  }
  function updateGold(gold) {
    var card = document.getElementById("card-gold-freshness");
    if (!card || !gold || typeof gold !== "object") return;
    var rows = [];
    card.querySelectorAll("tbody tr[data-key]").forEach(function (tr) {
      var key = tr.dataset.key, c = tr.cells, badge = c[2].querySelector(".badge");
      var state = badge.textContent.slice(2);
      if (Object.prototype.hasOwnProperty.call(gold, key)) {
        var g = gold[key], look;
        state = goldState(g);
        look = GOLD_LOOK[state];
        c[1].textContent = goldMoment(g.as_of); // data reaches the page as text, never as HTML
        badge.className = "badge " + look[0];
        badge.textContent = look[1] + " " + state;
        c[3].textContent = grouped(Number(g.staleness_minutes), 1);
        var b = Number(g.budget_minutes);
        c[4].textContent = grouped(b, b % 1 === 0 ? 0 : 1);
      }
      rows.push([key, state]);
    });
    if (rows.length) card.querySelector(".card-title").textContent = goldTitle(rows);
  }

  // --- live -------------------------------------------------------------------------------
  function live() {
    if (!DATA.live) return;
    var badge = document.getElementById("live");
    var started = Date.now();
    var busy = false, timer = null;
    badge.hidden = false;
    function tick() {
      if (busy) return;
      busy = true;
      fetch("api/state", { cache: "no-store" }).then(function (r) {
        return r.json().then(function (s) { return { ok: r.ok, s: s }; });
      }).then(function (answer) {
        var s = answer.s;
        if (!answer.ok || typeof s.fingerprint !== "string") {
          // an error is not new data: reloading would only meet it again, every few seconds
          badge.textContent = "live \u00b7 server error: " + String(s.error || "no state");
          busy = false;
          return;
        }
        badge.textContent = "live \u00b7 checked " + new Date().toLocaleTimeString() +
          (s.error ? " \u00b7 " + String(s.error) : "");
        if (s.gold) updateGold(s.gold);
        if (s.fingerprint !== DATA.fingerprint || Date.now() - started > DATA.maxAgeSeconds * 1000) {
          clearInterval(timer);
          badge.textContent = "live \u00b7 new data, reloading";
          save();
          location.reload();
          return;
        }
        busy = false;
      }).catch(function () {
        badge.textContent = "live \u00b7 server unreachable";
        busy = false;
      });
    }
    timer = setInterval(tick, DATA.refreshSeconds * 1000);
  }

  wire();
  syncControls();
  updateKpis();
  show();
  live();
  document.body.dataset.ready = "true";
})();
