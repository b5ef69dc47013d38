// ws_client.js: subscribes to a Foxglove WebSocket server with @foxglove/ws-protocol's
// FoxgloveClient (the independent client robotd's viz tests check its live server with;
// the socket is npm ws) and prints one JSON object: the server's name, the advertised
// channels, and per subscribed topic the messages received in the measuring window, the
// rate (messages per second of receive time), the span of their timestamps (s), and the
// keys of the first one.
//
//   node ws_client.js URL SECONDS [SUBPROTOCOL] [TOPIC ...]    (no topic: every channel)
//
// The window starts at the first message, so connection setup is not counted. A second
// client, to load the server, is just another process.
"use strict";
const WebSocket = require("ws");
const { FoxgloveClient } = require("@foxglove/ws-protocol");

const [url, secs, proto = FoxgloveClient.SUPPORTED_SUBPROTOCOL, ...topics] = process.argv.slice(2);
const ws = new WebSocket(url, [proto]);
const client = new FoxgloveClient({ ws });
const out = { server: null, protocol: null, channels: {}, topics: {} };
const subs = new Map();
let start = null;
client.on("serverInfo", (info) => { out.server = info.name; out.protocol = ws.protocol; });
client.on("advertise", (chans) => {
  for (const ch of chans) {
    out.channels[ch.topic] = { id: ch.id, encoding: ch.encoding, schemaName: ch.schemaName, schemaEncoding: ch.schemaEncoding };
    if (topics.length === 0 || topics.includes(ch.topic)) {
      subs.set(client.subscribe(ch.id), ch.topic);
      out.topics[ch.topic] = { count: 0, firstStamp: null, lastStamp: null, keys: null };
    }
  }
});
client.on("message", ({ subscriptionId, timestamp, data }) => {
  const now = process.hrtime.bigint();
  if (start === null) {
    start = now;
    setTimeout(finish, Number(secs) * 1000);
  }
  const topic = subs.get(subscriptionId);
  const t = out.topics[topic];
  t.count++;
  t.lastStamp = Number(timestamp) / 1e9;
  if (t.firstStamp === null) {
    t.firstStamp = t.lastStamp;
    t.keys = Object.keys(JSON.parse(new TextDecoder().decode(data)));
  }
});
client.on("error", (e) => { console.error(String(e)); process.exit(1); });
function finish() {
  const span = Number(process.hrtime.bigint() - start) / 1e9;
  for (const t of Object.values(out.topics)) {
    t.rate = t.count / span;
    t.stampSpan = t.lastStamp === null ? 0 : t.lastStamp - t.firstStamp;
  }
  out.window = span;
  process.stdout.write(JSON.stringify(out) + "\n");
  client.close();
  process.exit(0);
}
setTimeout(() => { console.error("no message within 20 s"); process.exit(1); }, 20000 + Number(secs) * 1000);
