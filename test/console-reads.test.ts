// The fleet page reads machines from the consumer-name keys' holders: host first, pid fourth.
import { expect, test } from "bun:test";
import { hostname } from "node:os";
import { PROCESS_IDENTITY } from "../src/engine/delivery/consumer-identity.ts";

test("a consumer name's holder starts with the host and has the pid fourth, as the fleet page reads it", () => {
  const parts = `${PROCESS_IDENTITY}|token`.split("|");
  expect(parts).toHaveLength(5);
  expect(parts[0]).toBe(hostname());
  expect(Number(parts[3])).toBe(process.pid);
});
