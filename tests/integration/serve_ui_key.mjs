// The web chat page against a server with API keys (run by test_serve_ui.sh
// with KV_BASE, KV_USER_KEY): without a key the page says the key is missing
// (401) and lists nothing; a bad key is named invalid; the user key, typed into
// the API key field, lists the models and chats (every request carries
// "Authorization: Bearer KEY"); the key survives a reload (localStorage) and
// clearing the field forgets it. Exits 1 on a failure.
import { chromium } from "playwright-core";

const base = process.env.KV_BASE;
const key = process.env.KV_USER_KEY;
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
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const auths = []; // the Authorization header of each API request
  page.on("request", (r) => {
    if (r.url().includes("/api/")) auths.push(r.headers()["authorization"] || "");
  });
  const stats = () => page.textContent("#stats");
  const setKey = async (k) => {
    await page.fill("#key", k);
    await page.dispatchEvent("#key", "change");
  };
  await page.goto(base + "/ui");
  await page.waitForFunction(() => document.getElementById("stats").textContent.length > 0,
    null, { timeout: 10000 });
  check(/API key: missing API key/.test(await stats()), "without a key the page says a key is missing",
    await stats());
  check((await page.$$("#model option")).length === 0, "... and lists no model");

  await setKey("kv-not-a-real-key");
  await page.waitForFunction(() => /invalid/.test(document.getElementById("stats").textContent),
    null, { timeout: 10000 });
  check(true, "a bad key is named invalid");

  await setKey(key);
  await page.waitForFunction(() => document.querySelectorAll("#model option").length > 0,
    null, { timeout: 10000 });
  check(true, "with the user key the model picker fills");
  await page.fill("#input", "In the beginning");
  await page.click("#send");
  await page.waitForFunction(() => {
    const m = document.querySelectorAll(".msg");
    return m.length >= 2 && m[m.length - 1].dataset.state === "done";
  }, null, { timeout: 120000 });
  const cls = await page.locator(".msg").last().getAttribute("class");
  check(cls.includes("assistant"), "the keyed chat gets an answer", cls);
  check(auths[auths.length - 1] === "Bearer " + key, "the chat request carries Authorization: Bearer KEY",
    auths[auths.length - 1]);

  await page.reload();
  await page.waitForFunction(() => document.querySelectorAll("#model option").length > 0,
    null, { timeout: 10000 });
  check((await page.inputValue("#key")) === key, "after a reload the key is still there (localStorage)");
  await setKey("");
  check((await page.evaluate(() => localStorage.getItem("kvant.apiKey"))) === null,
    "clearing the field forgets the key");
  check(errors.length === 0, "no script errors", errors.join("; "));
} catch (e) {
  failures++;
  console.log("FAIL: " + (e && e.stack ? e.stack : e));
} finally {
  await browser.close();
}
process.exit(failures ? 1 : 0);
