import type { Sql } from "../db.ts";

export type CancelResult = "cancelled" | "published" | "not_found";

/**
 * Cancels an event not yet published (a delayed event before it is due): its outbox row is
 * deleted, so it is never published. A row the relay is publishing right now is waited for and
 * then found published. `published` once any handler may have it.
 */
export async function cancelEvent(sql: Sql, id: string): Promise<CancelResult> {
  return sql.begin(async (tx) => {
    const [row] = await tx<{ published: boolean }[]>`select published_at is not null as published from outbox where id = ${id} for update`;
    if (!row) return "not_found";
    if (row.published) return "published";
    await tx`delete from outbox where id = ${id}`;
    return "cancelled";
  });
}
