// mcap_check.js: reads an MCAP file with @mcap/core (the independent reader robotd's viz
// tests check its logs with) and prints one JSON object: the channels (topic, schema name
// and encoding, message encoding), the message count per topic, the first and last log
// times (ns, as strings) and, for a JSON message of each topic, its parsed keys.
//
//   node mcap_check.js FILE            indexed reader (needs the summary: a closed file)
//   node mcap_check.js --stream FILE   stream reader, record by record: a file cut short
//                                      (a killed process) is read up to its last whole
//                                      record; "truncated" says whether bytes were left.
"use strict";
const fs = require("fs");
const { McapIndexedReader, McapStreamReader } = require("@mcap/core");
const zstd = require("@foxglove/wasm-zstd");

async function main() {
  const args = process.argv.slice(2);
  const stream = args[0] === "--stream";
  const path = stream ? args[1] : args[0];
  await zstd.isLoaded;
  const decompressHandlers = { zstd: (buf, size) => zstd.decompress(buf, Number(size)) };
  const out = { channels: {}, counts: {}, keys: {}, first: null, last: null, messages: 0 };
  const seen = (ch, schema, msg) => {
    if (!out.channels[ch.topic]) {
      out.channels[ch.topic] = { schema: schema ? schema.name : "", schemaEncoding: schema ? schema.encoding : "", messageEncoding: ch.messageEncoding };
      out.counts[ch.topic] = 0;
    }
    out.counts[ch.topic]++;
    out.messages++;
    const t = msg.logTime;
    if (out.first === null || t < BigInt(out.first)) out.first = t.toString();
    if (out.last === null || t > BigInt(out.last)) out.last = t.toString();
    if (!out.keys[ch.topic]) out.keys[ch.topic] = Object.keys(JSON.parse(new TextDecoder().decode(msg.data)));
  };
  if (!stream) {
    const fd = fs.openSync(path, "r");
    const size = fs.fstatSync(fd).size;
    const readable = {
      size: async () => BigInt(size),
      read: async (offset, length) => {
        const buf = Buffer.alloc(Number(length));
        fs.readSync(fd, buf, 0, Number(length), Number(offset));
        return buf;
      },
    };
    const reader = await McapIndexedReader.Initialize({ readable, decompressHandlers });
    for await (const msg of reader.readMessages()) {
      const ch = reader.channelsById.get(msg.channelId);
      seen(ch, reader.schemasById.get(ch.schemaId), msg);
    }
    out.statistics = reader.statistics ? { messageCount: reader.statistics.messageCount.toString(), chunkCount: reader.statistics.chunkCount } : null;
  } else {
    const reader = new McapStreamReader({ decompressHandlers, validateCrcs: true });
    reader.append(fs.readFileSync(path));
    const schemas = new Map(), channels = new Map();
    out.records = {};
    try {
      for (let r; (r = reader.nextRecord()); ) {
        out.records[r.type] = (out.records[r.type] || 0) + 1;
        if (r.type === "Schema") schemas.set(r.id, r);
        else if (r.type === "Channel") channels.set(r.id, r);
        else if (r.type === "Message") {
          const ch = channels.get(r.channelId);
          seen(ch, schemas.get(ch.schemaId), r);
        }
      }
    } catch (e) {
      out.error = String(e);
    }
    out.truncated = !reader.done();
    out.leftBytes = reader.bytesRemaining();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}
main().catch((e) => { console.error(e); process.exit(1); });
