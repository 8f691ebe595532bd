// The console reads the engine's Redis keys without the engine exporting them (src/console/reads/
// redis-shapes.ts): these checks fail the moment the two layouts drift apart.
import { expect, test } from "bun:test";
import { hostname } from "node:os";
import { engineKeys } from "../src/console/reads/redis-shapes.ts";
import { PROCESS_IDENTITY } from "../src/engine/delivery/consumer-identity.ts";
import { keys } from "../src/engine/redis/keys.ts";

test("the console's copy of the engine's key layout names the same keys as the engine", () => {
  expect(engineKeys.stream("p", "order.created")).toBe(keys.stream("p", "order.created"));
  expect(engineKeys.consumerName("p", "machine-1")).toBe(keys.consumerName("p", "machine-1"));
  expect(engineKeys.consumerNamePattern("p").replace("*", "machine-1")).toBe(keys.consumerName("p", "machine-1"));
  expect(engineKeys.failures("p", "inventory", "order.created")).toBe(keys.failures("p", "inventory", "order.created"));
  expect(engineKeys.epoch("p")).toBe(keys.epoch("p"));
});

test("a consumer name's holder starts with the host and has the pid fourth, as the fleet page reads it", () => {
  const parts = `${PROCESS_IDENTITY}|token`.split("|");
  expect(parts).toHaveLength(5);
  expect(parts[0]).toBe(hostname());
  expect(Number(parts[3])).toBe(process.pid);
});
