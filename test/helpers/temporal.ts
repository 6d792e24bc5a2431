import { inject } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';

/** Connections to the run's real dev server (started by test/setup/temporal-server.ts). */
export async function connectTestServer() {
  return connectServer(inject('temporalAddress'));
}

/** Connections to a dev server at `address` (a test that starts a server of its own). */
export async function connectServer(address: string) {
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: 'default' });
  const nativeConnection = await NativeConnection.connect({ address });
  return {
    address,
    client,
    nativeConnection,
    async close() {
      await connection.close();
      await nativeConnection.close();
    },
  };
}

/** A task queue of its own for each test, so workers of different tests never steal each other's tasks. */
export function uniqueTaskQueue(prefix: string): string {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Worker options for the workflow code: the bundle built once by the global setup. */
export function workflowBundle() {
  return { workflowBundle: { codePath: inject('workflowBundlePath') } };
}
