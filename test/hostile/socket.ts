// Requests written straight onto a TCP socket: bytes fetch() will not send (garbage, a lying
// Content-Length), and bodies over the limit, whose early 413 a fetch() still busy writing the
// body may lose when the server closes the connection.
import { connect } from "node:net";
import type { HostileCase } from "./cases.ts";
import type { Answer } from "./check.ts";

/**
 * Writes `raw` and returns everything read until the server closes the socket, `complete` says
 * the answer is whole, or `timeoutMs` pass.
 */
export function rawExchange(
  port: number, raw: string | Buffer,
  { closeAfterWrite = false, timeoutMs = 2_000, complete = (_reply: Buffer): boolean => false } = {},
): Promise<Buffer> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    const got: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(got));
    };
    const timer = setTimeout(done, timeoutMs);
    socket.on("data", (d) => {
      got.push(Buffer.from(d));
      if (complete(Buffer.concat(got))) done();
    });
    // A server that answers and closes before reading the whole body resets the write: expected.
    socket.on("error", () => {});
    socket.on("close", done);
    socket.write(raw, () => closeAfterWrite && socket.end());
  });
}

async function bodyBytes(body: HostileCase["body"]): Promise<{ bytes: Buffer; chunked: boolean }> {
  if (body === undefined) return { bytes: Buffer.alloc(0), chunked: false };
  if (typeof body === "string") return { bytes: Buffer.from(body), chunked: false };
  if (body instanceof Uint8Array) return { bytes: Buffer.from(body), chunked: false };
  const parts: Buffer[] = [];
  for await (const part of body()) parts.push(Buffer.from(`${part.length.toString(16)}\r\n`), Buffer.from(part), Buffer.from("\r\n"));
  parts.push(Buffer.from("0\r\n\r\n"));
  return { bytes: Buffer.concat(parts), chunked: true };
}

/** Sends a case over one socket (Connection: close) and parses the HTTP/1.1 answer. */
export async function viaSocket(port: number, c: HostileCase): Promise<Answer> {
  const { bytes, chunked } = await bodyBytes(c.body);
  const headers = { ...c.headers, host: "127.0.0.1", connection: "close", ...(chunked ? { "transfer-encoding": "chunked" } : c.body === undefined ? {} : { "content-length": String(bytes.length) }) };
  const head = `${c.method} ${c.path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join("\r\n")}\r\n\r\n`;
  const reply = await rawExchange(port, Buffer.concat([Buffer.from(head, "latin1"), bytes]), { timeoutMs: 15_000, complete: isWhole });
  return parseAnswer(reply);
}

/**
 * POSTs a chunked body of `totalBytes` to `path`, written as fast as the server takes it in
 * `chunkBytes` pieces, and stops writing once the answer is whole (a client reading its 413).
 */
export function uploadChunked(port: number, path: string, totalBytes: number, chunkBytes = 64 * 1024, timeoutMs = 30_000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const got: Buffer[] = [];
    let answered = false;
    const timer = setTimeout(() => finish(new Error(`no whole answer within ${timeoutMs} ms`)), timeoutMs);
    const finish = (err?: Error) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) return reject(err);
      try {
        resolve(parseAnswer(Buffer.concat(got)));
      } catch (e) {
        reject(e);
      }
    };
    socket.on("data", (d) => {
      got.push(Buffer.from(d));
      if (isWhole(Buffer.concat(got))) finish();
    });
    socket.on("error", () => {});
    socket.on("close", () => finish(got.length ? undefined : new Error("closed without an answer")));
    socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const piece = Buffer.concat([Buffer.from(`${chunkBytes.toString(16)}\r\n`), Buffer.alloc(chunkBytes, 0x20), Buffer.from("\r\n")]);
    let sent = 0;
    const pump = () => {
      while (!answered && sent < totalBytes) {
        sent += chunkBytes;
        if (!socket.write(piece)) return void socket.once("drain", pump);
      }
      if (!answered) socket.write("0\r\n\r\n");
    };
    pump();
  });
}

/** An HTTP/1.1 answer read off a socket. */
function parseAnswer(reply: Buffer): Answer {
  const end = reply.indexOf("\r\n\r\n");
  if (end < 0) throw new Error(`no HTTP answer (${reply.length} bytes)`);
  const [statusLine, ...lines] = reply.subarray(0, end).toString("latin1").split("\r\n");
  const answerHeaders = new Headers(lines.map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1).trim()] as [string, string]));
  let body = reply.subarray(end + 4);
  if (answerHeaders.get("transfer-encoding") === "chunked") body = dechunk(body);
  return { status: Number(statusLine!.split(" ")[1]), headers: answerHeaders, text: body.toString("utf8") };
}

/** A whole HTTP/1.1 answer: headers, then Content-Length bytes or the last chunk. */
function isWhole(reply: Buffer): boolean {
  const end = reply.indexOf("\r\n\r\n");
  if (end < 0) return false;
  const head = reply.subarray(0, end).toString("latin1");
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (length) return reply.length - end - 4 >= Number(length[1]);
  return /\r\ntransfer-encoding:\s*chunked/i.test(head) ? reply.subarray(-5).toString() === "0\r\n\r\n" : false;
}

function dechunk(data: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf("\r\n", at);
    const size = parseInt(data.subarray(at, lineEnd).toString(), 16);
    if (!size) return Buffer.concat(out);
    out.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}
