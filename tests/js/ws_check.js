// ws_check.js - WebSocket scenarios against parkd's GET /ws with the `ws`
// library, run by tests/integration/test_http.py.  Usage:
//   node ws_check.js SCENARIO HTTP_PORT [TCP_PORT]
// Prints one JSON object with what it saw and exits 0; exits 1 on error.
"use strict";
const WebSocket = require("ws");

const [scenario, httpPort, tcpPort] = process.argv.slice(2);
const url = "ws://127.0.0.1:" + httpPort + "/ws";

function open(opts) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, "jsonrpc", opts || {});
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

// Sends one request and waits for the reply with its id.
function call(ws, method, params, id) {
  return new Promise((resolve, reject) => {
    const onMsg = (data) => {
      const m = JSON.parse(data.toString());
      if (m.id === id) {
        ws.off("message", onMsg);
        resolve(m);
      }
    };
    ws.on("message", onMsg);
    ws.once("close", () => reject(new Error("closed")));
    ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
  });
}

function nextMessage(ws) {
  return new Promise((resolve) => ws.once("message", (d) => resolve(JSON.parse(d.toString()))));
}

function closed(ws) {
  return new Promise((resolve) => ws.once("close", (code, reason) =>
    resolve({ code, reason: reason.toString() })));
}

const scenarios = {
  // ping, status, an entry, the protocol negotiated.
  async basics() {
    const ws = await open();
    const out = { protocol: ws.protocol };
    out.ping = (await call(ws, "ping", undefined, 1)).result;
    out.entry = (await call(ws, "entry", { gate: "north", plate: "WS 1", class: "car" }, 2)).result;
    out.status = (await call(ws, "status", undefined, 3)).result;
    ws.close();
    await closed(ws);
    return out;
  },
  // Bad JSON is answered with parse_error and the socket stays usable.
  async bad_json() {
    const ws = await open();
    ws.send("{not json");
    const err = await nextMessage(ws);
    const ping = (await call(ws, "ping", undefined, 7)).result;
    ws.close();
    await closed(ws);
    return { err, ping };
  },
  // A message above twice limits.max_line is refused with close code 1009.
  async too_big() {
    const ws = await open();
    const c = closed(ws);
    ws.send("x".repeat(Number(process.env.BIG || 100000)));
    return await c;
  },
  // Binary messages are not requests: close code 1003.
  async binary() {
    const ws = await open();
    const c = closed(ws);
    ws.send(Buffer.from([1, 2, 3]));
    return await c;
  },
  // Tokens: auth_required first, then auth works as on TCP.
  async auth() {
    const ws = await open();
    const before = await call(ws, "status", undefined, 1);
    const auth = await call(ws, "auth", { token: process.env.TOKEN }, 2);
    const after = await call(ws, "status", undefined, 3);
    ws.close();
    await closed(ws);
    return { before, auth: auth.result, after: after.result.capacity };
  },
  // A page on another site cannot open the socket.
  async cross_origin() {
    try {
      const ws = await open({ origin: "http://evil.example" });
      ws.close();
      return { opened: true };
    } catch (e) {
      return { opened: false, error: String(e.message) };
    }
  },
  // Requests pipelined without waiting, answered in order.
  async pipelined() {
    const ws = await open();
    const n = 2000, ids = [];
    const done = new Promise((resolve) => {
      ws.on("message", (d) => {
        ids.push(JSON.parse(d.toString()).id);
        if (ids.length === n) resolve();
      });
    });
    for (let i = 0; i < n; i++)
      ws.send(JSON.stringify({ jsonrpc: "2.0", id: i, method: "status" }));
    await done;
    ws.close();
    await closed(ws);
    return { n: ids.length, ordered: ids.every((v, i) => v === i) };
  },
  // Events of a burst of changes made over TCP: one WebSocket message
  // each (never several notifications in one message), in order.
  async events_burst() {
    const net = require("net");
    const n = Number(process.env.N || 300);
    const ws = await open();
    const sub = (await call(ws, "subscribe", { topics: ["events"] }, 1)).result;
    const plates = [];
    let bad = 0;
    const done = new Promise((resolve) => {
      ws.on("message", (d) => {
        let m;
        try { m = JSON.parse(d.toString()); } catch (e) { bad++; return; }
        if (m.method !== "event" || m.params.subscription !== sub.subscription) return;
        plates.push(m.params.data.plate);
        if (plates.length === n) resolve();
      });
    });
    const tcp = net.connect(Number(tcpPort), "127.0.0.1");
    let lines = "";
    for (let i = 0; i < n; i++)
      lines += JSON.stringify({ jsonrpc: "2.0", id: i, method: "entry",
        params: { gate: "north", plate: "WSB " + i, class: "car" } }) + "\n";
    tcp.write(lines);
    tcp.on("data", () => {});
    await Promise.race([done, new Promise((r) => setTimeout(r, 20000))]);
    tcp.destroy();
    ws.close();
    await closed(ws);
    return { n: plates.length, bad,
             ordered: plates.every((p, i) => p === "WSB " + i) };
  },
  // A client that sends but never reads is dropped; others are not slowed.
  async never_reads() {
    const ws = await open();
    const c = new Promise((resolve) => ws._socket.once("close", () => resolve(true)));
    // Stop reading replies for good: ws would resume a merely paused socket.
    ws._socket.removeAllListeners("data");
    ws._socket.pause();
    const req = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "help" });
    const t0 = Date.now();
    let sent = 0;
    const pump = setInterval(() => {
      for (let i = 0; i < 200; i++) { ws.send(req); sent++; }
    }, 5);
    const other = await open();
    let worst = 0;
    for (let i = 0; i < 20; i++) {
      const t = Date.now();
      await call(other, "ping", undefined, 100 + i);
      worst = Math.max(worst, Date.now() - t);
      await new Promise((r) => setTimeout(r, 100));
    }
    const r = await Promise.race([c, new Promise((res) => setTimeout(() => res(null), 15000))]);
    clearInterval(pump);
    other.close();
    await closed(other);
    return { closed: r !== null, after_ms: Date.now() - t0, sent, worst_ping_ms: worst };
  },
};

(async () => {
  const out = await scenarios[scenario]();
  process.stdout.write(JSON.stringify(out) + "\n");
  process.exit(0);
})().catch((e) => {
  process.stdout.write(JSON.stringify({ error: String(e && e.stack || e) }) + "\n");
  process.exit(1);
});
