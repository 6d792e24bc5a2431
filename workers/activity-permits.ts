// The shared GPU queue's activity task permits (a Temporal custom slot supplier): one per slot, less the slots that
// gang nodes hold or have reserved on this worker's own queue. Without it the shared worker would keep polling
// for a task its busy slot cannot run, and a single-node step could wait here while another worker is free.
import type { ActivitySlotInfo, CustomSlotSupplier, SlotPermit } from '@temporalio/worker';
import type { SlotAllocator } from '../activities/trainer/slots.js';

export function sharedQueuePermits(slots: SlotAllocator): CustomSlotSupplier<ActivitySlotInfo> & { readonly issued: number } {
  let issued = 0;
  const waiters: (() => void)[] = [];
  const capacity = () => slots.slots.length - slots.gangSlots;
  const wake = () => {
    while (waiters.length > 0 && issued < capacity()) {
      issued++;
      waiters.shift()!();
    }
  };
  slots.onChange(wake);
  return {
    type: 'custom',
    get issued() { return issued; },
    reserveSlot(_ctx, abortSignal): Promise<SlotPermit> {
      if (issued < capacity() && waiters.length === 0) {
        issued++;
        return Promise.resolve({});
      }
      return new Promise((resolve, reject) => {
        const w = () => resolve({});
        waiters.push(w);
        abortSignal.addEventListener('abort', () => {
          const i = waiters.indexOf(w);
          if (i < 0) return; // already issued: the SDK releases it
          waiters.splice(i, 1);
          // The signal's own reason: the SDK logs any other rejection of an aborted reservation as an error.
          reject(abortSignal.reason);
        }, { once: true });
      });
    },
    tryReserveSlot() {
      if (issued >= capacity()) return null;
      issued++;
      return {};
    },
    markSlotUsed() {},
    releaseSlot() {
      issued--;
      wake();
    },
  };
}
