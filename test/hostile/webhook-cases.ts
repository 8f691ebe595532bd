// Hostile webhook deliveries: Standard Webhooks (provider `acme`) and Shopee pushes, each a valid
// signed request with one thing wrong. Built at send time: signatures carry the current time.
import { randomBytes } from "node:crypto";
import { signShopeePush } from "../../src/webhooks/verify-shopee.ts";
import { signStandardWebhook } from "../../src/webhooks/verify-standard.ts";
import { JSON_TYPE, type Field, type HostileCase } from "./cases.ts";
import { accepts, encodeJson, HOSTILE } from "./values.ts";

export interface WebhookKeys {
  key: Buffer;
  otherKey: Buffer;
  partnerKey: string;
  callbackUrl: string;
  productId: string;
  /** A webhook id already stored for `acme`. */
  storedId: string;
}

const nowS = () => Math.floor(Date.now() / 1000);

function standard(k: WebhookKeys, body: string | Uint8Array, o: { id?: string; ts?: number | string; key?: Buffer; signedBody?: string } = {}) {
  const id = o.id ?? `msg_${randomBytes(8).toString("hex")}`;
  const ts = String(o.ts ?? nowS());
  const sig = signStandardWebhook(o.key ?? k.key, id, ts, o.signedBody ?? body);
  return { ...JSON_TYPE, "webhook-id": id, "webhook-timestamp": ts, "webhook-signature": `v1,${sig}` };
}

const without = (h: Record<string, string>, name: string) => Object.fromEntries(Object.entries(h).filter(([k]) => k !== name));

