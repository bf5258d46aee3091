// Opens the web chat page of a running `kvant serve` in headless Chromium
// (playwright-core, Debian's /usr/bin/chromium): the model picker fills from
// /api/tags, a message gets a streamed answer and a tokens/s figure, and the
// page asks for nothing outside the server. The server runs with a small
// context (--ctx 256), so the first reply fills it: a second message still gets
// an answer (the server drops the oldest turns; it used to be a 400). "Stop"
// aborts a reply while it streams (the download is throttled so that it is
// still streaming) and the page goes on; "New chat" empties the page and the
// next request carries one message. Saves a screenshot to KV_SHOT.
// Run by test_serve_ui.sh with KV_BASE and KV_SHOT; exits 1 on a failure.
import { chromium } from "playwright-core";

const base = process.env.KV_BASE;
let failures = 0;
function check(cond, what, detail = "") {
  console.log((cond ? "ok: " : "FAIL: ") + what + (cond || !detail ? "" : " -- " + detail));
  if (!cond) failures++;
}

const browser = await chromium.launch({
  executablePath: process.env.KV_CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
  const outside = [];
  await page.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(base)) return route.continue();
    outside.push(url);
    return route.abort();
  });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const bodies = []; // the /api/chat requests' bodies
  page.on("request", (r) => {
    if (r.url().endsWith("/api/chat")) bodies.push(JSON.parse(r.postData()));
  });
  const lastDone = () => page.waitForFunction(() => {
    const m = document.querySelectorAll(".msg");
    return m.length >= 2 && m[m.length - 1].dataset.state === "done";
  }, null, { timeout: 120000 });
  await page.goto(base + "/ui");
  check((await page.title()) === "kvant chat", "the page loads");
  await page.waitForFunction(() => document.querySelectorAll("#model option").length > 0,
    null, { timeout: 10000 });
  const models = await page.$$eval("#model option", (os) => os.map((o) => o.value));
  check(models.includes("kjv:latest"), "the model picker lists kjv:latest", JSON.stringify(models));
  await page.fill("#input", "Who made the heaven and the earth?");
  await page.click("#send");
  const answer = page.locator(".msg.assistant, .msg.error").last();
  await page.waitForFunction(() => {
    const m = document.querySelectorAll(".msg");
    return m.length >= 2 && m[m.length - 1].dataset.state === "done";
  }, null, { timeout: 120000 });
  const cls = await answer.getAttribute("class");
  const text = await answer.textContent();
  check(cls.includes("assistant") && text.trim().length > 0, "a streamed answer appears",
    cls + ": " + text);
  const stats = await page.textContent("#stats");
  check(/tokens\/s/.test(stats), "tokens/s is shown", stats);
  check(bodies.length === 1 && bodies[0].options && bodies[0].options.num_predict > 0,
    "the page sends a num_predict", JSON.stringify(bodies[0] && bodies[0].options));
  check(await page.isDisabled("#stop"), "Stop is disabled when nothing streams");

  // A second message, although the first reply filled the context.
  await page.fill("#input", "And what did he say?");
  await page.click("#send");
  await lastDone();
  const second = page.locator(".msg").last();
  const cls2 = await second.getAttribute("class");
  const text2 = await second.textContent();
  check(cls2.includes("assistant") && text2.trim().length > 0,
    "a second message gets an answer after a reply that filled the context", cls2 + ": " + text2);
  check(bodies.length === 2 && bodies[1].messages.length === 3,
    "the second request carries the conversation", JSON.stringify(bodies[1] && bodies[1].messages.length));

  // Stop, while the reply streams (slowly: the download is throttled).
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions",
    { offline: false, latency: 0, downloadThroughput: 1500, uploadThroughput: -1 });
  await page.fill("#input", "Tell me of the flood.");
  await page.click("#send");
  await page.waitForFunction(() => {
    const m = document.querySelectorAll(".msg");
    const last = m[m.length - 1];
    return last.dataset.state === "streaming" && last.textContent.length > 0;
  }, null, { timeout: 60000 });
  check(!(await page.isDisabled("#stop")) && (await page.isDisabled("#send")),
    "while a reply streams, Stop is enabled and Send is not");
  await page.click("#stop");
  await lastDone();
  await cdp.send("Network.emulateNetworkConditions",
    { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  const stopped = page.locator(".msg").last();
  const cls3 = await stopped.getAttribute("class");
  check(cls3.includes("assistant") && cls3.includes("stopped") &&
    (await stopped.textContent()).length > 0, "Stop ends the reply, keeping its text", cls3);
  check(!(await page.isDisabled("#send")) && (await page.isDisabled("#stop")),
    "after Stop, Send is enabled again");
  await page.screenshot({ path: process.env.KV_SHOT, fullPage: true });

  // New chat: the page empties, and the next request carries one message.
  await page.click("#new");
  check((await page.$$(".msg")).length === 0, "New chat empties the page");
  await page.fill("#input", "In the beginning");
  await page.click("#send");
  await lastDone();
  const fresh = page.locator(".msg").last();
  const cls4 = await fresh.getAttribute("class");
  const last = bodies[bodies.length - 1];
  check(cls4.includes("assistant") && last.messages.length === 1 &&
    last.messages[0].content === "In the beginning",
    "after New chat the request carries only the new message", cls4 + ": " +
    JSON.stringify(last.messages.map((m) => m.role)));
  check(outside.length === 0, "nothing is fetched from outside the server", outside.join(" "));
  check(errors.length === 0, "no script errors", errors.join("; "));
  console.log("info: answer: " + JSON.stringify(text.slice(0, 120)) + "; " + stats);
} catch (e) {
  failures++;
  console.log("FAIL: " + (e && e.stack ? e.stack : e));
} finally {
  await browser.close();
}
process.exit(failures ? 1 : 0);
