// Opens the web chat page of a running `kvant serve` in headless Chromium
// (playwright-core, Debian's /usr/bin/chromium): the model picker fills from
// /api/tags, a message gets a streamed answer and a tokens/s figure, and the
// page asks for nothing outside the server. Saves a screenshot to KV_SHOT.
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
  await page.screenshot({ path: process.env.KV_SHOT, fullPage: true });
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
