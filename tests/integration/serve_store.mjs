// Drives `kvant serve --store` with the official `ollama` npm client: uploads the
// GGUF file as a blob (fetch: the 0.6.4 client has no blob call), creates a
// model from it with ollama.create({model, files}), streamed and not, creates
// one `from` it with a system prompt and parameters, copies and deletes, and
// checks /api/tags, /api/show and generation follow each change without a
// restart. Run by test_serve_store.sh with KV_BASE and KV_GGUF; prints
// "ok:"/"FAIL:" lines and exits 1 on any failure.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { Ollama } from "ollama";

const base = process.env.KV_BASE;
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
const GREEDY = { temperature: 0, num_predict: 12, seed: 1 };

const bytes = readFileSync(process.env.KV_GGUF);
const digest = "sha256:" + createHash("sha256").update(bytes).digest("hex");

let r = await fetch(`${base}/api/blobs/${digest}`, { method: "HEAD" });
check(r.status === 404, "HEAD /api/blobs before the upload is 404", r.status);
r = await fetch(`${base}/api/blobs/${digest}`, { method: "POST", body: bytes });
check(r.status === 201, "POST /api/blobs stores the GGUF (201)", r.status);
r = await fetch(`${base}/api/blobs/${digest}`, { method: "HEAD" });
check(r.status === 200, "HEAD /api/blobs after the upload is 200", r.status);

// create from the uploaded blob, not streamed (the client's default)
const res = await ollama.create({ model: "made", files: { "kjv.gguf": digest } });
check(res.status === "success", "ollama.create({model, files}) succeeds", JSON.stringify(res));
check((await names()).includes("made:latest"), "the created model is in ollama.list()");
const g1 = await ollama.generate({ model: "made", prompt: "In the beginning", options: GREEDY });
check(g1.done && g1.response.length > 0, "the created model generates at once", JSON.stringify(g1));

// streamed: progress lines ending in success
const statuses = [];
for await (const p of await ollama.create({ model: "made2:v1", files: { "kjv.gguf": digest }, stream: true }))
  statuses.push(p.status);
check(statuses[statuses.length - 1] === "success" && statuses.includes("writing manifest"),
      "a streamed create sends status lines ending in success", JSON.stringify(statuses));

// from an existing model, with a system prompt, template and parameters
const res2 = await ollama.create({
  model: "terse", from: "made", system: "You are terse.",
  parameters: { temperature: 0.25, stop: ["END", "<s>"] }, license: "public domain",
});
check(res2.status === "success", "ollama.create({model, from, system, parameters})");
const sh = await ollama.show({ model: "terse" });
check(sh.details && sh.details.family === "llama", "ollama.show of the new model", JSON.stringify(sh.details));
check(sh.model_info && Object.keys(sh.model_info).length > 0, "show has model_info");
// the store's own layers, as Ollama's ShowResponse has them
check(sh.system === "You are terse.", "show's system is the store's system layer", sh.system);
check(sh.license === "public domain", "show's license is the store's license layer", sh.license);
check(/^temperature +0\.25$/m.test(sh.parameters) && /^stop +"END"$/m.test(sh.parameters) &&
      /^stop +"<s>"$/m.test(sh.parameters),
      "show's parameters are Ollama's KEY VALUE lines (one per stop)", JSON.stringify(sh.parameters));
check(sh.modelfile.includes('SYSTEM """You are terse."""') && /^FROM \/.*\/blobs\/sha256-[0-9a-f]{64}$/m.test(sh.modelfile) &&
      sh.modelfile.includes('PARAMETER temperature 0.25'),
      "show's modelfile is the store model's (FROM its blob, SYSTEM, PARAMETER)", sh.modelfile);
check(typeof sh.template === "string" && !isNaN(Date.parse(sh.modified_at)),
      "show has template and modified_at", JSON.stringify([sh.template, sh.modified_at]));

// copy, then delete the source: the copy still serves
await ollama.copy({ source: "made", destination: "copied:x" });
check((await names()).includes("copied:x"), "ollama.copy: the copy is listed");
await ollama.delete({ model: "made" });
const after = await names();
check(!after.includes("made:latest") && after.includes("copied:x"),
      "ollama.delete removes the model from the list, the copy stays", JSON.stringify(after));
const g2 = await ollama.generate({ model: "copied:x", prompt: "In the beginning", options: GREEDY });
check(g2.response === g1.response, "the copy generates what the original did (greedy)",
      JSON.stringify([g1.response, g2.response]));
let err = "";
try { await ollama.show({ model: "made" }); } catch (e) { err = String(e); }
check(/not found|no model|unknown/i.test(err), "show of the deleted model fails", err);
err = "";
try { await ollama.delete({ model: "made" }); } catch (e) { err = String(e); }
check(err !== "", "deleting it again fails", err);
err = "";
try { await ollama.copy({ source: "nothere", destination: "x" }); } catch (e) { err = String(e); }
check(/not found/i.test(err), "copying a missing model fails naming it", err);
err = "";
try { await ollama.create({ model: "bad", from: "nothere" }); } catch (e) { err = String(e); }
check(/nothere/.test(err), "create from a missing model fails naming it", err);

// re-create a deleted name: served again
await ollama.create({ model: "made", from: "copied:x" });
check((await names()).includes("made:latest"), "a deleted name can be created again");

process.exit(failures ? 1 : 0);
