// map_check.js - the live map (daemon/www/map.html) in a real browser:
// Debian's Chromium, headless, driven with puppeteer-core.  Run by
// tests/integration/test_map.py:
//   node map_check.js SCENARIO HTTP_PORT ARTIFACT_DIR
// The python side owns the daemon and the TCP clients: when this script
// needs something done (an entry, a restart) it writes one JSON line
// {"ask": ...} to stdout and reads the answer as one JSON line on stdin.
// The last line it prints is {"result": {...}} with what it saw; it exits
// 1 with {"error": ...} when something did not hold.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const readline = require("readline");
const puppeteer = require("puppeteer-core");

const [scenario, httpPort, artifacts] = process.argv.slice(2);
const origin = "http://127.0.0.1:" + httpPort;

// ---- talking to the python side ----

const rl = readline.createInterface({ input: process.stdin });
const answers = [];
let waiting = null;
rl.on("line", (line) => {
  if (waiting) { const w = waiting; waiting = null; w(JSON.parse(line)); } else answers.push(JSON.parse(line));
});
function ask(what) {
  process.stdout.write(JSON.stringify({ ask: what }) + "\n");
  return new Promise((resolve) => {
    if (answers.length) resolve(answers.shift()); else waiting = resolve;
  });
}

// ---- helpers ----

function check(cond, what, detail) {
  if (!cond) throw new Error(what + (detail === undefined ? "" : ": " + JSON.stringify(detail)));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls fn (run in the page) until it returns a truthy value; returns
// [value, ms waited].  Throws after limitMs.
async function until(page, fn, arg, limitMs, what) {
  const t0 = Date.now();
  for (;;) {
    const v = await page.evaluate(fn, arg);
    if (v) return [v, Date.now() - t0];
    if (Date.now() - t0 > limitMs) throw new Error("timed out after " + limitMs + " ms: " + what);
    await sleep(15);
  }
}

async function launch() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "parkd-chromium-"));
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    userDataDir: profile,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run",
      "--user-data-dir=" + profile, "--window-size=1400,1000"],
    defaultViewport: { width: 1400, height: 1000 },
  });
  return { browser, profile };
}

// A page that records every request, page error and console error.
async function open(browser) {
  const page = await browser.newPage();
  const seen = { requests: [], foreign: [], errors: [], failed: [], expected: [], restarting: false };
  await page.setRequestInterception(true);
  page.on("request", (req) => {
    const url = req.url();
    seen.requests.push(url);
    const u = new URL(url);
    const ours = u.hostname === "127.0.0.1" && u.port === String(httpPort);
    if (!ours && u.protocol !== "data:") {
      seen.foreign.push(url);
      req.abort();
      return;
    }
    req.continue();
  });
  page.on("requestfailed", (req) => seen.failed.push(req.url()));
  page.on("response", (res) => { if (res.status() >= 400) seen.errors.push("HTTP " + res.status() + " " + res.url()); });
  page.on("pageerror", (e) => seen.errors.push("pageerror: " + e.message));
  page.on("console", (m) => {
    if (m.type() !== "error" && m.type() !== "warning") return;
    const line = m.type() + ": " + m.text();
    // While the daemon is down on purpose, Chromium reports each refused
    // reconnect attempt itself; those are expected, anything else is not.
    if (seen.restarting && /WebSocket connection to .* failed/.test(m.text())) seen.expected.push(line);
    else seen.errors.push(line);
  });
  // The WebSocket is no request puppeteer intercepts: watch it through CDP.
  const cdp = await page.target().createCDPSession();
  await cdp.send("Network.enable");
  cdp.on("Network.webSocketCreated", (e) => {
    seen.requests.push(e.url);
    const u = new URL(e.url);
    if (u.hostname !== "127.0.0.1" || u.port !== String(httpPort)) seen.foreign.push(e.url);
  });
  return { page, seen };
}

async function shot(page, name) {
  const file = path.join(artifacts, name);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

const spotOf = (page, id) => page.evaluate((i) => window.parkdMap.spot(i), id);
const text = (page, id) => page.$eval("#" + id, (e) => e.textContent);

// Relative luminance-ish of an [r, g, b, a] pixel.
const light = (p) => (0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]) * (p[3] / 255);

// ---- scenarios ----

