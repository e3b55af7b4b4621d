// jayson_check.js - parkd through `jayson`, a JSON-RPC 2.0 client library
// from npm, over both of parkd's transports: TCP (one connection a request,
// lines ending in "\n") and GET /ws (subprotocol jsonrpc).  Run by
// tests/integration/test_http.py.  Usage:
//   node jayson_check.js TCP_PORT HTTP_PORT
// Prints one JSON object with what it saw and exits 0; exits 1 on error.
"use strict";
const jayson = require("jayson");
const WebSocket = require("ws");

const [tcpPort, httpPort] = process.argv.slice(2);

// jayson's callback form: (transport error, JSON-RPC error, result).
function call(client, method, params) {
  return new Promise((resolve, reject) => {
    client.request(method, params, (err, error, result) => {
      if (err) reject(err);
      else resolve({ error, result });
    });
  });
}

// A batch: jayson hands back the responses as they came.
function batch(client, reqs) {
  return new Promise((resolve, reject) => {
    const b = reqs.map(([m, p], i) => client.request(m, p, "b" + i, false));
    client.request(b, (err, responses) => {
      if (err) reject(err);
      else resolve(responses);
    });
  });
}

async function main() {
  const out = {};
  const tcp = jayson.client.tcp({ host: "127.0.0.1", port: Number(tcpPort) });
  out.tcp_ping = (await call(tcp, "ping", {})).result;
  const e = await call(tcp, "entry", { gate: "north", plate: "JAY 1", class: "car" });
  out.tcp_entry = e.result;
  out.tcp_unknown = (await call(tcp, "no_such_method", {})).error;
  out.tcp_bad_params = (await call(tcp, "entry", { gate: "north" })).error;
  out.tcp_batch = await batch(tcp, [["ping", {}], ["locate", { plate: "JAY 1" }]]);

  const sock = new WebSocket("ws://127.0.0.1:" + httpPort + "/ws", "jsonrpc");
  await new Promise((resolve, reject) => {
    sock.once("open", resolve);
    sock.once("error", reject);
  });
  const ws = jayson.client.websocket({ ws: sock });
  out.ws_ping = (await call(ws, "ping", {})).result;
  out.ws_locate = (await call(ws, "locate", { plate: "JAY 1" })).result;
  out.ws_unknown = (await call(ws, "no_such_method", {})).error;
  sock.close();
  console.log(JSON.stringify(out));
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
