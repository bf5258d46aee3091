// Opens OUTDIR/report.html of `kvant optimize` in headless Chromium
// (playwright-core, Debian's /usr/bin/chromium) from the file system: one table
// row per variant of results.json (names in the same order), the pick marked,
// the plots (KLD vs size, speed vs size, sensitivity) present as inline SVG with
// drawn marks and a non-empty box, and nothing fetched from outside the file.
// Saves a screenshot to KV_SHOT. Run by test_optimize.sh with KV_REPORT,
// KV_RESULTS and KV_SHOT; exits 1 on a failure.
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";

let failures = 0;
function check(cond, what, detail = "") {
  console.log((cond ? "ok: " : "FAIL: ") + what + (cond || !detail ? "" : " -- " + detail));
  if (!cond) failures++;
}

const results = JSON.parse(readFileSync(process.env.KV_RESULTS, "utf8"));
const browser = await chromium.launch({
  executablePath: process.env.KV_CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const outside = [];
  await page.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith("file://")) return route.continue();
    outside.push(url);
    return route.abort();
  });
  await page.goto("file://" + process.env.KV_REPORT);
  const rows = await page.$$eval("#variants tbody tr", (trs) => trs.map((t) => t.dataset.name));
  const names = results.variants.map((v) => v.name);
  check(rows.length === names.length, `one table row per variant (${rows.length} of ${names.length})`);
  check(JSON.stringify(rows) === JSON.stringify(names), "rows in results.json's order", rows.join(","));
  const picked = await page.$$eval("#variants tr.pick", (trs) => trs.map((t) => t.dataset.name));
  check(JSON.stringify(picked) === JSON.stringify(results.pick ? [results.pick] : []),
    "the pick's row is marked", picked.join(","));
  for (const id of ["plot-kld", "plot-tg", "plot-sens"]) {
    const info = await page.evaluate((id) => {
      const svg = document.querySelector(`#${id} svg`);
      if (!svg) return null;
      const r = svg.getBoundingClientRect();
      return { w: r.width, h: r.height, marks: svg.querySelectorAll("path, use, circle, rect").length,
               text: svg.textContent };
    }, id);
    check(info !== null, `${id}: inline svg present`);
    if (!info) continue;
    check(info.w > 200 && info.h > 200, `${id}: drawn ${Math.round(info.w)}x${Math.round(info.h)}`);
    check(info.marks > names.length, `${id}: ${info.marks} marks`);
    if (id !== "plot-sens")
      for (const n of names) check(info.text.includes(n), `${id}: labels ${n}`);
  }
  const recipe = await page.textContent("#recipe");
  check(recipe.includes("passes:") && recipe.includes("type: quantize"), "recipe shown");
  const machine = await page.textContent("#machine");
  check(/GB\/s/.test(machine), "machine bandwidth shown");
  check(outside.length === 0, "nothing fetched from outside the file", outside.join(" "));
  await page.screenshot({ path: process.env.KV_SHOT, fullPage: true });
} finally {
  await browser.close();
}
process.exit(failures ? 1 : 0);
