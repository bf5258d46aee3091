// Tokenizes every line of a JSON-lines corpus with the Hugging Face `tokenizers`
// library (its Rust code through npm @anush008/tokenizers) and compares the ids
// with kvant's for the same lines (kvant tokenize --jsonl, no BOS).
//   node tokenizer_oracle.mjs NODE_MODULES TOKENIZER_JSON CORPUS_JSONL KVANT_IDS [KNOWN]
// KNOWN: comma-separated corpus line numbers where kvant follows llama.cpp rather
// than the tokenizers library; they must differ (so a change there is noticed).
// Prints the first few disagreements and "agree: N/M"; exits 1 on any other.
import fs from 'node:fs';
import { createRequire } from 'node:module';

const [mods, tokJson, corpusPath, kvPath, knownArg] = process.argv.slice(2);
const known = new Set((knownArg || '').split(',').filter((x) => x).map(Number));
const require = createRequire(mods + '/');
const { Tokenizer } = require('@anush008/tokenizers');

const corpus = fs.readFileSync(corpusPath, 'utf8').split('\n').filter((l) => l.length > 0)
  .map((l) => JSON.parse(l));
const kv = fs.readFileSync(kvPath, 'utf8').split('\n').filter((l) => l.length > 0)
  .map((l) => JSON.parse(l));
if (kv.length !== corpus.length) {
  console.log(`kvant gave ${kv.length} lines for ${corpus.length} texts`);
  process.exit(1);
}
const tok = Tokenizer.fromFile(tokJson);
const encs = await tok.encodeBatch(corpus, { addSpecialTokens: false });
let agree = 0, shown = 0, bad = 0;
for (let i = 0; i < corpus.length; i++) {
  const want = Array.from(encs[i].getIds());
  const got = kv[i];
  const same = want.length === got.length && want.every((v, k) => v === got[k]);
  agree += same ? 1 : 0;
  if (same === known.has(i + 1)) {
    bad++;
    if (same) console.log(`line ${i + 1} was expected to differ and agrees`);
  }
  if (!same && shown++ < 5) {
    console.log(`differ: line ${i + 1} ${JSON.stringify(corpus[i]).slice(0, 80)}\n` +
      `  hf:    ${JSON.stringify(want).slice(0, 160)}\n  kvant: ${JSON.stringify(got).slice(0, 160)}`);
  }
}
console.log(`agree: ${agree}/${corpus.length}` + (known.size ? ` (known to differ: ${[...known]})` : ''));
process.exit(bad === 0 ? 0 : 1);