const scenarios = {
  // The demo garage: everything a duty manager does with the page.
  async demo(browser) {
    const out = { shots: [] };
    const { page, seen } = await open(browser);
    await page.goto(origin + "/", { waitUntil: "load" });
    await until(page, () => window.parkdMap.ready && window.parkdMap.connected && window.parkdMap.pending === 0, null, 5000, "the map is drawn");
    out.facility = await text(page, "name");
    out.title = await page.title();
    out.free = Number(await text(page, "free"));
    out.total = Number(await text(page, "total"));
    out.levels = await page.$$eval("canvas[data-level]", (cs) => cs.map((c) => c.dataset.level));
    out.countsTable = await page.$eval("#counts", (t) => t.innerText);
    out.waitlist = await text(page, "waitlist");
    out.todayNote = await text(page, "today-note");
    out.shots.push(await shot(page, "map-initial.png"));

    // An entry over TCP: the spot and the counts change within a second.
    const before = await page.evaluate(() => window.parkdMap.free);
    const t0 = Date.now();
    const e1 = await ask({ do: "entry", plate: "MAP 1", gate: "north", class: "car" });
    const spot = e1.spots[0].id;
    const pixBefore = await page.evaluate((i) => window.parkdMap.pixel(i), spot);
    // The page may already have drawn it by now; then the pixel is dark already.
    const [, waited] = await until(page, (i) => {
      const m = window.parkdMap, s = m.spot(i);
      return s.state === "O" && Number(document.getElementById("free").textContent) === m.free && m.free !== null && s;
    }, spot, 2000, "the entered spot drawn occupied");
    out.entry = { spot, tcpReplyMs: e1.ms, pageMs: Date.now() - t0, polledMs: waited };
    check(Date.now() - t0 < 1000, "the page showed the entry within a second", out.entry);
    await until(page, (b) => window.parkdMap.free === b - 1, before, 1000, "free count down by one");
    out.freeAfterEntry = Number(await text(page, "free"));
    const pixAfter = await page.evaluate((i) => window.parkdMap.pixel(i), spot);
    out.pixel = { before: pixBefore, after: pixAfter };
    check(light(pixAfter) < 140, "an occupied spot is drawn dark", pixAfter);
    const freeSpot = await page.evaluate(() => {
      // A spot still free on the same row, as a reference.
      for (const n of ["B-20", "B-30", "A-10"]) if (window.parkdMap.spot(n).state === "F") return n;
      return null;
    });
    check(light(await page.evaluate((i) => window.parkdMap.pixel(i), freeSpot)) > 180, "a free spot is drawn light");

    // Hovering the spot tells what is there.
    const s1 = await spotOf(page, spot);
    await page.mouse.move(s1.x, s1.y);
    const [tip] = await until(page, () => window.parkdMap.tip(), null, 1000, "a tooltip");
    out.tip = tip;
    check(tip.includes(spot) && tip.includes("regular") && tip.includes("MAP 1") && tip.includes("entered") &&
      tip.includes(e1.ticket) && tip.includes("ev"), "the tooltip names the spot, its type, tags, plate and entry", tip);
    await page.mouse.move(2, 2);

    // A plate prefix highlights the matches, and stays live.
    await ask({ do: "entry", plate: "MAP 2", gate: "north", class: "car" });
    await ask({ do: "entry", plate: "OTHER 9", gate: "north", class: "car" });
    await page.click("#plate");
    await page.keyboard.type("map");
    await until(page, () => window.parkdMap.highlightCount === 2 &&
      document.getElementById("matches").textContent.startsWith("2 ") && window.parkdMap.pending === 0,
      null, 2000, "two matches highlighted");
    out.matches = await text(page, "matches");
    check((await spotOf(page, spot)).highlighted, "the first match is drawn highlighted");
    const e3 = await ask({ do: "entry", plate: "MAP 3", gate: "north", class: "car" });
    await until(page, (i) => window.parkdMap.highlightCount === 3 && window.parkdMap.spot(i).highlighted, e3.spots[0].id,
      1000, "a new matching entry highlighted live");
    out.matchesLive = await text(page, "matches");
    out.shots.push(await shot(page, "map-search.png"));

    // Out of service, and an exit.
    await ask({ do: "spot", id: "A-05", state: "out_of_service" });
    await until(page, () => window.parkdMap.spot("A-05").state === "X", null, 1000, "A-05 drawn out of service");
    await ask({ do: "exit", plate: "MAP 1", gate: "south" });
    await until(page, (i) => window.parkdMap.spot(i).state === "F" && !window.parkdMap.spot(i).highlighted &&
      window.parkdMap.highlightCount === 2, spot, 1000, "the exit drawn free and unhighlighted");
    out.ticker = await page.$$eval("#ticker li", (ls) => ls.map((l) => l.textContent));
    check(out.ticker.some((t) => t.includes("exited") && t.includes("MAP 1")), "the ticker shows the exit", out.ticker);
    check(out.ticker.some((t) => t.includes("entered") && t.includes("MAP 3")), "the ticker shows an entry", out.ticker);
    out.entriesToday = await text(page, "entries");
    out.exitsToday = await text(page, "exits");
    check(out.entriesToday === "4" && out.exitsToday === "1", "today's counts", [out.entriesToday, out.exitsToday]);
    // Occupancy is coalesced (at most 10 a second): the daemon's count catches up with ours.
    await until(page, () => window.parkdMap.free === window.parkdMap.localFree, null, 1000, "the daemon's free count and the page's agree");
    out.localFree = await page.evaluate(() => window.parkdMap.localFree);
    out.serverFree = await page.evaluate(() => window.parkdMap.free);
    out.shots.push(await shot(page, "map-live.png"));

    // The daemon restarts on the same ports: the page comes back by itself.
    const connects = await page.evaluate(() => window.parkdMap.connects);
    const r0 = Date.now();
    seen.restarting = true;
    // Down for 1.5 s: the page says so and keeps trying, backing off.
    const [[down]] = await Promise.all([
      until(page, () => !window.parkdMap.connected && document.getElementById("conn").textContent, null, 5000, "the page notices"),
      ask({ do: "restart", down_ms: 1500 }),
    ]);
    out.whileDown = down;
    await until(page, (n) => window.parkdMap.connected && window.parkdMap.connects > n, connects, 15000, "reconnected");
    seen.restarting = false;
    out.reconnectMs = Date.now() - r0;
    out.refusedWhileDown = seen.expected.length;
    out.connText = await text(page, "conn");
    check((await spotOf(page, "A-05")).state === "X", "the state after the restart read again");
    const e4 = await ask({ do: "entry", plate: "MAP 4", gate: "north", class: "car" });
    const t4 = Date.now();
    await until(page, (i) => window.parkdMap.spot(i).state === "O" && window.parkdMap.spot(i).highlighted,
      e4.spots[0].id, 1000, "an entry after the restart drawn, and matched by the search");
    out.afterRestartMs = Date.now() - t4;
    out.todayNoteAfter = await text(page, "today-note");
    out.shots.push(await shot(page, "map-reconnected.png"));

    out.requests = seen.requests;
    out.failed = seen.failed;
    check(seen.foreign.length === 0, "no request to another host", seen.foreign);
    check(seen.errors.length === 0, "no page or console errors", seen.errors);
    await page.close();
    return out;
  },

  // With tokens: the page asks for one, keeps it for the tab, and says when one is wrong.
  async token(browser) {
    const out = {};
    const { page, seen } = await open(browser);
    await page.goto(origin + "/", { waitUntil: "load" });
    await until(page, () => getComputedStyle(document.getElementById("login")).display !== "none", null, 5000, "the token form");
    out.askedBeforeToken = true;
    await page.type("#token", "wrong-token");
    await page.keyboard.press("Enter");
    await until(page, () => getComputedStyle(document.getElementById("login")).display !== "none" &&
      document.getElementById("login-err").textContent, null, 5000, "a refused token is said so");
    out.refused = await text(page, "login-err");
    await page.type("#token", "ops-secret");
    await page.keyboard.press("Enter");
    await until(page, () => window.parkdMap.ready && window.parkdMap.connected, null, 5000, "signed in and drawn");
    out.eventsLive = await page.evaluate(() => window.parkdMap.eventsLive);
    const e = await ask({ do: "entry", plate: "TOK 1", gate: "north", class: "car" });
    await until(page, (i) => window.parkdMap.spot(i).state === "O", e.spots[0].id, 1000, "entry seen with a token");
    // A reload keeps the token (sessionStorage): no form this time.
    await page.reload({ waitUntil: "load" });
    await until(page, () => window.parkdMap.ready && window.parkdMap.connected, null, 5000, "drawn again after a reload");
    out.formAfterReload = await page.$eval("#login", (e) => getComputedStyle(e).display);
    check(out.formAfterReload === "none", "no token form after a reload");
    // A kiosk may not have events: the page reads the layout again on each
    // occupancy notification, and still shows a change within a second.
    await page.evaluate(() => sessionStorage.clear());
    await page.reload({ waitUntil: "load" });
    await until(page, () => getComputedStyle(document.getElementById("login")).display !== "none", null, 5000, "the token form again");
    await page.type("#token", "kiosk-secret");
    await page.keyboard.press("Enter");
    await until(page, () => window.parkdMap.ready && window.parkdMap.connected, null, 5000, "signed in as a kiosk");
    out.kioskEventsLive = await page.evaluate(() => window.parkdMap.eventsLive);
    const k0 = Date.now();
    const k = await ask({ do: "entry", plate: "TOK 2", gate: "north", class: "car" });
    await until(page, (i) => window.parkdMap.spot(i).state === "O", k.spots[0].id, 1000, "entry seen by a kiosk's page");
    out.kioskMs = Date.now() - k0;
    out.conn = await text(page, "conn");
    check(seen.foreign.length === 0, "no request to another host", seen.foreign);
    // The refused token was answered with an error the page shows, not a console error.
    check(seen.errors.length === 0, "no page or console errors", seen.errors);
    await page.close();
    return out;
  },

  // 10 000 spots: how long drawing and 100 events take.
  async big(browser) {
    const out = {};
    const { page, seen } = await open(browser);
    const t0 = Date.now();
    await page.goto(origin + "/", { waitUntil: "load" });
    await until(page, () => window.parkdMap.ready && window.parkdMap.pending === 0 && window.parkdMap.stats.fullDraws > 0,
      null, 15000, "10 000 spots drawn");
    out.loadToDrawnMs = Date.now() - t0;
    out.spots = await page.evaluate(() => window.parkdMap.spots);
    const st = await page.evaluate(() => window.parkdMap.stats);
    out.layoutMs = st.layoutMs;
    out.firstFullDrawMs = st.lastFullDrawMs;
    out.fullRedrawMs = await page.evaluate(() => {
      const t = [];
      for (let i = 0; i < 5; i++) t.push(window.parkdMap.redraw());
      return t;
    });
    const s0 = await page.evaluate(() => window.parkdMap.stats);
    const w0 = Date.now();
    const p0 = await page.evaluate(() => performance.now());
    const r = await ask({ do: "entries", n: 100, prefix: "BIG " });
    await until(page, (n) => window.parkdMap.stats.events >= n && window.parkdMap.pending === 0, s0.events + 100, 10000,
      "100 events applied and drawn");
    out.hundredEvents = {
      tcpMs: r.ms,
      wallMs: Date.now() - w0,
    };
    const s1 = await page.evaluate(() => window.parkdMap.stats);
    out.hundredEvents.applyMs = s1.applyMs - s0.applyMs;
    out.hundredEvents.drawMs = s1.partialDrawMs - s0.partialDrawMs;
    out.hundredEvents.frames = s1.partialDraws - s0.partialDraws;
    // In the page's own clock: from just before the entries were asked for
    // to the last event received, and to the last spot drawn.
    out.hundredEvents.lastEventMs = s1.lastEventAt - p0;
    out.hundredEvents.lastDrawnMs = s1.lastDrawAt - p0;
    out.hundredEvents.spotsRedrawn = s1.spotsRedrawn - s0.spotsRedrawn;
    // The counts come with the occupancy topic, at most 10 pushes a second
    // (protocol.md 6): the last may follow the last spot event by 100 ms.
    await until(page, (n) => window.parkdMap.free === n, out.spots - 100, 2000,
      "the occupancy after 100 entries").catch(() => {});
    out.free = await page.evaluate(() => window.parkdMap.free);
    out.localFree = await page.evaluate(() => window.parkdMap.localFree);
    check(out.free === out.spots - 100 && out.localFree === out.free, "counts after 100 entries", out);
    // Hover works at this size too.
    const s = await spotOf(page, r.last);
    await page.mouse.move(s.x, s.y);
    const [tip] = await until(page, () => window.parkdMap.tip(), null, 1000, "a tooltip");
    check(tip.includes(r.last) && tip.includes("BIG "), "hover at 10 000 spots", tip);
    out.shot = await shot(page, "map-10k.png");
    check(seen.foreign.length === 0, "no request to another host", seen.foreign);
    check(seen.errors.length === 0, "no page or console errors", seen.errors);
    await page.close();
    return out;
  },
};

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  const { browser, profile } = await launch();
  let result, err = null;
  try {
    result = await scenarios[scenario](browser);
  } catch (e) {
    err = e;
  } finally {
    await browser.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  }
  if (err) {
    process.stdout.write(JSON.stringify({ error: String(err.stack || err) }) + "\n");
    process.exit(1);
  }
  process.stdout.write(JSON.stringify({ result }) + "\n");
  process.exit(0);
}

main();
