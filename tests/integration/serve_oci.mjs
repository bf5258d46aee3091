// Drives `kvant serve --store` (KVANT_REGISTRY set to a local docker-registry)
// with the official `ollama` npm client: ollama.pull with progress (streamed),
// the pulled model listed and generating, a copy pushed with ollama.push, and a
// pull of a name the registry lacks failing. Run by test_store_oci.sh with
// KV_BASE and KV_REG (the registry's host:port); prints "ok:"/"FAIL:" lines and
// exits 1 on any failure.
import { Ollama } from "ollama";

const base = process.env.KV_BASE;
const reg = process.env.KV_REG;
const ollama = new Ollama({ host: base });
let failures = 0;
function check(cond, what, detail = "") {
  if (cond) {
    console.log("ok: " + what);
  } else {
    failures++;
    console.log("FAIL: " + what + (detail ? " -- " + detail : ""));
  }
}
const names = async () => (await ollama.list()).models.map((m) => m.name).sort();

const parts = [];
for await (const p of await ollama.pull({ model: "kjv:v1", insecure: true, stream: true }))
  parts.push(p);
const statuses = parts.map((p) => p.status);
check(statuses[0] === "pulling manifest" && statuses[statuses.length - 1] === "success",
  "ollama.pull streams 'pulling manifest' ... 'success'", JSON.stringify(statuses));
const big = parts.filter((p) => p.digest && p.total > 1000000);
check(big.length > 0 && big.some((p) => p.completed === p.total),
  "progress objects carry digest, total and completed (the GGUF's reaches its total)",
  JSON.stringify(big.slice(-2)));
check(statuses.includes("verifying sha256 digest") && statuses.includes("writing manifest"),
  "progress names verification and the manifest", JSON.stringify(statuses));
check((await names()).includes("kjv:v1"), "the pulled model is in ollama.list()",
  JSON.stringify(await names()));
const g = await ollama.generate({ model: "kjv:v1", prompt: "In the beginning",
  options: { temperature: 0, num_predict: 8, seed: 1 } });
check(g.done && g.response.length > 0, "the pulled model generates at once", JSON.stringify(g));

const once = await ollama.pull({ model: "kjv:v1", insecure: true, stream: false });
check(once.status === "success", "ollama.pull with stream:false answers one success", JSON.stringify(once));

await ollama.copy({ source: "kjv:v1", destination: "kjv:pushed" });
const pp = [];
for await (const p of await ollama.push({ model: "kjv:pushed", insecure: true, stream: true }))
  pp.push(p.status);
check(pp[pp.length - 1] === "success", "ollama.push streams to 'success'", JSON.stringify(pp));
const r = await fetch(`http://${reg}/v2/library/kjv/manifests/pushed`, {
  headers: { Accept: "application/vnd.docker.distribution.manifest.v2+json" } });
check(r.status === 200, "the registry has the pushed tag", r.status);

let err = "";
try {
  await ollama.pull({ model: "nothere:v1", insecure: true, stream: false });
} catch (e) {
  err = String(e.message || e);
}
check(/404|not found/i.test(err), "pulling a name the registry lacks fails naming it", err);
check(!(await names()).includes("nothere:v1"), "and nothing is listed for it");
process.exit(failures ? 1 : 0);
