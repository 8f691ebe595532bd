// The Redis client the service uses: no command may stay pending forever, and after one is lost
// the connection starts over, so no later reply is paired with the wrong command.
import { afterEach, expect, test } from "bun:test";
import { createRedis } from "../src/engine/index.ts";
import { killPrivateRedis, privateRedis } from "./support/private-redis.ts";

afterEach(() => killPrivateRedis());

test("a command without a reply fails with a timeout instead of hanging, and the client then answers each command correctly", async () => {
  const server = await privateRedis();
  await server.start();
  const admin = createRedis(server.url);
  const redis = createRedis(server.url, 300);
  await Promise.all([admin.connect(), redis.connect()]);
  await redis.set("k", "before");

  // The server holds every write for 2 s: from the client's side, the command is lost.
  await admin.call("CLIENT", "PAUSE", "2000", "WRITE");
  const stuck = await redis.set("k", "during").then(() => "answered", (err: Error) => err.message);
  expect(stuck).toBe("Command timed out");

  await Bun.sleep(2_200);
  // Each reply belongs to its own command (the client reconnected after the timeout).
  const [a, b, c] = await Promise.all([redis.set("x", "1"), redis.get("x"), redis.incr("n")]);
  expect([a, b, c]).toEqual(["OK", "1", 1]);
  redis.disconnect();
  admin.disconnect();
});

test("a command in flight when the connection drops fails at once, not after the command timeout, and the client reconnects", async () => {
  const server = await privateRedis();
  await server.start();
  const admin = createRedis(server.url);
  const redis = createRedis(server.url, 60_000);
  await Promise.all([admin.connect(), redis.connect()]);
  const id = Number(await redis.client("ID"));

  // Blocks forever: only the dropped connection can end it.
  const inFlight = redis.blpop("never-filled", 0).then(() => "answered", (err: Error) => err.message);
  await Bun.sleep(100);
  await admin.client("KILL", "ID", String(id));
  const outcome = await Promise.race([inFlight, Bun.sleep(3_000).then(() => "still pending")]);
  expect(outcome).toBe("Connection is closed.");

  expect(await redis.set("k", "after")).toBe("OK");
  expect(await redis.get("k")).toBe("after");
  redis.disconnect();
  admin.disconnect();
});
