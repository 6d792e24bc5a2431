// A GPU worker's side of gang placement (workflows/gang-broker.ts): the broker reserves slots on the worker's own
// task queue, all of a group's at once or none, and gives them back when the round fails or the group is gone.
import type { GangReservation } from '../../contracts/gang.js';
import type { SlotAllocator } from './slots.js';

export function createGangActivities(slots: SlotAllocator) {
  return {
    /** Sets `slots` aside for one node, without waiting: a worker that is busy now answers busy. */
    async reserveGangSlots({ slots: n, ttlMs }: { slots: number; ttlMs: number }): Promise<GangReservation> {
      const r = slots.tryReserve(n, ttlMs);
      return r ? { token: r.token } : { busy: true, free: slots.available };
    },
    /** Gives an unclaimed reservation back (a failed round, or a grant its group never received). */
    async releaseGangSlots({ token }: { token: string }): Promise<boolean> {
      return slots.cancelReservation(token);
    },
  };
}
export type GangActivities = ReturnType<typeof createGangActivities>;
