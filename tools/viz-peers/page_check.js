// page_check.js: drives Debian's chromium (headless, over the DevTools protocol, through
// npm ws) on robotd's operator page, as an operator would: load it, see it update, take a
// screenshot, press STOP. Prints one JSON object with what it saw.
//
//   node page_check.js URL SCREENSHOT.png
//
// It waits (20 s at most) for the page to show the state "running" with at least 10
// updates, reads the state and the update count, waits 4 s and reads the count again
// with the cameras shown and the plot's tool history (it must grow), saves the screenshot,
// clicks STOP and waits for the POST /stop answer the page shows. Chromium runs with a
// throwaway profile and is killed at the end.
"use strict";
const { spawn } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");
const WebSocket = require("ws");

const [url, shot] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "robotd-chromium-"));
  const chrome = spawn(process.env.CHROMIUM || "chromium", ["--headless=new", "--no-sandbox", "--disable-gpu",
    "--no-first-run", "--no-default-browser-check", "--remote-debugging-port=0", "--user-data-dir=" + profile,
    "--window-size=1280,860", "about:blank"], { stdio: "ignore" });
  const exited = new Promise((res) => chrome.once("exit", res));
  const cleanup = async () => {
    chrome.kill("SIGKILL");
    await exited;
    fs.rmSync(profile, { recursive: true, force: true, maxRetries: 5 });
  };
  try {
    let port;
    for (let i = 0; i < 200 && !port; i++) {
      try { port = fs.readFileSync(path.join(profile, "DevToolsActivePort"), "utf8").split("\n")[0]; } catch (e) { await sleep(100); }
    }
    if (!port) throw new Error("chromium did not open its DevTools port in 20 s");
    let target;
    for (let i = 0; i < 50 && !target; i++) {
      const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
      target = list.find((t) => t.type === "page");
      if (!target) await sleep(100);
    }
    const ws = new WebSocket(target.webSocketDebuggerUrl, { perMessageDeflate: false });
    await new Promise((res, rej) => { ws.once("open", res); ws.once("error", rej); });
    let id = 0;
    const pending = new Map();
    ws.on("message", (m) => {
      const msg = JSON.parse(m);
      if (msg.id && pending.has(msg.id)) { pending.get(msg.id)(msg); pending.delete(msg.id); }
    });
    const call = (method, params = {}) => new Promise((res, rej) => {
      const i = ++id;
      pending.set(i, (msg) => (msg.error ? rej(new Error(method + ": " + msg.error.message)) : res(msg.result)));
      ws.send(JSON.stringify({ id: i, method, params }));
    });
    const evaluate = async (expr) => (await call("Runtime.evaluate", { expression: expr, returnByValue: true })).result.value;
    await call("Page.enable");
    await call("Page.navigate", { url });
    const out = {};
    const t0 = Date.now();
    for (;;) {
      const s = await evaluate(`({state: document.body.dataset.state || "", updates: +(document.body.dataset.updates || 0)})`);
      if (s && s.state === "running" && s.updates >= 10) { Object.assign(out, s); break; }
      if (Date.now() - t0 > 20000) throw new Error("page not running with 10 updates in 20 s: " + JSON.stringify(s));
      await sleep(100);
    }
    await sleep(4000); // let the plot fill and the cameras arrive
    out.updatesLater = await evaluate(`+document.body.dataset.updates`);
    out.cameras = await evaluate(`[...document.querySelectorAll("#cameras img")].map(i => ({name: i.alt, loaded: i.complete && i.naturalWidth > 0, width: i.naturalWidth}))`);
    out.history = await evaluate(`hist.length`);
    out.toolZ = await evaluate(`tool && tool[2]`);
    out.counterRows = await evaluate(`document.querySelectorAll("#counters tr").length`);
    out.title = await evaluate(`document.title`);
    const png = await call("Page.captureScreenshot", { format: "png" });
    fs.writeFileSync(shot, Buffer.from(png.data, "base64"));
    await evaluate(`document.getElementById("stop").click()`);
    for (let i = 0; i < 100; i++) {
      out.stop = await evaluate(`document.body.dataset.stop || ""`);
      if (out.stop) break;
      await sleep(100);
    }
    out.stopLabel = await evaluate(`document.getElementById("stop").textContent`);
    ws.close();
    process.stdout.write(JSON.stringify(out) + "\n");
  } finally {
    await cleanup();
  }
}
main().then(() => process.exit(0), (e) => { console.error(String(e)); process.exit(1); });
