// The reference side of test_template_oracle.sh: renders each template over
// each conversation with @huggingface/jinja, as transformers.js applies chat
// templates, and writes the expected bytes (NAME.I.GEN.out) or the error
// (NAME.I.GEN.err) into OUT, plus each conversation as conv.I.json.
//   node jinja_oracle.mjs TEMPLATES.json CONVERSATIONS.json OUT NOW
// TEMPLATES.json: [{name, path, bos?, eos?}]; a path ending in .json is a
// tokenizer_config.json (chat_template a string or a list with "default";
// bos_token/eos_token a string or {content}).
import { readFileSync, writeFileSync } from "node:fs";
import { Template } from "@huggingface/jinja";

const [templatesPath, convsPath, out, nowArg] = process.argv.slice(2);
const now = new Date(Number(nowArg) * 1000);

// strftime_now() is a built-in of @huggingface/jinja that formats `new Date()`
// in local time: the clock stops at NOW (and the caller sets TZ=UTC), as
// kvant's --now does.
const RealDate = Date;
globalThis.Date = class extends RealDate {
  constructor(...args) {
    super(...(args.length ? args : [now.getTime()]));
  }
  static now() {
    return now.getTime();
  }
};

const token = (v) => (v && typeof v === "object" ? v.content : v);

function load(t) {
  if (!t.path.endsWith(".json")) return { src: readFileSync(t.path, "utf8"), bos: t.bos, eos: t.eos };
  const cfg = JSON.parse(readFileSync(t.path, "utf8"));
  let src = cfg.chat_template;
  if (Array.isArray(src)) src = src.find((e) => e.name === "default")?.template;
  return { src, bos: t.bos ?? token(cfg.bos_token), eos: t.eos ?? token(cfg.eos_token) };
}

const templates = JSON.parse(readFileSync(templatesPath, "utf8"));
const convs = JSON.parse(readFileSync(convsPath, "utf8"));
convs.forEach((c, i) => writeFileSync(`${out}/conv.${i}.json`, JSON.stringify(c.messages)));
for (const t of templates) {
  const { src, bos, eos } = load(t);
  const tmpl = new Template(src);
  convs.forEach((c, i) => {
    for (const gen of [0, 1]) {
      const base = `${out}/${t.name}.${i}.${gen}`;
      try {
        const text = tmpl.render({
          messages: c.messages, add_generation_prompt: gen === 1,
          bos_token: bos ?? "", eos_token: eos ?? "",
        });
        writeFileSync(`${base}.out`, text);
      } catch (e) {
        writeFileSync(`${base}.err`, String(e.message));
      }
    }
  });
}
