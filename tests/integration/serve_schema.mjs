// Drives a kvant server (KV_BASE, model "kjv") with JSON schemas: Ollama's
// format {schema} (generate and chat, streamed and not) and OpenAI's
// response_format json_schema (chat and completions), several seeds, a batch at
// once; every reply must parse and validate under ajv (an independent
// validator, with ajv-formats). Then the openai SDK's chat.completions.parse()
// with a zod schema through zodResponseFormat must return a parsed object that
// zod itself accepts. Prints "ok: ..." per check; exits non-zero on a failure.
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { z } from 'zod';

const BASE = process.env.KV_BASE;
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
let failed = 0;
const ok = (m) => console.log(`ok: ${m}`);
const fail = (m) => { failed++; console.log(`FAIL: ${m}`); };

const SCHEMAS = {
  // nested object with required, enum, an array of integers, anyOf
  record: {
    type: 'object',
    properties: {
      name: { type: 'string', maxLength: 16 },
      kind: { enum: ['psalm', 'proverb', 'law'] },
      verses: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 176 }, minItems: 1, maxItems: 4 },
      place: {
        type: 'object',
        properties: { city: { type: 'string', maxLength: 12 }, near: { type: 'boolean' } },
        required: ['city', 'near'],
        additionalProperties: false,
      },
      extra: { anyOf: [{ type: 'null' }, { type: 'integer', minimum: 0, maximum: 9 }, { type: 'string', maxLength: 4 }] },
    },
    required: ['name', 'kind', 'verses', 'place', 'extra'],
    additionalProperties: false,
  },
  // recursion through $defs, the way zod-to-json-schema writes it
  tree: {
    $defs: {
      node: {
        type: 'object',
        properties: {
          v: { type: 'integer', minimum: -9, maximum: 9 },
          kids: { type: 'array', items: { $ref: '#/$defs/node' }, maxItems: 1 },
        },
        required: ['v', 'kids'],
        additionalProperties: false,
      },
    },
    $ref: '#/$defs/node',
  },
  // formats, number bounds, const, a top-level array
  dated: {
    type: 'array',
    minItems: 1,
    maxItems: 2,
    items: {
      type: 'object',
      properties: {
        day: { type: 'string', format: 'date' },
        at: { type: 'string', format: 'date-time' },
        id: { type: 'string', format: 'uuid' },
        score: { type: 'number', minimum: 0, maximum: 1 },
        tag: { const: 'kjv' },
      },
      required: ['day', 'at', 'id', 'score', 'tag'],
      additionalProperties: false,
    },
  },
};

async function post(path, body) {
  const r = await fetch(BASE + path, { method: 'POST', body: JSON.stringify(body) });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`${path}: HTTP ${r.status}: ${text}`);
  return text;
}

// The reply text of an Ollama or OpenAI answer, streamed (NDJSON / SSE) or not.
function replyText(api, stream, body) {
  if (!stream) {
    const v = JSON.parse(body);
    if (api === 'generate') return [v.response, v.done_reason];
    if (api === 'chat') return [v.message.content, v.done_reason];
    const c = v.choices[0];
    return [c.message ? c.message.content : c.text, c.finish_reason];
  }
  let text = '';
  let reason = null;
  for (const line of body.split('\n')) {
    if (api === 'generate' || api === 'chat') {
      if (!line.trim()) continue;
      const v = JSON.parse(line);
      text += api === 'generate' ? v.response : v.message.content;
      if (v.done) reason = v.done_reason;
    } else if (line.startsWith('data: ') && line !== 'data: [DONE]') {
      const c = JSON.parse(line.slice(6)).choices[0];
      if (!c) continue;
      text += (c.delta ? c.delta.content : c.text) || '';
      if (c.finish_reason) reason = c.finish_reason;
    }
  }
  return [text, reason];
}

function request(api, schema, seed, stream) {
  const msgs = [{ role: 'user', content: 'Answer in JSON.' }];
  switch (api) {
    case 'generate':
      return ['/api/generate', { model: 'kjv', prompt: 'And God said', format: schema, stream, options: { seed, num_predict: 900 } }];
    case 'chat':
      return ['/api/chat', { model: 'kjv', messages: msgs, format: schema, stream, options: { seed, num_predict: 900 } }];
    case 'oai-chat':
      return ['/v1/chat/completions', { model: 'kjv', messages: msgs, seed, max_tokens: 900, stream,
        response_format: { type: 'json_schema', json_schema: { name: 'x', strict: true, schema } } }];
    default:
      return ['/v1/completions', { model: 'kjv', prompt: 'And God said', seed, max_tokens: 900, stream,
        response_format: { type: 'json_schema', json_schema: { name: 'x', schema } } }];
  }
}

async function check(name, api, seed, stream) {
  const schema = SCHEMAS[name];
  const desc = `${api} ${name} seed ${seed}${stream ? ' streamed' : ''}`;
  try {
    const [path, body] = request(api, schema, seed, stream);
    const [text, reason] = replyText(api, stream, await post(path, body));
    if (reason !== 'stop') return fail(`${desc}: stopped for ${reason}: ${text}`);
    let v;
    try { v = JSON.parse(text); } catch (e) { return fail(`${desc}: not JSON: ${text}`); }
    const validate = ajv.compile(schema);
    if (!validate(v)) return fail(`${desc}: ${ajv.errorsText(validate.errors)}: ${text}`);
    ok(`${desc}: ${JSON.stringify(v).slice(0, 90)}`);
  } catch (e) {
    fail(`${desc}: ${e.message}`);
  }
}

const APIS = ['generate', 'chat', 'oai-chat', 'oai-complete'];
let seed = 1;
for (const name of Object.keys(SCHEMAS))
  for (const api of APIS) {
    await check(name, api, seed, false);
    await check(name, api, seed + 100, true);
    seed++;
  }
// a batch at once: the slots' matchers stay apart
await Promise.all([1, 2, 3, 4].map((i) => check(['record', 'tree', 'dated', 'record'][i - 1], 'oai-chat', 40 + i, i % 2 === 0)));

// ---- the openai SDK's parse() with zod ----
const client = new OpenAI({ baseURL: `${BASE}/v1`, apiKey: 'unused' });
const Verse = z.object({
  book: z.enum(['Genesis', 'Exodus', 'Psalms']),
  chapter: z.number().int().min(1).max(150),
  verses: z.array(z.number().int().min(1).max(99)).max(3),
  source: z.union([z.object({ kind: z.literal('scroll'), rolls: z.number().int().min(0).max(9) }),
    z.object({ kind: z.literal('oral') })]),
  note: z.string().max(20).nullable(),
  canon: z.boolean(),
  read: z.string().date(),
});
for (const s of [1, 2, 3]) {
  try {
    const c = await client.chat.completions.parse({
      model: 'kjv', seed: s, max_tokens: 900,
      messages: [{ role: 'user', content: 'Which verse is it? Answer in JSON.' }],
      response_format: zodResponseFormat(Verse, 'verse'),
    });
    const parsed = c.choices[0].message.parsed;
    if (!parsed) { fail(`zod parse seed ${s}: no parsed object: ${JSON.stringify(c.choices[0])}`); continue; }
    Verse.parse(parsed); // zod agrees
    ok(`zod parse seed ${s}: ${JSON.stringify(parsed)}`);
  } catch (e) {
    fail(`zod parse seed ${s}: ${e.message}`);
  }
}
process.exit(failed ? 1 : 0);