export function standardWebhookCases(k: WebhookKeys): HostileCase[] {
  const valid = { type: "inventory.stock_updated", timestamp: new Date().toISOString(), data: { productId: k.productId, stock: 7 } };
  const body = JSON.stringify(valid);
  const cases: HostileCase[] = [];
  const add = (what: string, headers: Record<string, string>, expect: number[], sent: string | Uint8Array = body, path = "/webhooks/acme", inProcessOnly = false) =>
    cases.push({ name: `POST ${path} ${what}`, method: "POST", path, headers, body: sent, expect, inProcessOnly });
  const signed = standard(k, body);
  const sig = signed["webhook-signature"];

  add("without any webhook header", JSON_TYPE, [401]);
  for (const h of ["webhook-id", "webhook-timestamp", "webhook-signature"]) add(`without ${h}`, without(standard(k, body), h), [401]);
  for (const h of ["webhook-id", "webhook-timestamp", "webhook-signature"]) add(`with an empty ${h}`, { ...standard(k, body), [h]: "" }, [401]);
  add("with a forged signature", { ...signed, "webhook-signature": `v1,${randomBytes(32).toString("base64")}` }, [401]);
  add("signed with another provider's secret", standard(k, body, { key: k.otherKey }), [401]);
  add("signed with an empty secret", standard(k, body, { key: Buffer.alloc(0) }), [401]);
  add("with a signature of another body", standard(k, body, { signedBody: body.replace('"stock":7', '"stock":8') }), [401]);
  add("with captured headers and another body", signed, [401], body.replace('"stock":7', '"stock":9999'));
  add("with captured headers and the body re-serialised", signed, [401], JSON.stringify(valid, null, 1));
  add("with captured headers and a trailing newline", signed, [401], `${body}\n`);
  add("re-using the stored id with another, unsigned body", { ...signed, "webhook-id": k.storedId }, [401]);
  for (const [what, ts] of [["stale by 6 min", nowS() - 360], ["from 6 min ahead", nowS() + 360], ["from 1970", 1], ["from year 33658", 999_999_999_999]] as const) {
    add(`with a timestamp ${what}`, standard(k, body, { ts }), [401]);
  }
  for (const ts of ["abc", "1e9", "-1", ` ${nowS()}`, `${nowS()}.5`, new Date().toISOString(), String(Date.now()), "0x10", "9".repeat(40), "NaN"]) {
    add(`with webhook-timestamp ${JSON.stringify(ts.slice(0, 20))} (signed)`, standard(k, body, { ts }), [401]);
  }
  for (const [what, value] of [
    ["v1 with nothing", "v1,"], ["no comma", "v1"], ["not base64", "v1,!!!!"], ["v2 only", sig.replace("v1,", "v2,")], ["upper-case version", sig.replace("v1,", "V1,")],
    ["truncated", sig.slice(0, -4)], ["two wrong entries", `v1,${randomBytes(32).toString("base64")} v1,abc`], ["only spaces", "     "],
    ["signature in hex", `v1,${Buffer.from(sig.slice(3), "base64").toString("hex")}`], ["comma only", ","],
  ] as const) add(`with webhook-signature ${what}`, { ...signed, "webhook-signature": value }, [401]);
  add("with a 10 kB signature header", { ...signed, "webhook-signature": `v1,${"A".repeat(10_000)}` }, [401]);
  add("with a 1 MB signature header of many entries", { ...signed, "webhook-signature": Array.from({ length: 20_000 }, () => `v1,${randomBytes(32).toString("base64")}`).join(" ") }, [401], body, "/webhooks/acme", true);
  for (const id of ["msg with spaces", "m".repeat(256), "a\tb"]) add(`with webhook-id ${JSON.stringify(id.slice(0, 20))} (signed)`, standard(k, body, { id }), [400]);
  // A server may decode a Latin-1 header byte differently from the signer: refused either way.
  add('with webhook-id "café" (signed)', standard(k, body, { id: "caf\u00e9" }), [400, 401]);
  for (const p of ["nobody", "ACME", "acme%00", "x".repeat(200), "%2e%2e", "acme%20"]) add("to an unknown provider", standard(k, body), [404], body, `/webhooks/${p}`);

  // Signed correctly, but the body itself is wrong.
  const fields: Field[] = [
    { path: ["type"], kind: { type: "line", max: 200 } },
    { path: ["data", "productId"], kind: { type: "uuid" } },
    { path: ["data", "stock"], kind: { type: "int", min: 0, max: 2_147_483_647 } },
  ];
  for (const f of fields) {
    for (const h of HOSTILE.filter((x) => !accepts(f.kind, x.value))) {
      const copy = structuredClone(valid) as Record<string, any>;
      if (f.path.length === 1) copy[f.path[0]!] = h.value;
      else copy[f.path[0]!][f.path[1]!] = h.value;
      const sent = encodeJson(copy);
      add(`signed, ${f.path.join(".")}=${h.label}`, standard(k, sent), [400], sent);
    }
  }
  for (const [what, sent] of [["empty", ""], ["not JSON", "{"], ["an array", "[]"], ["null", "null"], ["NaN", '{"type": NaN}'], ["BOM", `\uFEFF${body}`], ["without data", '{"type":"payment.succeeded"}'], ["a NUL", '{"type":"x","data":"\\u0000"}'], ["deep", `{"type":"x","data":${"[".repeat(1000)}${"]".repeat(1000)}}`]] as const) {
    add(`signed, body ${what}`, standard(k, sent), [400], sent);
  }
  // Signed over the exact bytes: a server that decodes before verifying sees other text than was signed.
  for (const [what, sent] of [
    ["a BOM (bytes)", Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(body)])], ["not UTF-8", Buffer.concat([Buffer.from(body.slice(0, -2)), Buffer.from([0xff, 0xfe]), Buffer.from("}}")])],
    ["UTF-16", Buffer.from(body, "utf16le")], ["an overlong UTF-8 slash", Buffer.concat([Buffer.from('{"type":"a'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')])],
  ] as const) add(`signed, body ${what}`, standard(k, sent), [400], sent);
  add("signed, body over 1 MiB", standard(k, "x"), [413], `{"type":"x","data":"${"d".repeat(1024 * 1024)}"}`);
  return cases;
}

export function shopeeCases(k: WebhookKeys): HostileCase[] {
  const push = (o: Record<string, unknown> = {}) => JSON.stringify({ code: 3, shop_id: 600001, timestamp: nowS(), data: { ordersn: "2401010ABCDEF" }, ...o });
  const sign = (body: string, key = k.partnerKey, url = k.callbackUrl) => signShopeePush(key, url, body);
  const body = push();
  const cases: HostileCase[] = [];
  const add = (what: string, authorization: string | undefined, expect: number[], sent = body, extra: Record<string, string> = {}) =>
    cases.push({ name: `POST /webhooks/shopee ${what}`, method: "POST", path: "/webhooks/shopee", body: sent, expect, headers: { ...JSON_TYPE, ...extra, ...(authorization === undefined ? {} : { authorization }) } });

  add("without Authorization", undefined, [401]);
  add("with an empty Authorization", "", [401]);
  add("with a forged signature", randomBytes(32).toString("hex"), [401]);
  add("signed with another partner key", sign(body, "another-partner-key"), [401]);
  add("signed for another callback URL", sign(body, k.partnerKey, "https://evil.example/webhooks/shopee"), [401]);
  add("with a signature of another body", sign(push({ code: 4 })), [401]);
  add("with a captured signature and another body", sign(body), [401], body.replace('"code":3', '"code":5'));
  add("with Bearer before the signature", `Bearer ${sign(body)}`, [401]);
  add("with a 63-character signature", sign(body).slice(0, -1), [401]);
  add("with a 65-character signature", `${sign(body)}0`, [401]);
  add("with a base64 signature", Buffer.from(sign(body), "hex").toString("base64"), [401]);
  add("with a 10 kB Authorization", "a".repeat(10_000), [401]);
  add("with Standard Webhooks headers only", undefined, [401], body, { "webhook-id": "msg_1", "webhook-timestamp": String(nowS()), "webhook-signature": `v1,${randomBytes(32).toString("base64")}` });
  for (const [what, ts] of [["stale by 10 min", nowS() - 600], ["10 min ahead", nowS() + 600], ["0", 0]] as const) {
    const sent = push({ timestamp: ts });
    add(`signed, timestamp ${what}`, sign(sent), [401], sent);
  }
  for (const [what, o] of [
    ["timestamp as a string", { timestamp: String(nowS()) }], ["timestamp 1e400", { timestamp: "__INF__" }], ["timestamp -1", { timestamp: -1 }],
    ["timestamp 1.5", { timestamp: 1.5 }], ["no timestamp", { timestamp: undefined }], ["code as a string", { code: "3" }], ["code -1", { code: -1 }],
    ["code 1e9", { code: 1e9 }], ["no code", { code: undefined }], ["code null", { code: null }],
  ] as const) {
    const sent = push(o).replace('"__INF__"', "1e400");
    add(`signed, ${what}`, sign(sent), [400], sent);
  }
  for (const [what, sent] of [["empty", ""], ["not JSON", "{"], ["an array", "[1]"], ["a NUL", '{"code":3,"timestamp":1,"x":"\\u0000"}'], ["BOM", `\uFEFF${body}`]] as const) {
    add(`signed, body ${what}`, sign(sent), [400], sent);
  }
  return cases;
}
